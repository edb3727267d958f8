import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ModelshipError,
  OCI_INDEX,
  PROMOTION_PREDICATE_TYPE,
  RegistryStore,
  discoverBundles,
  loadPolicy,
  policyDigest,
  promoteArtifact,
  referrersFallbackTag,
  signingSetup,
  type Index,
  type Manifest,
} from '@modelship/core';
import { runCli } from './helpers/cli.js';
import { startRegistry, type AccessLogEntry, type TestRegistry } from './helpers/registry.js';
import { REPO_ROOT, copySample, tempDir } from './helpers/tmp.js';
import { verifyWithKey } from './helpers/verify.js';

const tmp = tempDir();
const MiB = 1024 * 1024;

function keyPair(name: string): { key: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub };
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const writes = (log: AccessLogEntry[]): AccessLogEntry[] => log.filter((e) => WRITES.has(e.method));
/** Digests of committed blob uploads (the closing PUT carries `digest=`). */
const uploadedBlobs = (log: AccessLogEntry[]): string[] =>
  log
    .filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/') && e.status === 201)
    .map((e) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(e.path)![1]!));

async function getJson<T>(
  reg: TestRegistry,
  repo: string,
  ref: string,
): Promise<{ status: number; body?: T; raw?: Buffer }> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    headers: { accept: `application/vnd.oci.image.manifest.v1+json, ${OCI_INDEX}` },
  });
  if (res.status !== 200) return { status: res.status };
  const raw = Buffer.from(await res.arrayBuffer());
  return { status: 200, body: JSON.parse(raw.toString('utf8')) as T, raw };
}

interface PromoteJson {
  reference: string;
  digest: string;
  tags: string[];
  stats: {
    blobsCopied: number;
    blobsMounted: number;
    blobsSkipped: number;
    bytesCopied: number;
    referrersCopied: number;
    manifestsCopied: number;
  };
  record: { referrerDigest: string; bundleDigest: string; signer: { subject: string } } | null;
}

describe('modelship promote between real registries and layouts', () => {
  let regA: TestRegistry;
  let regB: TestRegistry;
  const release = keyPair('release');
  const promoter = keyPair('promoter');
  const stranger = keyPair('stranger');
  let layout: string;
  let digest: string;
  let sigReferrer: string;
  let policyPath: string;
  let manifest: Manifest;
  const env = { GITHUB_ACTOR: 'octo-promoter' };

  beforeAll(async () => {
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    // Several MB in several weight blobs, so a copy can be interrupted mid-way.
    const model = copySample(tmp.dir, 'model');
    for (let i = 0; i < 8; i++) writeFileSync(join(model, `shard-${i}.bin`), randomBytes(3 * MiB));
    layout = join(tmp.dir, 'src-oci');
    const packed = await runCli(['pack', model, '--output', `${layout}:v1`, '--json', '--no-cache']);
    expect(packed.status).toBe(0);
    digest = (JSON.parse(packed.stdout) as { digest: string }).digest;
    manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as Manifest;
    const ref = `oci:${layout}@${digest}`;
    const signed = await runCli(['sign', ref, '--key', release.key, '--no-tlog', '--json']);
    expect(signed.status).toBe(0);
    sigReferrer = (JSON.parse(signed.stdout) as { referrerDigest: string }).referrerDigest;
    expect((await runCli(['attest', ref, '--type', 'slsa,mof', '--key', release.key, '--no-tlog'])).status).toBe(0);
    // A referrer of a referrer: a countersignature on the signature manifest.
    expect((await runCli(['sign', `oci:${layout}@${sigReferrer}`, '--key', release.key, '--no-tlog'])).status).toBe(0);
    policyPath = join(tmp.dir, 'policy.yaml');
    writeFileSync(
      policyPath,
      `version: 1\nsigners:\n  - key: { path: ${release.pub} }\n  - key: { path: ${promoter.pub} }\nrequire:\n  predicates: [https://slsa.dev/provenance/v1]\n`,
    );
    const pushed = await runCli([
      'push',
      `oci:${layout}:v1`,
      `${regA.host}/staging/model:v1`,
      '--plain-http',
      '--no-progress',
    ]);
    expect(pushed.stderr).toBe('');
    expect(pushed.status).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([regA?.cleanup(), regB?.cleanup()]);
    tmp.cleanup();
  });

  it('refuses an artifact that fails the policy: exit 9, the report, and not one request to the destination', async () => {
    const bad = join(tmp.dir, 'stranger-policy.yaml');
    writeFileSync(bad, `version: 1\nsigners:\n  - key: { path: ${stranger.pub} }\n`);
    regB.clearAccessLog();
    const r2 = await runCli([
      'promote',
      '--no-progress',
      `${regA.host}/staging/model:v1`,
      `${regB.host}/prod/model:v1`,
      '--policy',
      bad,
      '--key',
      promoter.key,
      '--no-tlog',
      '--plain-http',
    ]);
    expect(r2.status).toBe(9);
    expect(r2.stdout).toMatch(/FAIL minSignatures: 0 distinct trusted signer/);
    expect(r2.stdout).toContain('nothing was written to the destination');
    expect(r2.stderr).toMatch(/does not meet .*stranger-policy\.yaml; nothing was promoted/);
    expect(regB.accessLog()).toEqual([]);

    const never = join(tmp.dir, 'never-oci');
    const r3 = await runCli([
      'promote',
      '--no-progress',
      `oci:${layout}:v1`,
      `oci:${never}:v1`,
      '--policy',
      bad,
      '--key',
      promoter.key,
      '--no-tlog',
    ]);
    expect(r3.status).toBe(9);
    expect(existsSync(never)).toBe(false);
  });

  it('refuses to run without a signer for the record (exit 2) unless --no-record, before touching anything', async () => {
    regB.clearAccessLog();
    const r = await runCli(
      [
        'promote',
        '--no-progress',
        `${regA.host}/staging/model:v1`,
        `${regB.host}/prod/model`,
        '--policy',
        policyPath,
        '--plain-http',
      ],
      { env: { SIGSTORE_ID_TOKEN: '', ACTIONS_ID_TOKEN_REQUEST_URL: '', GITHUB_ACTIONS: '' } },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no signer is configured/);
    expect(r.stderr).toMatch(/--no-record/);
    expect(regB.accessLog()).toEqual([]);
  });

  it('a destination outside promote.destinations is refused by the policy (exit 9, nothing written)', async () => {
    const scoped = join(tmp.dir, 'scoped.yaml');
    writeFileSync(
      scoped,
      `${readFileSync(policyPath, 'utf8')}promote:\n  destinations: ['^${regB.host.replace(/\./g, '\\.')}/prod/.+$']\n`,
    );
    regA.clearAccessLog();
    const r = await runCli([
      'promote',
      '--no-progress',
      `${regA.host}/staging/model:v1`,
      `${regA.host}/elsewhere/model`,
      '--policy',
      scoped,
      '--key',
      promoter.key,
      '--no-tlog',
      '--plain-http',
    ]);
    expect(r.status).toBe(9);
    expect(r.stderr).toMatch(/does not allow promotion to 127\.0\.0\.1:\d+\/elsewhere\/model/);
    expect(writes(regA.accessLog())).toEqual([]);
  });

  it('registry -> registry on another host: a killed copy fails with NETWORK, a re-run moves only what was missing', async () => {
    const policy = await loadPolicy(policyPath);
    const open = (reg: TestRegistry, repository: string): RegistryStore =>
      new RegistryStore({ registry: reg.host, repository, plainHttp: true, retries: 1, backoffMs: 50 });
    const src = open(regA, 'staging/model');
    const dst = open(regB, 'prod/model');
    const firstRun: string[] = [];
    let stopping: Promise<void> | undefined;
    let error: unknown;
    try {
      await promoteArtifact({
        source: { store: src, reference: 'v1', name: `${regA.host}/staging/model` },
        destination: { store: dst, name: `${regB.host}/prod/model` },
        tags: ['v1'],
        policy,
        recordSetup: await signingSetup({ key: { path: promoter.key }, tlog: false }),
        concurrency: 1,
        onBlob: (d, outcome) => {
          if (outcome === 'copied') firstRun.push(d.digest);
          // Mid-flight: two weight blobs are in, the rest are not.
          if (firstRun.length === 2 && !stopping) stopping = regB.stop();
        },
      });
    } catch (e) {
      error = e;
    } finally {
      await src.close();
      await dst.close();
    }
    await stopping;
    expect(error).toBeInstanceOf(ModelshipError);
    expect((error as ModelshipError).code).toBe('NETWORK');
    expect(firstRun.length).toBeGreaterThanOrEqual(2);
    expect(firstRun.length).toBeLessThan(manifest.layers.length);

    await regB.restart();
    regB.clearAccessLog();
    const r = await runCli(
      [
        'promote',
        '--no-progress',
        `${regA.host}/staging/model:v1`,
        `${regB.host}/prod/model:v1`,
        '--tag',
        'stable',
        '--policy',
        policyPath,
        '--key',
        promoter.key,
        '--no-tlog',
        '--plain-http',
        '--json',
      ],
      { env },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as PromoteJson;
    expect(j.digest).toBe(digest);
    expect(j.reference).toBe(`${regB.host}/prod/model@${digest}`);
    expect(j.tags).toEqual(['v1', 'stable']);
    const uploaded = uploadedBlobs(regB.accessLog());
    // Nothing that made it in before the kill moved again ...
    expect(uploaded.filter((d) => firstRun.includes(d))).toEqual([]);
    expect(j.stats.blobsSkipped).toBeGreaterThanOrEqual(firstRun.length);
    // ... and every model blob is there now, the missing ones moved by this run.
    const modelBlobs = [manifest.config, ...manifest.layers].map((b) => b.digest);
    for (const b of modelBlobs) expect(firstRun.includes(b) || uploaded.includes(b)).toBe(true);
    expect(j.stats.blobsCopied).toBeGreaterThan(0);
    expect(j.stats.blobsMounted).toBe(0);
    // Signature, two attestations, the countersignature (a referrer of a referrer).
    expect(j.stats.referrersCopied).toBe(4);
    expect(j.record).not.toBeNull();

    // Byte-identical manifest, tags set.
    const srcM = await getJson<Manifest>(regA, 'staging/model', digest);
    const dstM = await getJson<Manifest>(regB, 'prod/model', digest);
    expect(dstM.raw!.equals(srcM.raw!)).toBe(true);
    for (const t of ['v1', 'stable']) {
      const res = await fetch(`${regB.url}/v2/prod/model/manifests/${t}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(res.headers.get('docker-content-digest')).toBe(digest);
    }

    // distribution 2.8.2 has no referrers API: the fallback tag index lists every referrer.
    const fallback = await getJson<Index>(regB, 'prod/model', referrersFallbackTag(digest));
    expect(fallback.status).toBe(200);
    const listed = fallback.body!.manifests;
    expect(listed.map((d) => d.annotations?.['dev.sigstore.bundle.predicateType']).sort()).toEqual(
      [
        'https://modelship.dev/attestations/mof/v0.1',
        'https://sigstore.dev/cosign/sign/v1',
        'https://slsa.dev/provenance/v1',
        PROMOTION_PREDICATE_TYPE,
      ].sort(),
    );
    expect(listed.map((d) => d.digest)).toEqual(expect.arrayContaining([sigReferrer, j.record!.referrerDigest]));
    const counter = await getJson<Index>(regB, 'prod/model', referrersFallbackTag(sigReferrer));
    expect(counter.body!.manifests).toHaveLength(1);
  }, 120_000);

  it('at the destination the same policy passes, and the signed promotion record says what happened', async () => {
    const v = await runCli(['verify', `${regB.host}/prod/model:v1`, '--policy', policyPath, '--plain-http', '--json']);
    expect(v.status).toBe(0);
    const report = JSON.parse(v.stdout) as { ok: boolean; bundles: { predicateType?: string; trusted: boolean }[] };
    expect(report.ok).toBe(true);
    expect(report.bundles.filter((b) => b.trusted).map((b) => b.predicateType)).toContain(PROMOTION_PREDICATE_TYPE);

    const store = new RegistryStore({ registry: regB.host, repository: 'prod/model', plainHttp: true });
    try {
      const subject = await store.resolve('v1');
      const bundles = await discoverBundles(store, subject);
      type BundleJson = Parameters<typeof verifyWithKey>[0];
      const records = bundles.filter(
        (b) => b.referrer.annotations?.['dev.sigstore.bundle.predicateType'] === PROMOTION_PREDICATE_TYPE,
      );
      expect(records).toHaveLength(1);
      // Signed by the promoter's key, not the release key.
      expect(() => verifyWithKey(records[0]!.bundle as BundleJson, readFileSync(release.pub, 'utf8'))).toThrow();
      const st = verifyWithKey(records[0]!.bundle as BundleJson, readFileSync(promoter.pub, 'utf8'));
      expect(st.predicateType).toBe(PROMOTION_PREDICATE_TYPE);
      expect(st.subject[0]).toEqual({ name: `${regB.host}/prod/model`, digest: { sha256: digest.slice(7) } });
      const p = st.predicate as {
        source: { name: string; reference: string; digest: string };
        destination: { name: string; digest: string; tags: string[] };
        policy: { source: string; digest: string };
        verdict: { ok: boolean; checks: { rule: string; ok: boolean }[]; trustedBundles: unknown[] };
        promotedAt: string;
        actor: string;
        tool: { name: string; version: string };
      };
      expect(p.source).toEqual({ name: `${regA.host}/staging/model`, reference: 'v1', digest });
      expect(p.destination).toEqual({ name: `${regB.host}/prod/model`, digest, tags: ['v1', 'stable'] });
      expect(p.policy).toEqual({ source: policyPath, digest: policyDigest(readFileSync(policyPath)) });
      expect(p.verdict.ok).toBe(true);
      expect(p.verdict.checks.map((c) => c.rule)).toEqual(['minSignatures', 'require.predicates']);
      expect(p.verdict.trustedBundles.length).toBeGreaterThanOrEqual(3);
      expect(Math.abs(Date.parse(p.promotedAt) - Date.now())).toBeLessThan(10 * 60_000);
      expect(p.actor).toBe('octo-promoter');
      expect(p.tool).toEqual({
        name: 'modelship',
        version: (
          JSON.parse(readFileSync(join(REPO_ROOT, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string }
        ).version,
      });
    } finally {
      await store.close();
    }
  });

  it('a re-run of a finished promotion moves nothing (--no-record adds nothing either)', async () => {
    regB.clearAccessLog();
    const r = await runCli([
      'promote',
      '--no-progress',
      `${regA.host}/staging/model:v1`,
      `${regB.host}/prod/model:v1`,
      '--policy',
      policyPath,
      '--no-record',
      '--plain-http',
      '--json',
    ]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as PromoteJson;
    expect(j.stats).toMatchObject({ blobsCopied: 0, bytesCopied: 0, manifestsCopied: 0, referrersCopied: 0 });
    expect(j.record).toBeNull();
    // Only the tag PUT: no blob, no referrer, no fallback index rewritten.
    expect(writes(regB.accessLog()).map((e) => `${e.method} ${e.path}`)).toEqual(['PUT /v2/prod/model/manifests/v1']);
  });

  it('same registry, another repository: every blob is mounted, not one model byte uploaded', async () => {
    regA.clearAccessLog();
    const r = await runCli(
      [
        'promote',
        '--no-progress',
        `${regA.host}/staging/model:v1`,
        `${regA.host}/prod/model`,
        '--policy',
        policyPath,
        '--key',
        promoter.key,
        '--no-tlog',
        '--plain-http',
        '--json',
      ],
      { env },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as PromoteJson;
    expect(j.tags).toEqual(['v1']); // the source tag, as the destination names none
    expect(j.stats.blobsCopied).toBe(0);
    expect(j.stats.bytesCopied).toBe(0);
    const log = regA.accessLog();
    const mounts = log.filter(
      (e) => e.method === 'POST' && e.path.includes('mount=') && e.path.includes('from=staging%2Fmodel'),
    );
    expect(mounts.every((e) => e.status === 201)).toBe(true);
    expect(mounts).toHaveLength(j.stats.blobsMounted);
    // model config + layers, plus the referrers' bundles and their shared empty config
    expect(j.stats.blobsMounted).toBeGreaterThanOrEqual(manifest.layers.length + 1);
    // The only bytes uploaded are the new promotion record's bundle.
    expect(uploadedBlobs(log)).toEqual([j.record!.bundleDigest]);
    const v = await runCli(['verify', `${regA.host}/prod/model:v1`, '--policy', policyPath, '--plain-http']);
    expect(v.status).toBe(0);
  });

  it('layout -> registry and registry -> layout, each verifying at the destination', async () => {
    const toReg = await runCli(
      [
        'promote',
        '--no-progress',
        `oci:${layout}:v1`,
        `${regB.host}/from-layout/model:rc`,
        '--policy',
        policyPath,
        '--key',
        promoter.key,
        '--no-tlog',
        '--plain-http',
        '--json',
      ],
      { env },
    );
    expect(toReg.stderr).toBe('');
    expect(toReg.status).toBe(0);
    const a = JSON.parse(toReg.stdout) as PromoteJson;
    expect(a.digest).toBe(digest);
    expect(a.stats.blobsCopied).toBe(manifest.layers.length + 1 + 4 + 1); // model, 4 bundles, empty config
    expect(
      (await runCli(['verify', `${regB.host}/from-layout/model:rc`, '--policy', policyPath, '--plain-http'])).status,
    ).toBe(0);

    const out = join(tmp.dir, 'prod-oci');
    const toLayout = await runCli(
      [
        'promote',
        '--no-progress',
        `${regB.host}/from-layout/model@${digest}`,
        `oci:${out}:prod`,
        '--policy',
        policyPath,
        '--key',
        promoter.key,
        '--no-tlog',
        '--plain-http',
        '--json',
      ],
      { env },
    );
    expect(toLayout.stderr).toBe('');
    expect(toLayout.status).toBe(0);
    const b = JSON.parse(toLayout.stdout) as PromoteJson;
    expect(b.reference).toBe(`oci:${out}@${digest}`);
    expect(b.tags).toEqual(['prod']);
    // the earlier record came along as a referrer; a new one was added
    expect(b.stats.referrersCopied).toBe(5);
    expect(
      readFileSync(join(out, 'blobs', 'sha256', digest.slice(7))).equals(
        readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7))),
      ),
    ).toBe(true);
    const v = await runCli(['verify', `oci:${out}:prod`, '--policy', policyPath, '--json']);
    expect(v.status).toBe(0);
    const report = JSON.parse(v.stdout) as { bundles: { predicateType?: string; trusted: boolean }[] };
    expect(report.bundles.filter((x) => x.predicateType === PROMOTION_PREDICATE_TYPE && x.trusted)).toHaveLength(2);
  });
});
