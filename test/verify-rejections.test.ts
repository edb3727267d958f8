/**
 * `modelship verify` rejections through the CLI, against the real docker-registry (no referrers
 * API: the `sha256-<hex>` fallback index is what an attacker with push access can edit) and
 * keyless signatures from the Sigstore stand-ins. Each case must exit 9 and name the rule that
 * failed and, for a bundle, why it was not counted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import {
  MOF_PREDICATE_TYPE,
  OciLayoutStore,
  RegistryStore,
  attachBundle,
  discoverBundles,
  referrersFallbackTag,
  sha256Digest,
  trustMaterial,
  type ContentStore,
  type Descriptor,
  type Index,
  type SerializedBundleJson,
} from '@modelship/core';
import { packSample, runCli, type CliRun } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
const GOOD_SIGNER =
  'github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }';
const SLSA = 'https://slsa.dev/provenance/v1';
const MOF = MOF_PREDICATE_TYPE;

let reg: TestRegistry;
let si: SigstoreStandins;
let root: string;

beforeAll(async () => {
  reg = await startRegistry();
  si = await startSigstoreStandins();
  root = join(tmp.dir, 'trusted_root.json');
  writeFileSync(root, JSON.stringify(si.trustedRoot));
});
afterAll(async () => {
  await si?.stop();
  await reg?.cleanup();
  tmp.cleanup();
});

let policies = 0;
function policy(body = '', signer = GOOD_SIGNER): string {
  const p = join(tmp.dir, `policy-${++policies}.yaml`);
  writeFileSync(p, `version: 1\nsigners:\n  - ${signer}\n${body}trust:\n  trustedRoot: ${root}\n`);
  return p;
}

/** Packs the sample into `<registry>/<repo>:v1` and returns `<registry>/<repo>@<digest>`. */
async function pushModel(repo: string, packArgs: string[] = []): Promise<string> {
  return `${reg.host}/${repo}@${await packSample(tmp.dir, `${reg.host}/${repo}:v1`, packArgs)}`;
}

/** Keyless `sign` or `attest` through the CLI with a stand-in token (no Actions environment). */
function keyless(
  args: string[],
  opts: { standins?: SigstoreStandins; claims?: Record<string, unknown> } = {},
): Promise<CliRun> {
  return keylessCli(opts.standins ?? si, args, {
    ...(opts.claims ? { claims: opts.claims } : {}),
    extra: ['--plain-http'],
  });
}

async function mustSucceed(run: Promise<CliRun>): Promise<void> {
  const r = await run;
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

function verify(ref: string, policyPath: string, extra: string[] = []): Promise<CliRun> {
  return runCli(['verify', ref, '--policy', policyPath, '--plain-http', ...extra]);
}

function expectRejected(r: CliRun, rules: string[], bundleReasons: RegExp[]): void {
  expect(r.status).toBe(9);
  for (const rule of rules) expect(r.stdout).toMatch(new RegExp(`^ {2}FAIL ${rule.replace(/\./g, '\\.')}: `, 'm'));
  for (const reason of bundleReasons) expect(r.stdout).toMatch(reason);
  expect(r.stderr).toMatch(/error: .* does not meet /);
}

/** A store on the repository of `<registry>/<repo>@<digest>` (as pushModel returns), and the digest. */
function registryStore(ref: string): { store: RegistryStore; digest: string } {
  const [name, digest] = ref.slice(reg.host.length + 1).split('@') as [string, string];
  return { store: new RegistryStore({ registry: reg.host, repository: name, plainHttp: true }), digest };
}

/** The fallback referrers index of `subject`, rewritten by `edit` and pushed back under its tag. */
async function editFallbackIndex(
  store: ContentStore,
  subject: string,
  edit: (manifests: Descriptor[]) => Descriptor[],
): Promise<void> {
  const tag = referrersFallbackTag(subject);
  const index = JSON.parse((await store.fetchBytes(await store.resolve(tag))).toString()) as Index;
  const bytes = Buffer.from(JSON.stringify({ ...index, manifests: edit(index.manifests) }));
  const desc: Descriptor = {
    mediaType: index.mediaType ?? 'application/vnd.oci.image.index.v1+json',
    digest: sha256Digest(bytes),
    size: bytes.length,
  };
  await store.push(desc, bytes);
  await store.tag(desc, tag);
}

/**
 * Shows why the certificate was refused: the log and TSA times fall outside its validity window
 * (@sigstore/verify reports "Failed to verify certificate chain" and keeps the reason as cause).
 */
async function expectOutsideValidity(ref: string, s: SigstoreStandins, logTimeIs: 'before' | 'after'): Promise<void> {
  const { store, digest } = registryStore(ref);
  let bundleJson: SerializedBundleJson;
  try {
    const [found] = await discoverBundles(store, await store.resolve(digest));
    bundleJson = found!.bundle as SerializedBundleJson;
  } finally {
    await store.close();
  }
  const vm = bundleJson.verificationMaterial as {
    certificate: { rawBytes: string };
    tlogEntries: { integratedTime: string }[];
  };
  const cert = new X509Certificate(Buffer.from(vm.certificate.rawBytes, 'base64'));
  const logged = Number(vm.tlogEntries[0]!.integratedTime) * 1000;
  if (logTimeIs === 'after') expect(logged).toBeGreaterThan(Date.parse(cert.validTo));
  else expect(logged).toBeLessThan(Date.parse(cert.validFrom));
  const trust = await trustMaterial({ trustedRoot: s.trustedRoot });
  let error: unknown;
  try {
    new Verifier(trust.material, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(
      toSignedEntity(bundleFromJSON(bundleJson)),
    );
  } catch (e) {
    error = e;
  }
  expect(error).toMatchObject({
    code: 'CERTIFICATE_ERROR',
    cause: { message: 'certificate is not valid or expired at the specified date' },
  });
}

describe('verify rejects, through the CLI, on a real registry with keyless signatures', () => {
  it('control: sign + attest from the trusted workflow pass the policy', async () => {
    const ref = await pushModel('acme/control');
    await mustSucceed(keyless(['sign', ref]));
    await mustSucceed(keyless(['attest', ref, '--type', 'slsa,mof']));
    const r = await verify(ref, policy(`require:\n  predicates: [${SLSA}, ${MOF}]\n  licenses: { allow: [MIT] }\n`));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^PASS /);
    expect(r.stdout.match(/^ {2}trusted /gm)).toHaveLength(3);
  });

  it('missing required predicate, MOF class too low, disallowed licence: each names its rule', async () => {
    const ref = await pushModel('acme/requirements');
    await mustSucceed(keyless(['sign', ref]));
    await mustSucceed(keyless(['attest', ref, '--type', 'mof']));
    const cases: [string, string, RegExp][] = [
      [
        'require:\n  predicates: [https://slsa.dev/provenance/v1]\n',
        'require.predicates',
        /FAIL require\.predicates: https:\/\/slsa\.dev\/provenance\/v1: no attestation from a trusted signer/,
      ],
      [
        'require:\n  mof: { minClass: 1 }\n',
        'require.mof.minClass',
        /FAIL require\.mof\.minClass: MOF class none \(re-evaluated\), policy requires class 1 or better/,
      ],
      [
        'require:\n  licenses: { allow: [Apache-2.0] }\n',
        'require.licenses',
        /FAIL require\.licenses: not in allow list: MIT/,
      ],
    ];
    for (const [body, rule, detail] of cases) {
      const r = await verify(ref, policy(body));
      expectRejected(r, [rule], [detail]);
      // The signature itself was fine: only the named rule failed.
      expect(r.stdout).toMatch(/^ {2}ok {3}minSignatures: 1 distinct trusted signer/m);
    }
  });

  it('an expired certificate: its validity window does not contain the Rekor and TSA times', async () => {
    // Certificates issued "two hours ago" (valid 10 minutes), logged and timestamped now.
    const past = await startSigstoreStandins({ certificateTime: new Date(Date.now() - 2 * 3600_000) });
    // …and certificates from the future: not yet valid when logged.
    const future = await startSigstoreStandins({ certificateTime: new Date(Date.now() + 2 * 3600_000) });
    try {
      for (const [name, s] of [
        ['expired', past],
        ['not-yet-valid', future],
      ] as const) {
        const ref = await pushModel(`acme/${name}`);
        await mustSucceed(keyless(['sign', ref], { standins: s }));
        const rootFile = join(tmp.dir, `${name}-root.json`);
        writeFileSync(rootFile, JSON.stringify(s.trustedRoot));
        const r = await verify(ref, policy(), ['--trusted-root', rootFile]);
        expectRejected(r, ['minSignatures'], [/^ {2}rejected \? +\(.*\(CERTIFICATE_ERROR: .*\)\)$/m]);
        await expectOutsideValidity(ref, s, name === 'expired' ? 'after' : 'before');
        expect(r.stdout).toMatch(
          /FAIL minSignatures: 0 distinct trusted signer\(s\) \(0 signature bundle\(s\)\), policy requires 1/,
        );
      }
    } finally {
      await past.stop();
      await future.stop();
    }
  });

  it('a tampered bundle (signature byte) and a tampered statement (payload edited) replacing the originals', async () => {
    const ref = await pushModel('acme/tampered');
    await mustSucceed(keyless(['sign', ref]));
    await mustSucceed(keyless(['attest', ref, '--type', 'slsa']));
    const { store, digest } = registryStore(ref);
    try {
      const subject = await store.resolve(digest);
      const originals = await discoverBundles(store, subject);
      expect(originals).toHaveLength(2);
      for (const found of originals) {
        const bundle = JSON.parse(JSON.stringify(found.bundle)) as SerializedBundleJson;
        const env = bundle.dsseEnvelope!;
        const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as {
          predicateType: string;
          predicate: Record<string, unknown>;
        };
        if (statement.predicateType === SLSA) {
          // The statement an attacker wants: another builder, signature left as it was.
          statement.predicate['runDetails'] = {
            builder: { id: 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main' },
          };
          env.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
        } else {
          const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
          sig[sig.length - 1] ^= 0x01;
          env.signatures[0]!.sig = sig.toString('base64');
        }
        await attachBundle(store, subject, bundle, statement.predicateType);
      }
      // The attacker drops the genuine referrers from the fallback index.
      const genuine = new Set(originals.map((o) => o.referrer.digest));
      await editFallbackIndex(store, subject.digest, (ms) => ms.filter((m) => !genuine.has(m.digest)));
      expect(
        (await discoverBundles(store, subject)).map((b) => b.referrer.digest).filter((d) => genuine.has(d)),
      ).toEqual([]);
    } finally {
      await store.close();
    }
    const r = await verify(ref, policy(`require:\n  predicates: [${SLSA}]\n`), ['--json']);
    expect(r.status).toBe(9);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { rule: string; ok: boolean; detail: string }[];
      bundles: { verified: boolean; trusted: boolean; reason?: string }[];
    };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.rule)).toEqual(['minSignatures', 'require.predicates']);
    expect(report.bundles).toHaveLength(2);
    for (const b of report.bundles) expect(b).toMatchObject({ verified: false, trusted: false });
    // The TSA token is over the signature bytes, so the flipped signature fails there first; the
    // edited payload keeps the signature (and its timestamp) but no longer matches the Rekor entry.
    expect(report.bundles.map((b) => b.reason).sort()).toEqual([
      expect.stringMatching(/^no trusted timestamp \(TIMESTAMP_ERROR: /),
      expect.stringMatching(/^transparency log entry does not match the bundle \(TLOG_BODY_ERROR: /),
    ]);
  });

  it('a bundle for another digest attached as a referrer, and a referrer of another subject listed in the index', async () => {
    const ref = await pushModel('acme/victim');
    const other = await pushModel('acme/other', ['--name', 'other-model']);
    expect(other.split('@')[1]).not.toBe(ref.split('@')[1]);
    await mustSucceed(keyless(['sign', other]));
    const { store, digest } = registryStore(ref);
    const o = registryStore(other);
    try {
      const subject = await store.resolve(digest);
      const [signedOther] = await discoverBundles(o.store, await o.store.resolve(o.digest));
      expect(signedOther).toBeDefined();
      // A validly signed bundle from the trusted workflow, but about the other artifact.
      await attachBundle(
        store,
        subject,
        signedOther!.bundle as SerializedBundleJson,
        'https://sigstore.dev/cosign/sign/v1',
      );
      // And the other artifact's own referrer manifest, copied over and listed in this subject's index.
      const m = await o.store.fetchBytes({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: signedOther!.referrer.digest,
        size: signedOther!.referrer.size,
      });
      const layer = (JSON.parse(m.toString()) as { layers: Descriptor[]; config: Descriptor }).layers[0]!;
      await store.push(layer, await o.store.fetchBytes(layer));
      const config = (JSON.parse(m.toString()) as { config: Descriptor }).config;
      await store.push(config, await o.store.fetchBytes(config));
      const referrer: Descriptor = { ...signedOther!.referrer };
      await store.push(referrer, m);
      await editFallbackIndex(store, subject.digest, (ms) => [...ms, referrer]);
    } finally {
      await store.close();
      await o.store.close();
    }
    const r = await verify(ref, policy());
    expectRejected(
      r,
      ['minSignatures'],
      [
        /^ {2}rejected \? +\(referrer for another digest\)$/m,
        /^ {2}rejected \? +\(statement is about another digest\)$/m,
      ],
    );
    // The same bundle verifies for the artifact it is about.
    const ok = await verify(other, policy());
    expect(ok.status).toBe(0);
  });

  it('look-alike identities: an evil-org workflow whose ref spells the trusted identity', async () => {
    const ref = await pushModel('acme/lookalike');
    const evil =
      'evil-org/models/.github/workflows/release.yml@refs/heads/acme/models/.github/workflows/release.yml@refs/heads/main';
    await mustSucceed(keyless(['sign', ref], { claims: { job_workflow_ref: evil, repository: 'evil-org/models' } }));
    const evilSan = `https://github.com/${evil}`;
    const trusted = 'acme/models/\\.github/workflows/release\\.yml@refs/heads/main';
    // What an unanchored regex would have accepted:
    expect(new RegExp(trusted).test(evilSan)).toBe(true);

    const shorthand = await verify(ref, policy());
    expectRejected(
      shorthand,
      ['minSignatures'],
      [new RegExp(`${evilSan.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not trusted by the policy`)],
    );
    const anchored = await verify(
      ref,
      policy(
        '',
        `keyless: { issuer: https://token.actions.githubusercontent.com, identity: '^https://github\\.com/${trusted}$' }`,
      ),
    );
    expectRejected(anchored, ['minSignatures'], [/is not trusted by the policy/]);

    // An unanchored identity, or one whose top-level "|" escapes the anchors, is not a policy at all.
    for (const identity of [trusted, `^https://github\\.com/acme/models/.+$|${trusted}`]) {
      const r = await verify(
        ref,
        policy('', `keyless: { issuer: https://token.actions.githubusercontent.com, identity: '${identity}' }`),
      );
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/policy-\d+\.yaml:3.*anchored regex/);
    }
  });
});

describe('verify rejects on an OCI layout too', () => {
  it('a tampered statement replacing the only signature in the layout', async () => {
    const layout = join(tmp.dir, 'layout');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;
    const store = await OciLayoutStore.open(layout);
    try {
      await mustSucceed(keyless(['sign', ref]));
      const subject = await store.resolve(digest);
      const [found] = await discoverBundles(store, subject);
      const bundle = JSON.parse(JSON.stringify(found!.bundle)) as SerializedBundleJson;
      const st = JSON.parse(Buffer.from(bundle.dsseEnvelope!.payload, 'base64').toString()) as {
        subject: { name: string }[];
      };
      st.subject[0]!.name = 'oci:evil';
      bundle.dsseEnvelope!.payload = Buffer.from(JSON.stringify(st)).toString('base64');
      await attachBundle(store, subject, bundle, 'https://sigstore.dev/cosign/sign/v1');
    } finally {
      await store.close();
    }
    const r = await verify(ref, policy());
    // The genuine signature still counts; the tampered one is listed as rejected, with why.
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}trusted /m);
    expect(r.stdout).toMatch(/^ {2}rejected \? +\(.*(TLOG_BODY_ERROR|SIGNATURE_ERROR).*\)$/m);
  });
});
