import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { recordingContext } from '../actions/common/test/fake-context.js';
import { run as runPackAction } from '../actions/pack/src/run.js';
import { run as runPromoteAction, type Inputs as PromoteInputs } from '../actions/promote/src/run.js';
import { runCli } from './helpers/cli.js';
import { keyPairFiles } from './helpers/keys.js';
import { startRegistry, type AccessLogEntry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Every file under `dir` with the sha256 of its bytes and its mtime: "unchanged byte for byte". */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out[relative(dir, p)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${st.mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const writes = (log: AccessLogEntry[]): AccessLogEntry[] => log.filter((e) => WRITES.has(e.method));

async function catalog(reg: TestRegistry): Promise<string[]> {
  return ((await (await fetch(`${reg.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
}

interface PackJson {
  digest: string;
  layers: { path: string; digest: string }[];
  dryRun?: {
    written: false;
    blobs: { digest: string; present: boolean }[];
    manifest: { digest: string; present: boolean };
    tags: { tag: string; current: string | null }[];
  };
}

describe('pack --dry-run', () => {
  let model: string;
  let layout: string;
  let first: PackJson;
  beforeAll(async () => {
    model = copySample(tmp.dir, 'model');
    layout = join(tmp.dir, 'model-oci');
    const r = await runCli(['pack', model, '-o', `${layout}:v1`, '--json', '--no-cache', '--no-progress']);
    expect(r.status).toBe(0);
    first = JSON.parse(r.stdout) as PackJson;
  });

  it('reports what a pack would write and the manifest it would make; the layout is unchanged byte for byte', async () => {
    writeFileSync(join(model, 'README.md'), '# changed card\n');
    const before = snapshot(layout);
    const dry = await runCli(['pack', model, '-o', `${layout}:v2`, '--dry-run', '--no-cache', '--no-progress']);
    expect([dry.status, dry.stderr]).toEqual([0, '']);
    expect(snapshot(layout)).toEqual(before);
    expect(dry.stdout).toMatch(/^FILE +KIND +MEDIA TYPE +SIZE +DIGEST +IN THE TARGET$/m);
    expect(dry.stdout).toMatch(
      /^README\.md +doc +application\/vnd\.cncf\.model\.doc\.v1\.raw +15 B +sha256:[0-9a-f]{64} +would write$/m,
    );
    expect(dry.stdout).toMatch(/^config\.json +weight\.config .* already there$/m);
    expect(dry.stdout).toMatch(/^manifest: sha256:[0-9a-f]{64} \(would write\)$/m);
    expect(dry.stdout).toContain('tags: v2 (new)\n');
    // README, config blob, manifest.
    expect(dry.stdout).toMatch(/a real run would write 3 of the 12 blobs .* and find 9 in the target already/);
    const wouldBe = /^digest: (sha256:[0-9a-f]{64})$/m.exec(dry.stdout)![1];
    expect(wouldBe).not.toBe(first.digest);

    const real = await runCli(['pack', model, '-o', `${layout}:v2`, '--json', '--no-cache', '--no-progress']);
    expect((JSON.parse(real.stdout) as PackJson).digest).toBe(wouldBe);
  });

  it('--json: every blob with its presence, the manifest and the tags (a moved tag names what it names now)', async () => {
    writeFileSync(join(model, 'README.md'), '# changed again\n');
    const r = await runCli(['pack', model, '-o', `${layout}:v1`, '--dry-run', '--json', '--no-cache']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as PackJson;
    expect(j.dryRun!.written).toBe(false);
    expect(j.dryRun!.blobs.filter((b) => !b.present)).toHaveLength(3);
    expect(j.dryRun!.manifest.present).toBe(false);
    expect(j.dryRun!.tags).toEqual([{ tag: 'v1', digest: j.digest, current: first.digest }]);
  });

  it('a layout that does not exist is not created', async () => {
    const fresh = join(tmp.dir, 'not-yet');
    const r = await runCli(['pack', model, '-o', fresh, '--dry-run', '--json', '--no-cache']);
    expect(r.status).toBe(0);
    expect(existsSync(fresh)).toBe(false);
    expect((JSON.parse(r.stdout) as PackJson).dryRun!.blobs.every((b) => !b.present)).toBe(true);
  });

  it('the pack action with dry-run: outputs the digest it would make, writes no layout', async () => {
    const target = join(tmp.dir, 'action-dry');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await runPackAction(
      {
        pack: {
          dir: model,
          target: `oci:${target}:v1`,
          targetLabel: 'input output',
          tags: [],
          options: { family: 'cncf', layerFormat: 'raw', scan: { useDirSpec: true }, metadata: {} },
          cache: false,
          variants: { names: [] },
          dryRun: true,
        },
        registry: {},
        showSummary: true,
      },
      ctx,
    );
    expect(existsSync(target)).toBe(false);
    expect(recorded.outputs['layout-path']).toBe('');
    expect(existsSync(recorded.outputs['manifest-path']!)).toBe(true);
    const real = await runCli(['pack', model, '-o', `${target}:v1`, '--json', '--no-cache']);
    expect(recorded.outputs.digest).toBe((JSON.parse(real.stdout) as PackJson).digest);
    expect(recorded.summaries[0]![0]).toBe('# modelship pack (dry run: nothing written)');
    expect(recorded.summaries[0]).toContainEqual(expect.stringMatching(/^README\.md \| doc \| .* \| would write$/));
  });
});

describe('dry runs against a real registry', () => {
  let reg: TestRegistry;
  let model: string;
  const key = join(tmp.dir, 'promoter.key');
  const policy = join(tmp.dir, 'policy.yaml');
  let digest: string;
  beforeAll(async () => {
    reg = await startRegistry();
    model = copySample(tmp.dir, 'reg-model');
    const { pub } = keyPairFiles(tmp.dir, 'promoter');
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);
    const packed = await runCli(['pack', model, '--push', `${reg.host}/staging/m:v1`, '--plain-http', '--json']);
    expect(packed.status).toBe(0);
    digest = (JSON.parse(packed.stdout) as PackJson).digest;
    const signed = await runCli(['sign', `${reg.host}/staging/m@${digest}`, '--key', key, '--no-tlog', '--plain-http']);
    expect(signed.status).toBe(0);
  });
  afterAll(async () => reg?.cleanup());

  /** promote of the signed staging artifact to `dst`. */
  const promote = (dst: string, ...flags: string[]): string[] => [
    'promote',
    `${reg.host}/staging/m@${digest}`,
    dst,
    '--policy',
    policy,
    '--plain-http',
    ...flags,
  ];

  it('pack --dry-run --push writes nothing: no new repository, no upload', async () => {
    reg.clearAccessLog();
    const r = await runCli(['pack', model, '--push', `${reg.host}/new/m:v1`, '--plain-http', '--dry-run', '--json']);
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as PackJson).digest).toBe(digest);
    expect(writes(reg.accessLog())).toEqual([]);
    expect(await catalog(reg)).toEqual(['staging/m']);
  });

  it('promote --dry-run: the verdict, what would be copied, the tags and the record; the registry gains nothing', async () => {
    reg.clearAccessLog();
    const r = await runCli(promote(`${reg.host}/prod/m:stable`, '--key', key, '--no-tlog', '--dry-run'));
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^verified .* 1 checks passed$/m);
    // Blobs: the model's config and 10 layers, the signature's config and bundle.
    expect(r.stdout).toMatch(
      /^blobs: 13 to copy \(.*mounted from staging\/m where the registry allows\), 0 already present$/m,
    );
    expect(r.stdout).toMatch(/^manifests: 1 to copy .*, 0 already present$/m);
    expect(r.stdout).toMatch(/^referrers: 1 to copy .*, 0 already present$/m);
    expect(r.stdout).toContain('promotion record: would be signed (--key) and attached\n');
    expect(r.stdout).toContain('tags: stable (new)\n');
    expect(r.stdout).toContain('dry run: nothing was written to the destination\n');
    expect(writes(reg.accessLog())).toEqual([]);
    expect(await catalog(reg)).toEqual(['staging/m']);
  });

  it('after the real promotion, a dry run finds everything present and the tag set', async () => {
    const args = promote(`${reg.host}/prod/m:stable`, '--no-record');
    expect((await runCli(args)).status).toBe(0);
    reg.clearAccessLog();
    const r = await runCli([...args, '--dry-run', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as {
      dryRun: { written: false; record: boolean; writes: { present: boolean }[]; tags: { current: string }[] };
    };
    expect(j.dryRun.record).toBe(false);
    expect(j.dryRun.writes.every((w) => w.present)).toBe(true);
    expect(j.dryRun.tags).toEqual([{ tag: 'stable', digest, current: digest }]);
    expect(writes(reg.accessLog())).toEqual([]);
  });

  it('promote --dry-run into a layout does not create it', async () => {
    const dst = join(tmp.dir, 'promoted-oci');
    const r = await runCli(promote(`oci:${dst}:v1`, '--no-record', '--dry-run'));
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(existsSync(dst)).toBe(false);
    expect(r.stdout).toMatch(/^manifests: 1 to copy/m);
  });

  it('the promote action with dry-run: nothing written, the summary says so', async () => {
    reg.clearAccessLog();
    const inputs: PromoteInputs = {
      source: `${reg.host}/staging/m@${digest}`,
      destination: `${reg.host}/canary/m:v1`,
      sourceRegistry: { plainHttp: true },
      destinationRegistry: { plainHttp: true },
      signing: { key: { path: key }, tlog: false },
      policy,
      tags: [],
      record: true,
      tuf: {},
      publicKeys: [],
      concurrency: 4,
      dryRun: true,
      variants: [],
      showSummary: true,
    };
    const { ctx, recorded } = recordingContext(tmp.dir);
    await runPromoteAction(inputs, ctx);
    expect(writes(reg.accessLog())).toEqual([]);
    expect(await catalog(reg)).not.toContain('canary/m');
    expect(recorded.outputs['record-digest']).toBe('');
    expect(recorded.log).toContain('dry run: 13 blobs would be copied, 0 are in the destination');
    expect(recorded.log).toContain('dry run: a promotion record would be signed (input key) and attached');
    expect(recorded.summaries[0]![0]).toBe('# modelship promote (dry run: nothing written)');
  });
});
