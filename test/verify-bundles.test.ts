/**
 * Discovery and cryptographic verification of Sigstore bundle referrers (no policy yet), with
 * real signatures: key-signed bundles on an OCI layout, and keyless ones from the offline
 * Fulcio/Rekor/TSA stand-ins (Rekor `intoto` entries: the mock stores dsse entries verbatim).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  MemoryStore,
  ModelshipError,
  OciLayoutStore,
  attachBundle,
  copyGraph,
  discoverBundles,
  discoverReferrers,
  generateKeyPair,
  keySetup,
  keylessSetup,
  loadPrivateKey,
  pack,
  signArtifact,
  signStatement,
  signatureStatement,
  trustMaterial,
  verifyBundle,
  type ContentStore,
  type Descriptor,
  type LoadedKey,
  type SerializedBundleJson,
  type VerificationTrust,
} from '@modelship/core';
import {
  GITHUB_ACTIONS_ISSUER,
  STANDIN_WORKFLOW_SAN,
  startSigstoreStandins,
  type SigstoreStandins,
} from './helpers/sigstore.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
const NAME = 'oci:model';
const OTHER_DIGEST = `sha256:${'cd'.repeat(32)}`;

let store: OciLayoutStore;
let subject: Descriptor;
let key: LoadedKey;
let keyTrust: VerificationTrust;

async function newLayout(name: string): Promise<{ store: OciLayoutStore; subject: Descriptor }> {
  const s = await OciLayoutStore.open(join(tmp.dir, name), { create: true });
  const r = await pack({ dir: copySample(tmp.dir, `${name}-model`), target: s, tags: ['v1'], cache: null });
  return { store: s, subject: r.descriptor };
}

/** A copy of `roots` (with their referrers) in a memory store, whose listings a test can then rewrite. */
async function inMemory(from: ContentStore, ...roots: Descriptor[]): Promise<MemoryStore> {
  const mem = new MemoryStore();
  for (const root of roots) await copyGraph(from, mem, root);
  return mem;
}

beforeAll(async () => {
  ({ store, subject } = await newLayout('layout'));
  const pair = generateKeyPair();
  key = await loadPrivateKey({ pem: pair.privateKeyPem });
  keyTrust = await trustMaterial({ publicKeys: [{ pem: pair.publicKeyPem }] });
});
afterAll(async () => {
  await store?.close();
  tmp.cleanup();
});

describe('key-signed bundles on an OCI layout', () => {
  let signed: Awaited<ReturnType<typeof signArtifact>>;
  beforeAll(async () => {
    signed = await signArtifact({ store, reference: 'v1', name: NAME, setup: await keySetup(key) });
  });

  test('discovery finds the bundle and it verifies with the public key', async () => {
    const { bundles, rejected } = await discoverReferrers(store, subject);
    expect(rejected).toEqual([]);
    const found = bundles.find((b) => b.referrer.digest === signed.referrer.digest);
    expect(found).toBeDefined();
    expect(found!.bundleDigest).toBe(signed.bundleDescriptor.digest);
    const v = verifyBundle(found!.bundle, subject.digest, keyTrust);
    expect(v).toMatchObject({
      ok: true,
      predicateType: COSIGN_SIGN_PREDICATE_TYPE,
      signer: { kind: 'key', subject: `key:${key.hint}`, keyHint: key.hint, extensions: {} },
    });
  });

  test('a different public key does not verify it', async () => {
    const other = generateKeyPair();
    const trust = await trustMaterial({ publicKeys: [{ pem: other.publicKeyPem }] });
    const v = verifyBundle(signed.bundle, subject.digest, trust);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(/no trusted public key.*PUBLIC_KEY_ERROR/);
  });

  test('the right bundle checked against another artifact digest fails', () => {
    const v = verifyBundle(signed.bundle, OTHER_DIGEST, keyTrust);
    expect(v).toEqual({ ok: false, reason: 'statement is about another digest' });
  });

  test('a tampered bundle (flipped signature byte) attached as a referrer does not verify', async () => {
    const tampered = JSON.parse(JSON.stringify(signed.bundle)) as SerializedBundleJson;
    const sig = Buffer.from(tampered.dsseEnvelope!.signatures[0]!.sig, 'base64');
    sig[sig.length - 1] ^= 0x01;
    tampered.dsseEnvelope!.signatures[0]!.sig = sig.toString('base64');
    const att = await attachBundle(store, subject, tampered, COSIGN_SIGN_PREDICATE_TYPE);
    const found = (await discoverBundles(store, subject)).find((b) => b.bundleDigest === att.bundle.digest);
    expect(found).toBeDefined();
    const v = verifyBundle(found!.bundle, subject.digest, keyTrust);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(/SIGNATURE_ERROR/);
  });

  test('a tampered statement (payload changed, signature kept) does not verify', () => {
    const tampered = JSON.parse(JSON.stringify(signed.bundle)) as SerializedBundleJson;
    const st = JSON.parse(Buffer.from(tampered.dsseEnvelope!.payload, 'base64').toString('utf8')) as {
      predicateType: string;
    };
    st.predicateType = 'https://slsa.dev/provenance/v1';
    tampered.dsseEnvelope!.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    const v = verifyBundle(tampered, subject.digest, keyTrust);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(/SIGNATURE_ERROR/);
  });

  test('a validly signed bundle about another digest, attached to this subject, is "another digest"', async () => {
    const bundle = await signStatement(signatureStatement(NAME, OTHER_DIGEST), await keySetup(key));
    const att = await attachBundle(store, subject, bundle, COSIGN_SIGN_PREDICATE_TYPE);
    const found = (await discoverBundles(store, subject)).find((b) => b.bundleDigest === att.bundle.digest);
    expect(found).toBeDefined();
    expect(verifyBundle(found!.bundle, subject.digest, keyTrust)).toEqual({
      ok: false,
      reason: 'statement is about another digest',
    });
  });

  test('a referrer manifest for another subject, listed among this subject’s referrers, is rejected', async () => {
    // A bad fallback index (or a lying registry) lists a referrer whose manifest names another subject.
    const other: Descriptor = { mediaType: subject.mediaType, digest: OTHER_DIGEST, size: 123 };
    const bundle = await signStatement(signatureStatement(NAME, OTHER_DIGEST), await keySetup(key));
    const att = await attachBundle(store, other, bundle, COSIGN_SIGN_PREDICATE_TYPE);
    // Index entries carry the wrong artifactType / annotations: discovery must not trust them.
    const listed: Descriptor = { ...att.referrer, artifactType: 'application/vnd.oci.empty.v1+json', annotations: {} };
    const lying = await inMemory(store, subject, att.referrer);
    lying.setReferrers(subject, [...(await lying.referrers(subject)), listed]);
    const { bundles, rejected } = await discoverReferrers(lying, subject);
    expect(rejected).toEqual([{ referrer: listed, reason: 'referrer for another digest' }]);
    expect(bundles.some((b) => b.referrer.digest === att.referrer.digest)).toBe(false);
    expect(bundles.length).toBeGreaterThanOrEqual(3);
  });

  test('a referrer listed with a wrong artifactType is still found; non-bundle referrers are skipped', async () => {
    const sbom = Buffer.from('{"spdxVersion":"SPDX-2.3"}');
    const { sha256Digest, OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST } = await import('@modelship/core');
    const layer: Descriptor = { mediaType: 'application/spdx+json', digest: sha256Digest(sbom), size: sbom.length };
    await store.push(layer, sbom);
    await store.push({ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }, Buffer.from('{}'));
    const m = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/spdx+json',
        config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
        layers: [layer],
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      }),
    );
    const desc: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(m), size: m.length };
    await store.push(desc, m);
    expect((await store.referrers(subject)).some((r) => r.digest === desc.digest)).toBe(true);
    const wrongType = await inMemory(store, subject);
    wrongType.setReferrers(
      subject,
      (await wrongType.referrers(subject)).map((r) => ({ ...r, artifactType: 'application/vnd.oci.empty.v1+json' })),
    );
    const { bundles, rejected } = await discoverReferrers(wrongType, subject);
    expect(rejected).toEqual([]);
    expect(bundles.some((b) => b.referrer.digest === signed.referrer.digest)).toBe(true);
    expect(bundles.some((b) => b.referrer.digest === desc.digest)).toBe(false);
  });
});

describe('trust material', () => {
  test('neither a trusted root nor a key is a USAGE error', async () => {
    await expect(trustMaterial({})).rejects.toMatchObject({
      code: 'USAGE',
      message: /trusted_root\.json or a public key/,
    });
    await expect(trustMaterial({})).rejects.toBeInstanceOf(ModelshipError);
  });

  test('a private key instead of a public key is refused', async () => {
    await expect(trustMaterial({ publicKeys: [{ pem: generateKeyPair().privateKeyPem }] })).rejects.toMatchObject({
      code: 'INPUT',
    });
  });

  test('a trusted root file that does not exist is INPUT', async () => {
    await expect(trustMaterial({ trustedRootPath: join(tmp.dir, 'nope.json') })).rejects.toMatchObject({
      code: 'INPUT',
    });
  });
});

describe('keyless bundles from the Sigstore stand-ins', () => {
  let s: SigstoreStandins;
  let other: SigstoreStandins;
  beforeAll(async () => {
    s = await startSigstoreStandins();
    other = await startSigstoreStandins();
  });
  afterAll(async () => {
    await s?.stop();
    await other?.stop();
  });

  const setup = (tlog = true) =>
    keylessSetup({
      fulcioURL: s.fulcioURL,
      rekorURL: s.rekorURL,
      tsaURL: s.tsaURL,
      tlog,
      rekorEntryType: 'intoto',
      identityToken: s.oidc.issueToken(),
      retries: 0,
      timeoutMs: 5000,
    });

  test('Rekor + TSA bundle verifies; signer SAN, issuer and Fulcio extensions come back', async () => {
    const signed = await signArtifact({ store, reference: 'v1', name: NAME, setup: await setup() });
    expect(signed.tlogEntries.length).toBe(1);
    const found = (await discoverBundles(store, subject)).find((b) => b.referrer.digest === signed.referrer.digest);
    expect(found).toBeDefined();
    const v = verifyBundle(found!.bundle, subject.digest, await trustMaterial({ trustedRoot: s.trustedRoot }));
    if (!v.ok) throw new Error(v.reason);
    expect(v.signer).toMatchObject({ kind: 'keyless', subject: STANDIN_WORKFLOW_SAN, issuer: GITHUB_ACTIONS_ISSUER });
    expect(v.signer.keyHint).toBeUndefined();
    expect(v.signer.extensions).toMatchObject({
      sourceRepositoryURI: 'https://github.com/acme/models',
      sourceRepositoryRef: 'refs/heads/main',
      runnerEnvironment: 'github-hosted',
      buildTrigger: 'push',
      buildSignerURI: STANDIN_WORKFLOW_SAN,
      sourceRepositoryVisibilityAtSigning: 'public',
    });
    expect(v.statement.subject[0]!.digest['sha256']).toBe(subject.digest.slice('sha256:'.length));
  });

  test('TSA-only bundle (GitHub private-instance shape): verifies against a root without a log, not one with a log', async () => {
    const signed = await signArtifact({ store, reference: 'v1', name: NAME, setup: await setup(false) });
    expect(signed.tlogEntries).toEqual([]);
    expect(signed.timestamps).toBe(1);
    // GitHub's private instance: Fulcio + TSA, no transparency log in the trusted root.
    const noLog = await trustMaterial({ trustedRoot: { ...s.trustedRoot, tlogs: [] } });
    const v = verifyBundle(signed.bundle, subject.digest, noLog);
    if (!v.ok) throw new Error(v.reason);
    expect(v.signer.subject).toBe(STANDIN_WORKFLOW_SAN);
    // The root has a log: the bundle cannot opt out of it by carrying a timestamp instead…
    const withLog = await trustMaterial({ trustedRoot: s.trustedRoot });
    expect(verifyBundle(signed.bundle, subject.digest, withLog)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^no transparency log entry, but the trusted root has a transparency log/),
    });
    // …unless the caller (policy trust.requireTlog: false) relaxes it.
    expect(verifyBundle(signed.bundle, subject.digest, withLog, { requireTlog: false })).toMatchObject({ ok: true });
  });

  test('a keyless bundle checked against another trusted root fails', async () => {
    const signed = await signArtifact({ store, reference: 'v1', name: NAME, setup: await setup() });
    const v = verifyBundle(signed.bundle, subject.digest, await trustMaterial({ trustedRoot: other.trustedRoot }));
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.reason).toMatch(/_ERROR/);
  });

  test('a keyless bundle with only public keys as trust is refused', async () => {
    const signed = await signArtifact({ store, reference: 'v1', name: NAME, setup: await setup(false) });
    const v = verifyBundle(signed.bundle, subject.digest, keyTrust);
    expect(v).toEqual({ ok: false, reason: 'keyless bundle, but no trusted root was given (only public keys)' });
  });

  test('a keyless bundle about another digest is "another digest"', async () => {
    const bundle = await signStatement(signatureStatement(NAME, OTHER_DIGEST), await setup());
    const v = verifyBundle(bundle, subject.digest, await trustMaterial({ trustedRoot: s.trustedRoot }));
    expect(v).toEqual({ ok: false, reason: 'statement is about another digest' });
  });
});
