// `modelship import hf://…` against a stand-in Hub (test/helpers/hf-hub.ts) and a real
// docker-registry behind a byte-counting proxy: the artifact is the one `pack` makes of a git
// clone of the same commit, a re-import moves no blob byte, a new revision moves only what
// changed, a killed import continues where it stopped, gated and private repositories need the
// right token, and bytes that do not match the Hub's digest are refused with nothing pushed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliRun } from './helpers/cli.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startHubStandIn, type HubStandIn, type StandInFile } from './helpers/hf-hub.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-import-');
let hub: HubStandIn;
let registry: TestRegistry;
let proxy: FaultProxy;
const TOKEN = 'hf_standinGrantedToken0123456789';
const OTHER_TOKEN = 'hf_standinOtherAccountToken98765';

beforeAll(async () => {
  hub = await startHubStandIn();
  hub.tokens.add(TOKEN);
  hub.tokens.add(OTHER_TOKEN);
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
});
afterAll(async () => {
  await proxy?.close();
  await hub?.close();
  await registry?.cleanup();
  tmp.cleanup();
});

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });

/** The environment of a user of this Hub: no token unless given, and no token file of the machine's. */
function hubEnv(token?: string): NodeJS.ProcessEnv {
  return { HF_ENDPOINT: hub.url, HF_HOME: join(tmp.dir, 'hf-home'), HF_TOKEN: token ?? '' };
}

interface ImportJson {
  reference: string;
  digest: string;
  source: { repo: string; revision: string; commit: string; url: string; card: Record<string, string[]> };
  config: Record<string, unknown>;
  layers: { path: string; kind: string; digest: string; size: number; lfs: boolean; present: boolean }[];
  stats: { hubBytes: number; uploadedBytes: number; skippedBytes: number };
}

async function importCli(source: string, dest: string, token?: string, extra: string[] = []): Promise<CliRun> {
  return runCli(['import', source, '--push', dest, '--plain-http', '--json', ...extra], { env: hubEnv(token) });
}

function parsed(r: CliRun): ImportJson {
  if (r.status !== 0) throw new Error(`import failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ImportJson;
}

/** The files of a directory (recursively, .git left out) as stand-in files. */
function filesOf(dir: string, prefix = ''): StandInFile[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.name === '.git') return [];
    if (e.isDirectory()) return filesOf(dir, rel);
    return [{ path: rel, data: readFileSync(join(dir, rel)), lfs: rel.endsWith('.safetensors') }];
  });
}

/**
 * A model repository as a git-lfs clone of it looks (the weights in LFS), published on the
 * stand-in under `id` at the clone's own commit, with the clone's remote pointing at it.
 */
function publish(id: string, dir: string, card: Record<string, unknown> = {}): string {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'lfs', 'install', '--local');
  git(dir, 'lfs', 'track', '*.safetensors');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'model');
  git(dir, 'remote', 'add', 'origin', `${hub.url}/${id}`);
  const sha = git(dir, 'rev-parse', 'HEAD').trim();
  hub.addRepo(id);
  hub.commit(id, filesOf(dir), { sha, card });
  return sha;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('import hf://ORG/NAME', () => {
  const id = 'acme/tiny-llm';
  let model: string;
  let sha: string;
  let first: ImportJson;

  beforeAll(async () => {
    model = copySample(tmp.dir, 'tiny-llm');
    sha = publish(id, model, { license: 'mit', base_model: 'acme/base', datasets: ['modelship/synthetic-none'] });
    proxy.blobBytesUp = 0;
    hub.resetStats();
    first = parsed(await importCli(`hf://${id}`, `${proxy.host}/hub/tiny-llm:main`));
  });

  it('gives the ModelPack pack makes of a clone of the same commit: same config, layers and digest', async () => {
    const r = await runCli(['pack', model, '--push', `${proxy.host}/pack/tiny-llm:v1`, '--plain-http', '--json']);
    expect(r.status).toBe(0);
    const packed = JSON.parse(r.stdout) as ImportJson;
    expect(first.source).toMatchObject({ repo: id, revision: 'main', commit: sha, url: `${hub.url}/${id}` });
    expect(first.config).toEqual(packed.config);
    expect(first.layers.map(({ path, kind, digest, size }) => ({ path, kind, digest, size }))).toEqual(
      packed.layers.map(({ path, kind, digest, size }) => ({ path, kind, digest, size })),
    );
    expect(first.digest).toBe(packed.digest);
    // The clone's git: its remote and HEAD; the card: the licence; and the hidden .gitattributes left out.
    expect(first.config['descriptor']).toMatchObject({
      sourceURL: `${hub.url}/${id}`,
      revision: sha,
      licenses: ['MIT'],
    });
    expect(first.layers.map((l) => l.path)).not.toContain('.gitattributes');
    expect(first.source.card).toEqual({
      license: ['mit'],
      baseModels: ['acme/base'],
      datasets: ['modelship/synthetic-none'],
    });
  });

  it('streamed every LFS byte from the CDN once, and never sent the token there', () => {
    const lfs = first.layers.filter((l) => l.lfs);
    expect(lfs.map((l) => l.path).sort()).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    for (const l of lfs) expect(hub.stats.cdnBytesByObject.get(l.digest.slice(7))).toBe(l.size);
    expect(hub.stats.cdnAuthorized).toBe(0);
    expect(first.layers.every((l) => !l.present)).toBe(true);
  });

  it('a re-import of the unchanged revision moves no blob byte: metadata only', async () => {
    proxy.blobBytesUp = 0;
    hub.resetStats();
    const again = parsed(await importCli(`hf://${id}@main`, `${proxy.host}/hub/tiny-llm:main`));
    expect(again.digest).toBe(first.digest);
    expect(proxy.blobBytesUp).toBe(0);
    expect(hub.stats.cdnBytes).toBe(0);
    expect(again.layers.every((l) => l.present)).toBe(true);
    expect(again.stats.uploadedBytes).toBe(0);
    expect(again.stats.skippedBytes).toBe(first.layers.reduce((a, l) => a + l.size, 0));
  });

  it('a new revision transfers only the files that changed', async () => {
    const shard = join(model, 'model-00002-of-00002.safetensors');
    const old = readFileSync(shard);
    const changed = Buffer.concat([old.subarray(0, old.length - 64), randomBytes(64)]);
    writeFileSync(shard, changed);
    writeFileSync(join(model, 'NOTES.md'), 'second revision\n');
    git(model, 'add', '-A');
    git(model, 'commit', '-q', '-m', 'v2');
    const sha2 = git(model, 'rev-parse', 'HEAD').trim();
    hub.commit(id, filesOf(model), { sha: sha2 });
    proxy.blobBytesUp = 0;
    hub.resetStats();
    const next = parsed(await importCli(`hf://${id}`, `${proxy.host}/hub/tiny-llm:main`));
    expect(next.source.commit).toBe(sha2);
    const moved = next.layers.filter((l) => !l.present).map((l) => l.path);
    expect(moved.sort()).toEqual(['NOTES.md', 'model-00002-of-00002.safetensors']);
    // The CDN served the changed shard only (its bytes, plus nothing of the unchanged one).
    expect([...hub.stats.cdnBytesByObject.keys()]).toEqual([sha256(changed)]);
    expect(hub.stats.cdnBytes).toBe(changed.length);
    // The registry received the two files, the config and the manifest's layers, nothing else.
    const config = 1; // the config blob is uploaded too
    expect(proxy.blobBytesUp).toBeGreaterThanOrEqual(changed.length + 'second revision\n'.length);
    expect(proxy.blobBytesUp).toBeLessThan(changed.length + 'second revision\n'.length + 16 * 1024 * config);
    // And it is still what pack makes of the clone.
    const r = await runCli(['pack', model, '--push', `${proxy.host}/pack/tiny-llm:v2`, '--plain-http', '--json']);
    expect((JSON.parse(r.stdout) as ImportJson).digest).toBe(next.digest);
  });
});
