/**
 * Notation (Notary Project) signatures, end to end: a root CA, an intermediate and code-signing
 * leaves made with openssl, `modelship sign --format notation` through the built CLI on an OCI
 * layout and on the real docker-registry, the envelope and referrer checked field by field
 * against the specification (notaryproject/specifications at d4b62b9: specs/
 * signature-specification.md, signature-envelope-jws.md, trust-store-trust-policy.md), the JWS
 * checked with `jose` (an independent JOSE implementation), and `modelship verify` refusing what
 * Notation's trust policy at level strict refuses, each with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlattenedSign, flattenedVerify } from 'jose';
import {
  NOTATION_ARTIFACT_TYPE,
  OciLayoutStore,
  RegistryStore,
  attachNotationSignature,
  signNotation,
  type ContentStore,
  type Descriptor,
  type Manifest,
} from '@modelship/core';
import { packSample, runCli, type CliRun } from './helpers/cli.js';
import { TestPki, type Issued, type KeySpec } from './helpers/pki.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
let reg: TestRegistry;
const pki = new TestPki(join(tmp.dir, 'pki'));
const LEAF_DN = 'C=US, ST=WA, O=acme, CN=release';
let root: Issued;
let intermediate: Issued;
let leaf: Issued;
let chain: string;
/** A second, unrelated PKI with the same names: the wrong chain. */
let otherRoot: Issued;
let otherChain: string;
let otherLeaf: Issued;

beforeAll(async () => {
  reg = await startRegistry();
  root = pki.root('root', 'C=US, ST=WA, O=acme, CN=acme root');
  intermediate = pki.issue(root, 'intermediate', 'C=US, ST=WA, O=acme, CN=acme signing CA', { ext: 'intermediate' });
  leaf = pki.issue(intermediate, 'leaf', LEAF_DN);
  chain = pki.bundle('chain.pem', [leaf, intermediate, root]);
  otherRoot = pki.root('other-root', 'C=US, ST=WA, O=acme, CN=acme root');
  const otherInt = pki.issue(otherRoot, 'other-intermediate', 'C=US, ST=WA, O=acme, CN=acme signing CA', {
    ext: 'intermediate',
  });
  otherLeaf = pki.issue(otherInt, 'other-leaf', LEAF_DN);
  otherChain = pki.bundle('other-chain.pem', [otherLeaf, otherInt, otherRoot]);
}, 120_000);
afterAll(async () => {
  await reg?.cleanup();
  tmp.cleanup();
});

let files = 0;
function policy(signers: string[], minSignatures = 1): string {
  const p = join(tmp.dir, `policy-${++files}.yaml`);
  writeFileSync(
    p,
    `version: 1\nsigners:\n${signers.map((s) => `  - ${s}\n`).join('')}minSignatures: ${minSignatures}\n`,
  );
  return p;
}
const notationSigner = (trustStore: string, identities: string[] = [`x509.subject: ${LEAF_DN}`]): string =>
  `notation: { trustStore: ${trustStore}, identities: ${JSON.stringify(identities)} }`;

interface BundleRow {
  referrer: string;
  bundle: string;
  verified: boolean;
  trusted: boolean;
  format?: string;
  reason?: string;
  predicateType?: string;
  signer?: { kind: string; subject: string; issuer?: string };
}
interface Report {
  ok: boolean;
  checks: { rule: string; ok: boolean; detail: string }[];
  bundles: BundleRow[];
}

async function verify(ref: string, policyPath: string): Promise<{ run: CliRun; report: Report }> {
  const run = await runCli(['verify', ref, '--policy', policyPath, '--plain-http', '--json']);
  expect([0, 9]).toContain(run.status);
  return { run, report: JSON.parse(run.stdout) as Report };
}

async function signCli(ref: string, key: string, cert: string, extra: string[] = []): Promise<CliRun> {
  return runCli([
    'sign',
    ref,
    '--format',
    'notation',
    '--key',
    key,
    '--cert',
    cert,
    '--plain-http',
    '--json',
    ...extra,
  ]);
}

async function mustSign(ref: string, signer: Issued = leaf, cert = chain, extra: string[] = []): Promise<SignJson> {
  const r = await signCli(ref, signer.key, cert, extra);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as SignJson;
}
interface SignJson {
  digest: string;
  format: string;
  envelopeDigest: string;
  referrerDigest: string;
  algorithm: string;
  signingTime: string;
  expiry?: string;
  signer: { kind: string; subject: string; issuer: string; thumbprints: string[] };
}

async function layout(name: string, extra: string[] = []): Promise<{ dir: string; digest: string; ref: string }> {
  const dir = join(tmp.dir, name);
  const digest = await packSample(tmp.dir, `oci:${dir}:v1`, extra);
  return { dir, digest, ref: `oci:${dir}@${digest}` };
}

function der(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const b64url = (s: string): Buffer => Buffer.from(s, 'base64url');

/** The Notation referrer manifests of `digest` in `store`, read back. */
async function notationReferrers(
  store: ContentStore,
  digest: string,
): Promise<{ desc: Descriptor; manifest: Manifest }[]> {
  const subject = await store.resolve(digest);
  const out: { desc: Descriptor; manifest: Manifest }[] = [];
  for (const d of await store.referrers(subject)) {
    const manifest = JSON.parse((await store.fetchBytes(d, 1 << 20)).toString()) as Manifest;
    if (manifest.artifactType === NOTATION_ARTIFACT_TYPE) out.push({ desc: d, manifest });
  }
  return out;
}

function minSignatures(r: Report): { ok: boolean; detail: string } {
  const c = r.checks.find((x) => x.rule === 'minSignatures')!;
  return { ok: c.ok, detail: c.detail };
}

const notationRows = (r: Report): BundleRow[] => r.bundles.filter((b) => b.format === 'notation');

/** The envelope bytes of the Notation signature `envelopeDigest` on `digest`. */
async function envelopeBytes(store: ContentStore, digest: string, envelopeDigest: string): Promise<Buffer> {
  const found = (await notationReferrers(store, digest)).find((r) => r.manifest.layers[0]?.digest === envelopeDigest);
  expect(found).toBeDefined();
  return store.fetchBytes(found!.manifest.layers[0]!, 1 << 20);
}

describe('sign --format notation writes what the Notary Project specification and notation sign write', () => {
  it('OCI layout: the referrer manifest, the JWS envelope and its headers, field by field; jose verifies the JWS', async () => {
    const { dir, digest, ref } = await layout('fields');
    const before = Math.floor(Date.now() / 1000) * 1000;
    const out = await mustSign(ref, leaf, chain, ['--expiry', '30d', '-a', 'io.acme.build=42']);
    expect(out).toMatchObject({
      digest,
      format: 'notation',
      algorithm: 'ES256',
      signer: { kind: 'notation', subject: LEAF_DN },
    });

    const store = await OciLayoutStore.open(dir);
    try {
      const subject = await store.resolve(digest);
      const [found, ...more] = await notationReferrers(store, digest);
      expect(more).toEqual([]);
      expect(found!.desc.digest).toBe(out.referrerDigest);
      const m = found!.manifest;
      const chainDer = [leaf, intermediate, root].map((c) => der(c.pem));
      // signature-specification.md, "OCI Signatures": the manifest properties.
      expect(m).toEqual({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.cncf.notary.signature',
        // With artifactType the config is the empty descriptor (oras-go writes its data too).
        config: {
          mediaType: 'application/vnd.oci.empty.v1+json',
          digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
          size: 2,
          data: 'e30=',
        },
        // Exactly one layer, the envelope, application/jose+json.
        layers: [{ mediaType: 'application/jose+json', digest: out.envelopeDigest, size: expect.any(Number) }],
        subject: { mediaType: subject.mediaType, digest, size: subject.size },
        annotations: {
          // SHA-256 of each certificate of the x5c chain, in order, as a JSON array string.
          'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(chainDer.map(sha256)),
          'org.opencontainers.image.created': out.signingTime,
        },
      });
      const bytes = await store.fetchBytes(m.layers[0]!, 1 << 20);
      expect(`sha256:${sha256(bytes)}`).toBe(out.envelopeDigest);
      const env = JSON.parse(bytes.toString()) as Record<string, unknown> & {
        payload: string;
        protected: string;
        signature: string;
        header: Record<string, unknown>;
      };
      // signature-envelope-jws.md, "Signature Envelope": flattened JWS JSON, no other top-level fields.
      expect(Object.keys(env).sort()).toEqual(['header', 'payload', 'protected', 'signature']);
      // Unprotected headers: x5c (standard base64 DER, leaf first, root last) and the signing agent.
      expect(env.header).toEqual({
        x5c: chainDer.map((d) => d.toString('base64')),
        'io.cncf.notary.signingAgent': expect.stringMatching(/^modelship\/\d+\.\d+\.\d+/),
      });
      // Protected headers: alg (from the key: P-256 -> ES256), cty, the notary.x509 scheme, the
      // signing time (RFC 3339, no fraction), the expiry, and crit naming the scheme and the expiry.
      const header = JSON.parse(b64url(env.protected).toString()) as Record<string, unknown>;
      expect(header).toEqual({
        alg: 'ES256',
        cty: 'application/vnd.cncf.notary.payload.v1+json',
        'io.cncf.notary.signingScheme': 'notary.x509',
        'io.cncf.notary.signingTime': out.signingTime,
        'io.cncf.notary.expiry': out.expiry,
        crit: ['io.cncf.notary.signingScheme', 'io.cncf.notary.expiry'],
      });
      expect(out.signingTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      const signedAt = Date.parse(out.signingTime);
      expect(signedAt).toBeGreaterThanOrEqual(before);
      expect(signedAt).toBeLessThanOrEqual(Date.now());
      expect(Date.parse(out.expiry!) - signedAt).toBe(30 * 86400 * 1000);
      // The payload: the target descriptor (mediaType, digest, size) and the user metadata.
      expect(JSON.parse(b64url(env.payload).toString())).toEqual({
        targetArtifact: {
          mediaType: subject.mediaType,
          digest,
          size: subject.size,
          annotations: { 'io.acme.build': '42' },
        },
      });

      // jose: the JWS verifies with the leaf certificate's key, with crit understood.
      const verified = await flattenedVerify(env, new X509Certificate(leaf.pem).publicKey, {
        algorithms: ['ES256'],
        crit: { 'io.cncf.notary.signingScheme': true, 'io.cncf.notary.expiry': true },
      });
      expect(verified.protectedHeader).toEqual(header);
      expect(JSON.parse(Buffer.from(verified.payload).toString())).toMatchObject({ targetArtifact: { digest } });
      // ... and not with another key.
      await expect(
        flattenedVerify(env, new X509Certificate(otherLeaf.pem).publicKey, {
          crit: { 'io.cncf.notary.signingScheme': true, 'io.cncf.notary.expiry': true },
        }),
      ).rejects.toThrow(/signature verification failed/);
    } finally {
      await store.close();
    }

    // And modelship verify trusts it: the row names the leaf subject.
    const { run, report } = await verify(ref, policy([notationSigner(root.cert)]));
    expect(run.status).toBe(0);
    expect(minSignatures(report)).toEqual({
      ok: true,
      detail: '1 distinct trusted signer(s) (1 signature bundle(s)), policy requires 1',
    });
    expect(notationRows(report)).toEqual([
      expect.objectContaining({
        referrer: out.referrerDigest,
        bundle: out.envelopeDigest,
        predicateType: NOTATION_ARTIFACT_TYPE,
        verified: true,
        trusted: true,
        signer: expect.objectContaining({
          kind: 'notation',
          subject: LEAF_DN,
          issuer: 'C=US, ST=WA, O=acme, CN=acme signing CA',
        }),
      }),
    ]);
    const text = await runCli(['verify', ref, '--policy', policy([notationSigner(root.cert)])]);
    expect(text.stdout).toContain(`trusted  ${NOTATION_ARTIFACT_TYPE} ${LEAF_DN}`);
  });

  it('each key type signs with the algorithm of the spec’s key table, and jose and modelship verify each', async () => {
    const table: [KeySpec, string][] = [
      ['rsa-2048', 'PS256'],
      ['rsa-3072', 'PS384'],
      ['rsa-4096', 'PS512'],
      ['ec-p256', 'ES256'],
      ['ec-p384', 'ES384'],
      ['ec-p521', 'ES512'],
    ];
    const { dir, digest, ref } = await layout('algorithms');
    const seen: string[] = [];
    for (const [spec, alg] of table) {
      const signer = pki.issue(intermediate, `leaf-${spec}`, `C=US, ST=WA, O=acme, CN=${spec}`, { spec });
      const out = await mustSign(ref, signer, pki.bundle(`chain-${spec}.pem`, [signer, intermediate, root]));
      expect(out.algorithm).toBe(alg);
      seen.push(out.envelopeDigest);
      const store = await OciLayoutStore.open(dir);
      let env: Parameters<typeof flattenedVerify>[0];
      try {
        env = JSON.parse((await envelopeBytes(store, digest, out.envelopeDigest)).toString()) as typeof env;
      } finally {
        await store.close();
      }
      const v = await flattenedVerify(env, new X509Certificate(signer.pem).publicKey, {
        algorithms: [alg],
        crit: { 'io.cncf.notary.signingScheme': true },
      });
      expect(v.protectedHeader?.alg).toBe(alg);
    }
    const identities = table.map(([spec]) => `x509.subject: C=US, ST=WA, O=acme, CN=${spec}`);
    const { run, report } = await verify(ref, policy([notationSigner(root.cert, identities)]));
    expect(run.status).toBe(0);
    expect(
      notationRows(report)
        .filter((b) => b.trusted)
        .map((b) => b.bundle)
        .sort(),
    ).toEqual([...seen].sort());
    expect(minSignatures(report).detail).toBe(
      '6 distinct trusted signer(s) (6 signature bundle(s)), policy requires 1',
    );
  }, 120_000);

  it('registry: a valid signature verifies through the CLI, and promote carries it to another repository', async () => {
    const digest = await packSample(tmp.dir, `${reg.host}/acme/notation:v1`);
    const ref = `${reg.host}/acme/notation@${digest}`;
    const out = await mustSign(ref);
    const store = new RegistryStore({ registry: reg.host, repository: 'acme/notation', plainHttp: true });
    try {
      const [found] = await notationReferrers(store, digest);
      expect(found!.desc).toMatchObject({ digest: out.referrerDigest, artifactType: NOTATION_ARTIFACT_TYPE });
    } finally {
      await store.close();
    }
    const p = policy([notationSigner(root.cert)]);
    const { run, report } = await verify(ref, p);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(notationRows(report)).toEqual([
      expect.objectContaining({ trusted: true, signer: expect.objectContaining({ subject: LEAF_DN }) }),
    ]);

    const dest = `${reg.host}/acme/notation-prod:v1`;
    const promoted = await runCli(['promote', ref, dest, '--policy', p, '--no-record', '--plain-http', '--json']);
    expect(promoted.stderr).toBe('');
    expect(promoted.status).toBe(0);
    const atDest = await verify(`${reg.host}/acme/notation-prod@${digest}`, p);
    expect(atDest.run.status).toBe(0);
    expect(notationRows(atDest.report)).toEqual([
      expect.objectContaining({ referrer: out.referrerDigest, bundle: out.envelopeDigest, trusted: true }),
    ]);
  });

  it('refuses, before anything is attached, what cannot make a Notation signature', async () => {
    const { dir, ref } = await layout('refusals');
    const noRoot = pki.bundle('no-root.pem', [leaf, intermediate]);
    const serverAuth = pki.issue(intermediate, 'server-auth', 'C=US, ST=WA, O=acme, CN=web', {
      ext: 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    });
    const cases: [string[], number, RegExp][] = [
      [['--key', leaf.key], 2, /a Notation signature needs --key and --cert/],
      [['--key', leaf.key, '--cert', chain, '--no-tlog'], 2, /--no-tlog is for Sigstore signatures, not Notation ones/],
      [
        ['--key', leaf.key, '--cert', noRoot],
        3,
        /the chain ends with "C=US, ST=WA, O=acme, CN=acme signing CA", which is not a self-signed root/,
      ],
      [
        ['--key', otherLeaf.key, '--cert', chain],
        3,
        /the private key does not belong to the first certificate of the chain \("C=US, ST=WA, O=acme, CN=release"\)/,
      ],
      [
        ['--key', serverAuth.key, '--cert', pki.bundle('server-auth.pem', [serverAuth, intermediate, root])],
        3,
        /leaf certificate "C=US, ST=WA, O=acme, CN=web" is not a code-signing certificate: its extended key usage has serverAuth \(and not codeSigning\)/,
      ],
      [['--key', leaf.key, '--cert', chain, '--expiry', 'soon'], 2, /--expiry "soon" is not a duration/],
      [
        ['--key', leaf.key, '--cert', chain, '-a', 'io.cncf.notary.verificationPlugin=x'],
        2,
        /annotation io\.cncf\.notary\.verificationPlugin uses the prefix io\.cncf\.notary, which the Notary Project reserves/,
      ],
    ];
    for (const [args, status, message] of cases) {
      const r = await runCli(['sign', ref, '--format', 'notation', ...args]);
      expect(r.stderr).toMatch(message);
      expect(r.status).toBe(status);
    }
    const sigstoreWithCert = await runCli(['sign', ref, '--key', leaf.key, '--cert', chain, '--no-tlog']);
    expect(sigstoreWithCert.stderr).toMatch(/--cert is for Notation signatures/);
    expect(sigstoreWithCert.status).toBe(2);
    const store = await OciLayoutStore.open(dir);
    try {
      expect(await store.referrers(await store.resolve('v1'))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

/** A Notation envelope made with jose, for chains modelship's signer refuses to sign with. */
async function joseEnvelope(
  signer: Issued,
  chainCerts: Issued[],
  subject: Descriptor,
  signingTime: Date,
): Promise<Buffer> {
  const payload = Buffer.from(
    JSON.stringify({ targetArtifact: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } }),
  );
  const jws = await new FlattenedSign(payload)
    .setProtectedHeader({
      alg: 'ES256',
      cty: 'application/vnd.cncf.notary.payload.v1+json',
      crit: ['io.cncf.notary.signingScheme'],
      'io.cncf.notary.signingScheme': 'notary.x509',
      'io.cncf.notary.signingTime': signingTime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    })
    .setUnprotectedHeader({ x5c: chainCerts.map((c) => der(c.pem).toString('base64')) })
    .sign(createPrivateKey(readFileSync(signer.key)), { crit: { 'io.cncf.notary.signingScheme': true } });
  return Buffer.from(JSON.stringify(jws));
}

describe('verify refuses what Notation’s trust policy (level strict) refuses, with the reason', () => {
  async function onlyRow(ref: string, p: string): Promise<BundleRow> {
    const { run, report } = await verify(ref, p);
    expect(run.status).toBe(9);
    expect(minSignatures(report).ok).toBe(false);
    const rows = notationRows(report);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.trusted).toBe(false);
    return rows[0]!;
  }

  it('a wrong chain: a leaf of another CA with the same names does not lead to the trust store', async () => {
    const { ref } = await layout('wrong-chain');
    await mustSign(ref, otherLeaf, otherChain);
    const row = await onlyRow(ref, policy([notationSigner(root.cert)]));
    expect(row.verified).toBe(true);
    expect(row.reason).toBe(
      `signer ${LEAF_DN} is not trusted by the policy: the notation signer at line 3: the certificate chain does not lead to a certificate in trust store ${root.cert} (authenticity)`,
    );
    // The other CA's root does trust it.
    expect((await verify(ref, policy([notationSigner(otherRoot.cert)]))).run.status).toBe(0);
  });

  it('an expired leaf: every certificate must be valid at verification time (no trusted timestamp)', async () => {
    const { dir, ref } = await layout('expired');
    // A CA that was already there in 2019, and a leaf valid through 2020 only.
    const oldRoot = pki.root('old-root', 'C=US, ST=WA, O=acme, CN=acme 2019 root', {
      start: '20190101000000Z',
      end: '20390101000000Z',
    });
    const oldCa = pki.issue(oldRoot, 'old-ca', 'C=US, ST=WA, O=acme, CN=acme 2019 CA', {
      ext: 'intermediate',
      start: '20190101000000Z',
      end: '20390101000000Z',
    });
    const expired = pki.issue(oldCa, 'expired', LEAF_DN, { start: '20200101000000Z', end: '20210101000000Z' });
    const expiredChain = { path: pki.bundle('expired-chain.pem', [expired, oldCa, oldRoot]) };
    const store = await OciLayoutStore.open(dir);
    try {
      // Signed while it was valid: the signer checks validity at the signing time, and refuses now.
      await signNotation({
        store,
        reference: 'v1',
        key: { path: expired.key },
        certChain: expiredChain,
        signingTime: new Date('2020-06-01T00:00:00Z'),
      });
      await expect(
        signNotation({ store, reference: 'v1', key: { path: expired.key }, certChain: expiredChain }),
      ).rejects.toThrow(
        /was not valid at signing time .*: it is valid from 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z/,
      );
    } finally {
      await store.close();
    }
    const row = await onlyRow(ref, policy([notationSigner(oldRoot.cert)]));
    expect(row.verified).toBe(false);
    expect(row.reason).toBe(
      `certificate "${LEAF_DN}" expired at 2021-01-01T00:00:00Z (without a trusted timestamp every certificate of the chain must be valid at verification time)`,
    );
  });

  it('a tampered payload: the signature no longer verifies', async () => {
    const { dir, digest, ref } = await layout('tampered');
    const out = await mustSign(ref);
    const store = await OciLayoutStore.open(dir);
    try {
      const subject = await store.resolve(digest);
      const env = JSON.parse((await envelopeBytes(store, digest, out.envelopeDigest)).toString()) as {
        payload: string;
      };
      const payload = JSON.parse(b64url(env.payload).toString()) as { targetArtifact: Record<string, unknown> };
      payload.targetArtifact['annotations'] = { 'io.acme.approved': 'true' };
      env.payload = Buffer.from(JSON.stringify(payload)).toString('base64url');
      // A second referrer with the changed envelope; the original stays and is trusted.
      await attachNotationSignature(
        store,
        subject,
        Buffer.from(JSON.stringify(env)),
        out.signer.thumbprints,
        new Date(),
      );
    } finally {
      await store.close();
    }
    const { run, report } = await verify(ref, policy([notationSigner(root.cert)], 2));
    expect(run.status).toBe(9);
    const rows = notationRows(report);
    expect(rows.filter((b) => b.trusted)).toHaveLength(1);
    const tampered = rows.find((b) => !b.trusted)!;
    expect(tampered.verified).toBe(false);
    expect(tampered.reason).toBe(
      "signature does not verify with the signing certificate's key (integrity: the payload or its headers were changed)",
    );
  });

  it('a signature over another digest, attached to this artifact', async () => {
    const a = await layout('digest-a');
    const out = await mustSign(a.ref);
    const b = await layout('digest-b', ['--model-version', '2']);
    expect(b.digest).not.toBe(a.digest);
    const storeA = await OciLayoutStore.open(a.dir);
    const storeB = await OciLayoutStore.open(b.dir);
    try {
      const bytes = await envelopeBytes(storeA, a.digest, out.envelopeDigest);
      await attachNotationSignature(storeB, await storeB.resolve(b.digest), bytes, out.signer.thumbprints, new Date());
    } finally {
      await storeA.close();
      await storeB.close();
    }
    const row = await onlyRow(b.ref, policy([notationSigner(root.cert)]));
    expect(row.verified).toBe(false);
    expect(row.reason).toBe(`the signature is for another artifact: it signs ${a.digest}, not ${b.digest}`);
  });

  it('a leaf without the codeSigning extended key usage (serverAuth instead), signed by jose', async () => {
    const { dir, digest, ref } = await layout('server-auth');
    const web = pki.issue(intermediate, 'web', LEAF_DN, {
      ext: 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
    });
    const store = await OciLayoutStore.open(dir);
    try {
      const subject = await store.resolve(digest);
      const now = new Date();
      const chainCerts = [web, intermediate, root];
      const bytes = await joseEnvelope(web, chainCerts, subject, now);
      await attachNotationSignature(
        store,
        subject,
        bytes,
        chainCerts.map((c) => sha256(der(c.pem))),
        now,
      );
    } finally {
      await store.close();
    }
    const row = await onlyRow(ref, policy([notationSigner(root.cert)]));
    expect(row.verified).toBe(false);
    expect(row.reason).toBe(
      `invalid certificate chain: leaf certificate "${LEAF_DN}" is not a code-signing certificate: its extended key usage has serverAuth (and not codeSigning), which the Notary Project specification forbids`,
    );
  });

  it('an identity outside the policy; partial DNs and S for ST match as Notation matches them', async () => {
    const { ref } = await layout('identities');
    await mustSign(ref);
    const outside = await onlyRow(
      ref,
      policy([notationSigner(root.cert, ['x509.subject: C=US, ST=WA, O=acme, CN=intruder'])]),
    );
    expect(outside.verified).toBe(true);
    expect(outside.reason).toBe(
      `signer ${LEAF_DN} is not trusted by the policy: the notation signer at line 3: the signing certificate's subject matches none of its trusted identities (x509.subject: C=US, ST=WA, O=acme, CN=intruder)`,
    );
    // Values compare exactly: another case is another identity.
    await onlyRow(ref, policy([notationSigner(root.cert, ['x509.subject: C=US, ST=WA, O=ACME'])]));
    for (const identities of [
      ['x509.subject: C=US, S=WA, O=acme'],
      ['x509.subject:C=US,ST=WA,O=acme,CN=release'],
      ['*'],
    ])
      expect((await verify(ref, policy([notationSigner(root.cert, identities)]))).run.status).toBe(0);
  });

  it('a trust store that is a directory of CA certificates (a Notation named store) works; a leaf in it is refused', async () => {
    const { ref } = await layout('store-dir');
    await mustSign(ref);
    const storeDir = join(tmp.dir, 'truststore-ca');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(storeDir);
    copyFileSync(otherRoot.cert, join(storeDir, 'other.pem'));
    copyFileSync(root.cert, join(storeDir, 'acme.crt'));
    expect((await verify(ref, policy([notationSigner(storeDir)]))).run.status).toBe(0);
    copyFileSync(leaf.cert, join(storeDir, 'leaf.pem'));
    const r = await runCli(['verify', ref, '--policy', policy([notationSigner(storeDir)])]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(
      /policy-\d+\.yaml:3: trust store .*leaf\.pem: certificate "C=US, ST=WA, O=acme, CN=release" is neither a CA nor self-signed/,
    );
  });
});

describe('minSignatures counts a Notation signer as a distinct signer', () => {
  it('one Sigstore key and one Notation certificate are 2 signers; the same key in both formats is 1', async () => {
    const { ref } = await layout('two-formats');
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const cosignKey = join(tmp.dir, 'cosign.key');
    const cosignPub = join(tmp.dir, 'cosign.pub');
    writeFileSync(cosignKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(cosignPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const two = policy([`key: { path: ${cosignPub} }`, notationSigner(root.cert)], 2);
    expect((await runCli(['sign', ref, '--key', cosignKey, '--no-tlog'])).status).toBe(0);
    expect((await verify(ref, two)).run.status).toBe(9);
    await mustSign(ref);
    const { run, report } = await verify(ref, two);
    expect(run.status).toBe(0);
    expect(minSignatures(report)).toEqual({
      ok: true,
      detail: '2 distinct trusted signer(s) (2 signature bundle(s)), policy requires 2',
    });

    // The Notation leaf's own key used for a Sigstore signature as well: one signer, not two.
    const same = await layout('same-key');
    const leafPub = join(tmp.dir, 'leaf.pub');
    writeFileSync(leafPub, new X509Certificate(leaf.pem).publicKey.export({ type: 'spki', format: 'pem' }));
    expect((await runCli(['sign', same.ref, '--key', leaf.key, '--no-tlog'])).status).toBe(0);
    await mustSign(same.ref);
    const one = await verify(same.ref, policy([`key: { path: ${leafPub} }`, notationSigner(root.cert)], 2));
    expect(one.run.status).toBe(9);
    expect(minSignatures(one.report).detail).toBe(
      '1 distinct trusted signer(s) (2 signature bundle(s)), policy requires 2',
    );
    // A renewed certificate (same subject, same CA, new key) is the same signer too.
    const renewed = pki.issue(intermediate, 'renewed', LEAF_DN);
    await mustSign(same.ref, renewed, pki.bundle('renewed.pem', [renewed, intermediate, root]));
    const still = await verify(same.ref, policy([notationSigner(root.cert)], 2));
    expect(minSignatures(still.report).detail).toBe(
      '1 distinct trusted signer(s) (2 signature bundle(s)), policy requires 2',
    );
  });
});
