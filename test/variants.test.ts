/**
 * Variants through the built CLI on the real docker-registry: the cnai variant shares every
 * blob with the primary (no blob uploaded for it), sign/attest cover each variant and give it
 * a record naming the primary, verify of a variant shows that chain, push builds a variant the
 * layout lacks, promote takes the variants named with their referrers, and the PR check
 * accepts a pinned variant reference.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OCI_INDEX, type Manifest } from '@modelship/core';
import { runCli } from './helpers/cli.js';
import { startRegistry, type AccessLogEntry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();

interface VariantJson {
  name: string;
  digest: string;
  reference: string;
  pinnedReference: string;
  tags: string[];
  addedBytes?: number;
  built?: boolean;
}

interface PackJson {
  digest: string;
  size: number;
  variants: VariantJson[];
}

/** Digests of committed blob uploads (the closing PUT carries `digest=`). */
const uploadedBlobs = (log: AccessLogEntry[]): string[] =>
  log
    .filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/') && e.status === 201)
    .map((e) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(e.path)![1]!))
    .sort();

async function manifest<T = Manifest>(
  reg: TestRegistry,
  repo: string,
  ref: string,
): Promise<{ status: number; body?: T }> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    headers: { accept: `application/vnd.oci.image.manifest.v1+json, ${OCI_INDEX}` },
  });
  if (res.status !== 200) return { status: res.status };
  return { status: 200, body: (await res.json()) as T };
}

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  if (r.status !== 0) throw new Error(`modelship ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** `pack DIR --push REF` with the variants given; the JSON result. */
async function packPush(dir: string, reference: string, variants: string[]): Promise<PackJson> {
  const v = variants.flatMap((n) => ['--variant', n]);
  return JSON.parse(
    await ok(['pack', dir, '--push', reference, '--plain-http', '--no-cache', ...v, '--json', '--no-progress']),
  ) as PackJson;
}

describe('variants through the CLI and a real registry', () => {
  let reg: TestRegistry;
  let key: string;
  let policy: string;
  let model: string;
  /** A signing verb with the release key, no transparency log, over plain HTTP. */
  const keyed = (args: string[]): Promise<string> => ok([...args, '--key', key, '--no-tlog', '--plain-http']);

  beforeAll(async () => {
    reg = await startRegistry();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    key = join(tmp.dir, 'release.key');
    const pub = join(tmp.dir, 'release.pub');
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - key: { path: ${pub} }\nrequire:\n  slsa: {}\n  licenses:\n    allow: [MIT]\n`,
    );
    model = copySample(tmp.dir, 'model');
  }, 60_000);

  afterAll(async () => {
    await reg?.cleanup();
    tmp.cleanup();
  });

  it('cnai: one more manifest over the very same config and layers; not one blob byte more', async () => {
    reg.clearAccessLog();
    await packPush(model, `${reg.host}/plain/model:v1`, []);
    const plainBlobs = uploadedBlobs(reg.accessLog());
    reg.clearAccessLog();
    const r = await packPush(model, `${reg.host}/cnai/model:v1`, ['cnai']);
    // The same blobs as without the variant: the variant costs a manifest (and its link), no blob.
    expect(uploadedBlobs(reg.accessLog())).toEqual(plainBlobs);
    expect(r.variants).toEqual([
      expect.objectContaining({
        name: 'cnai',
        reference: `${reg.host}/cnai/model:v1-cnai`,
        addedBytes: 0,
        tags: ['v1-cnai'],
      }),
    ]);
    const primary = (await manifest(reg, 'cnai/model', r.digest)).body!;
    const cnai = (await manifest(reg, 'cnai/model', 'v1-cnai')).body!;
    expect(cnai.artifactType).toBe('application/vnd.cnai.model.manifest.v1+json');
    expect(cnai.config.digest).toBe(primary.config.digest);
    expect(cnai.layers.map((l) => l.digest)).toEqual(primary.layers.map((l) => l.digest));
    expect(
      cnai.layers.every((l) => l.annotations?.['org.cnai.model.filepath'] && !l.annotations['org.cncf.model.filepath']),
    ).toBe(true);
  }, 120_000);

  it('sign and attest cover every variant; verify of a variant shows the chain to its primary', async () => {
    const repo = `${reg.host}/rel/model`;
    const r = await packPush(model, `${repo}:v1`, ['cnai,modelcar']);
    const car = r.variants.find((v) => v.name === 'modelcar')!;
    // Attest only the primary, sign nothing yet: the modelcar has no trusted bundle at all.
    await keyed(['attest', `${repo}@${r.digest}`, '--type', 'slsa', '--no-variants']);
    const before = await runCli(['verify', car.pinnedReference, '--policy', policy, '--plain-http']);
    expect(before.status).toBe(9);
    expect(before.stdout).toMatch(/FAIL .*require\.slsa: no trusted SLSA provenance/s);

    const signed = JSON.parse(await keyed(['sign', `${repo}@${r.digest}`, '--json'])) as {
      variants: { name: string; digest: string; recordReferrerDigest: string }[];
    };
    expect(signed.variants.map((v) => [v.name, v.digest]).sort()).toEqual(
      r.variants.map((v) => [v.name, v.digest]).sort(),
    );
    // Now the modelcar has its own signature and a record naming the primary, whose provenance applies.
    const after = await runCli(['verify', car.pinnedReference, '--policy', policy, '--plain-http']);
    expect(after.stderr).toBe('');
    expect(after.status).toBe(0);
    expect(after.stdout).toContain(`modelcar variant of ${repo}@${r.digest}`);
    expect(after.stdout).toMatch(/ok {3}variant: modelcar variant of sha256:/);
    const json = JSON.parse(
      (await runCli(['verify', car.pinnedReference, '--policy', policy, '--plain-http', '--json'])).stdout,
    ) as {
      variant: { name: string; primary: string };
    };
    expect(json.variant).toMatchObject({ name: 'modelcar', primary: r.digest });

    // attest (default) covers the variants too: each gets the provenance with its own digest as subject.
    const attested = JSON.parse(await keyed(['attest', `${repo}@${r.digest}`, '--type', 'slsa', '--json'])) as {
      variants: { name: string; attestations: unknown[] }[];
    };
    expect(attested.variants.map((v) => [v.name, v.attestations.length]).sort()).toEqual([
      ['cnai', 1],
      ['modelcar', 1],
    ]);

    // The PR check: a pod mounting the pinned modelcar and a KServe service serving it pass.
    const k8s = join(tmp.dir, 'serving.yaml');
    writeFileSync(
      k8s,
      `apiVersion: v1
kind: Pod
metadata: { name: llm }
spec:
  containers: [{ name: server, image: vllm/vllm-openai }]
  volumes:
    - name: model
      image: { reference: ${car.pinnedReference} }
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: llm }
spec:
  predictor:
    model:
      modelFormat: { name: huggingface }
      storageUri: oci://${car.pinnedReference}
`,
    );
    const pr = await runCli(['verify', '--k8s-manifests', k8s, '--policy', policy, '--plain-http']);
    expect(pr.stderr).toBe('');
    expect(pr.status).toBe(0);
  }, 180_000);

  it('push copies the variants a layout has and builds one it lacks; promote takes only those named', async () => {
    const layout = join(tmp.dir, 'layout');
    await ok(['pack', model, '--output', `${layout}:v2`, '--no-cache', '--variant', 'cnai', '--json', '--no-progress']);
    const pushed = JSON.parse(
      await ok([
        'push',
        `oci:${layout}:v2`,
        `${reg.host}/staging/model:v2`,
        '--plain-http',
        '--variant',
        'modelcar',
        '--json',
        '--no-progress',
      ]),
    ) as { digest: string; variants: VariantJson[] };
    expect(pushed.variants.map((v) => [v.name, v.built, v.reference])).toEqual([
      ['cnai', false, `${reg.host}/staging/model:v2-cnai`],
      ['modelcar', true, `${reg.host}/staging/model:v2-modelcar`],
    ]);
    for (const v of pushed.variants) expect((await manifest(reg, 'staging/model', `v2-${v.name}`)).status).toBe(200);
    await keyed(['attest', `${reg.host}/staging/model@${pushed.digest}`, '--type', 'slsa']);
    await keyed(['sign', `${reg.host}/staging/model@${pushed.digest}`]);

    const promoted = JSON.parse(
      await keyed([
        'promote',
        `${reg.host}/staging/model@${pushed.digest}`,
        `${reg.host}/prod/model:v2`,
        '--policy',
        policy,
        '--variant',
        'modelcar',
        '--json',
        '--no-progress',
      ]),
    ) as { variants: (VariantJson & { record: { referrerDigest: string } | null })[] };
    const car = pushed.variants.find((v) => v.name === 'modelcar')!;
    const cnai = pushed.variants.find((v) => v.name === 'cnai')!;
    expect(promoted.variants.map((v) => [v.name, v.digest, v.reference, v.tags])).toEqual([
      ['modelcar', car.digest, `${reg.host}/prod/model:v2-modelcar`, ['v2-modelcar']],
    ]);
    expect(promoted.variants[0]!.record).not.toBeNull();
    expect((await manifest(reg, 'prod/model', 'v2-modelcar')).status).toBe(200);
    // Not named, not promoted.
    expect((await manifest(reg, 'prod/model', cnai.digest)).status).toBe(404);
    // The modelcar came with its referrers: it verifies in prod, chain included.
    const v = await runCli(['verify', `${reg.host}/prod/model@${car.digest}`, '--policy', policy, '--plain-http']);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
    expect(v.stdout).toContain('modelcar variant of');
  }, 240_000);

  it('promote refuses a named variant without a trusted record, writing nothing', async () => {
    const repo = `${reg.host}/norecord/model`;
    const r = await packPush(model, `${repo}:v1`, ['cnai']);
    await keyed(['attest', `${repo}@${r.digest}`, '--type', 'slsa', '--no-variants']);
    await keyed(['sign', `${repo}@${r.digest}`, '--no-variants']);
    const p = await runCli([
      'promote',
      `${repo}@${r.digest}`,
      `${reg.host}/norecord-prod/model:v1`,
      '--policy',
      policy,
      '--variant',
      'cnai',
      '--key',
      key,
      '--no-tlog',
      '--plain-http',
      '--no-progress',
    ]);
    expect(p.status).toBe(9);
    expect(p.stderr).toMatch(/has no cnai variant that meets .*no trusted variant record naming/);
    expect((await manifest(reg, 'norecord-prod/model', r.digest)).status).toBe(404);
  }, 180_000);
});
