/**
 * `modelship convert` through the built CLI on real registries: a Docker Model Runner artifact
 * and a KitOps ModelKit, built from their published media types, become ModelPacks that
 * Docker Model Runner and KitOps accept (their rules, rewritten from their source, in
 * test/helpers/consumers.ts) and that extract to the very files the sources held. Raw blobs
 * are mounted on the same registry, copied to another, and never read again once there.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { RegistryStore, type Manifest } from '@modelship/core';
import { runCli } from './helpers/cli.js';
import { dockerModelRunnerAccepts, kitopsAccepts } from './helpers/consumers.js';
import { dockerModelArtifact, modelKitArtifact, type ForeignArtifact } from './helpers/foreign-artifacts.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();

interface ConvertJson {
  from: string;
  digest: string;
  reference: string;
  layers: { path: string; digest: string; reused: boolean }[];
  stats: { blobsCopied: number; blobsMounted: number; blobsSkipped: number };
  rewritten: number;
}

function files(root: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(root, p)] = readFileSync(p);
    }
  };
  walk(root);
  return out;
}

async function build(
  reg: TestRegistry,
  repository: string,
  make: typeof dockerModelArtifact,
): Promise<ForeignArtifact> {
  const store = new RegistryStore({ registry: reg.host, repository, plainHttp: true });
  try {
    return await make(store, 'src');
  } finally {
    await store.close();
  }
}

async function readModelPack(
  reg: TestRegistry,
  repository: string,
  ref: string,
): Promise<{ m: Manifest; config: Record<string, unknown> }> {
  const store = new RegistryStore({ registry: reg.host, repository, plainHttp: true });
  try {
    const d = await store.resolve(ref);
    const m = JSON.parse((await store.fetchBytes(d)).toString('utf8')) as Manifest;
    return { m, config: JSON.parse((await store.fetchBytes(m.config)).toString('utf8')) as Record<string, unknown> };
  } finally {
    await store.close();
  }
}

const SOURCES: [string, string, typeof dockerModelArtifact, string][] = [
  ['a Docker Model Runner artifact', 'ai/smollm', dockerModelArtifact, 'docker-model-runner'],
  ['a KitOps ModelKit', 'kit/tiny', modelKitArtifact, 'modelkit'],
];

describe.each(SOURCES)('modelship convert: %s', (_what, repository, make, from) => {
  let reg: TestRegistry;
  let other: TestRegistry;
  let source: ForeignArtifact;

  beforeAll(async () => {
    [reg, other] = await Promise.all([startRegistry(), startRegistry()]);
    source = await build(reg, repository, make);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([reg?.cleanup(), other?.cleanup()]);
  });

  it('round-trips: a ModelPack its consumers accept, extracting to the source’s files', async () => {
    const dst = `${reg.host}/modelpack/${repository.split('/')[1]}`;
    reg.clearAccessLog();
    const r = await runCli([
      'convert',
      `${reg.host}/${repository}:src`,
      `${dst}:v1`,
      '--plain-http',
      '--json',
      '--no-progress',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as ConvertJson;
    expect(out.from).toBe(from);
    // Same registry: every raw blob is mounted from the source repository, none uploaded.
    expect([out.stats.blobsMounted, out.stats.blobsCopied]).toEqual([source.rawLayers, 0]);
    expect(out.layers.filter((l) => l.reused)).toHaveLength(source.rawLayers);
    const { m, config } = await readModelPack(reg, dst.slice(reg.host.length + 1), 'v1');
    expect(dockerModelRunnerAccepts(m, config)).toEqual([]);
    expect(kitopsAccepts(m, config)).toEqual([]);

    const dir = join(tmp.dir, `extract-${from}`);
    const x = await runCli(['pull', `${dst}:v1`, '--extract', dir, '--plain-http', '--no-progress']);
    expect(x.stderr).toBe('');
    expect(x.status).toBe(0);
    const want = Object.fromEntries(Object.entries(source.files).map(([p, b]) => [p, Buffer.from(b)]));
    expect(files(dir)).toEqual(want);
  }, 120_000);

  it('to another registry: copies each raw blob once; a second run reads none of them again', async () => {
    const dst = `${other.host}/mirror/${repository.split('/')[1]}:v1`;
    const convert = async (): Promise<ConvertJson> => {
      const r = await runCli([
        'convert',
        `${reg.host}/${repository}:src`,
        dst,
        '--plain-http',
        '--json',
        '--no-progress',
      ]);
      expect([r.status, r.stderr]).toEqual([0, '']);
      return JSON.parse(r.stdout) as ConvertJson;
    };
    const one = await convert();
    expect([one.stats.blobsCopied, one.stats.blobsMounted]).toEqual([source.rawLayers, 0]);

    reg.clearAccessLog();
    const two = await convert();
    expect(two.digest).toBe(one.digest);
    expect([two.stats.blobsCopied, two.stats.blobsSkipped]).toEqual([0, source.rawLayers]);
    const reused = new Set(two.layers.filter((l) => l.reused).map((l) => l.digest.slice(7)));
    const blobGets = reg.accessLog().filter((e) => e.method === 'GET' && e.path.includes('/blobs/sha256:'));
    expect(blobGets.filter((e) => reused.has(e.path.slice(e.path.lastIndexOf(':') + 1)))).toEqual([]);
  }, 120_000);
});

afterAll(() => tmp.cleanup());
