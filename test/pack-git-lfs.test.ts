// Digests from Git LFS pointers: a model committed with real git-lfs (Debian's git-lfs) packs
// without reading its LFS files to hash them, gives the same digests as hashing, and falls
// back to hashing whenever git cannot vouch for a file (modified, pointer-only checkout).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-lfs-');
afterAll(() => tmp.cleanup());
const MiB = 1024 * 1024;

interface PackJson {
  digest: string;
  layers: { path: string; digest: string }[];
  stats: { hashed: number; gitLfs: number; bytesRead: number; cacheHits: number };
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });

async function pack(model: string, out: string, extra: string[] = []): Promise<PackJson> {
  const r = await runCli(['pack', model, '--output', `${out}:v1`, '--json', '--no-progress', ...extra], {
    env: { MODELSHIP_CACHE_DIR: join(tmp.dir, 'cache') },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as PackJson;
}

const sha256 = (p: string): string => `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;

describe('pack takes raw-layer digests from Git LFS pointers', () => {
  const repo = join(tmp.dir, 'repo');
  let model: string;
  beforeAll(() => {
    model = copySample(join(tmp.dir, 'repo', 'models'), 'tiny');
    writeFileSync(join(model, 'extra.safetensors'), randomBytes(4 * MiB));
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'lfs', 'install', '--local');
    git(repo, 'lfs', 'track', '*.safetensors');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'model');
    // The index really holds pointers.
    expect(git(repo, 'lfs', 'ls-files').split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('LFS files are not read, and the digests equal hashing every byte', async () => {
    const lfs = await pack(model, join(tmp.dir, 'oci-lfs'), ['--no-cache']);
    // --no-cache: every file hashed, nothing trusted.
    expect(lfs.stats.gitLfs).toBe(0);
    const viaLfs = await pack(model, join(tmp.dir, 'oci-lfs2'));
    expect(viaLfs.stats.gitLfs).toBe(3);
    expect(viaLfs.digest).toBe(lfs.digest);
    expect(viaLfs.layers).toEqual(lfs.layers);
    // The 4 MiB weight and the two sample shards were never read to hash them.
    expect(viaLfs.stats.bytesRead).toBeLessThan(1 * MiB);
    // And the layout holds the right bytes under those digests.
    for (const l of viaLfs.layers.filter((x) => x.path.endsWith('.safetensors')))
      expect(sha256(join(tmp.dir, 'oci-lfs2', 'blobs', 'sha256', l.digest.slice(7)))).toBe(l.digest);
  });

  it('a file modified after checkout (same size) is hashed, not trusted', async () => {
    const weight = join(model, 'extra.safetensors');
    const before = sha256(weight);
    writeFileSync(weight, randomBytes(4 * MiB));
    const r = await pack(model, join(tmp.dir, 'oci-modified'));
    expect(r.stats.gitLfs).toBe(2);
    const layer = r.layers.find((l) => l.path === 'extra.safetensors')!;
    expect(layer.digest).toBe(sha256(weight));
    expect(layer.digest).not.toBe(before);
    git(repo, 'checkout', '--', '.');
  });

  it('a checkout without git-lfs (pointer text in the files) is hashed as it is', async () => {
    const clone = join(tmp.dir, 'pointer-only');
    execFileSync('git', ['clone', '-q', repo, clone], { env: { ...process.env, GIT_LFS_SKIP_SMUDGE: '1' } });
    const files = join(clone, 'models', 'tiny');
    expect(readFileSync(join(files, 'extra.safetensors'), 'utf8')).toMatch(/^version https:\/\/git-lfs/);
    const r = await pack(files, join(tmp.dir, 'oci-pointers'));
    expect(r.stats.gitLfs).toBe(0);
    const layer = r.layers.find((l) => l.path === 'extra.safetensors')!;
    expect(layer.digest).toBe(sha256(join(files, 'extra.safetensors')));
  });

  describe('push', () => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startRegistry();
    });
    afterAll(async () => {
      await reg?.cleanup();
    });

    it('a re-release of an unchanged LFS model to a registry reads no weight bytes', async () => {
      const target = `${reg.host}/lfs/tiny:v1`;
      const push = (): Promise<PackJson> =>
        runCli(['pack', model, '--push', target, '--plain-http', '--json', '--no-progress'], {
          env: { MODELSHIP_CACHE_DIR: join(tmp.dir, 'push-cache') },
        }).then((r) => {
          expect(r.status).toBe(0);
          return JSON.parse(r.stdout) as PackJson;
        });
      const first = await push();
      expect(first.stats.gitLfs).toBe(3);
      // The registry checked every uploaded byte against the LFS digest: pull verifies too.
      const pulled = await runCli([
        'pull',
        `${reg.host}/lfs/tiny@${first.digest}`,
        '--plain-http',
        '--extract',
        join(tmp.dir, 'pulled'),
        '--no-progress',
      ]);
      expect(pulled.status).toBe(0);
      expect(sha256(join(tmp.dir, 'pulled', 'extra.safetensors'))).toBe(sha256(join(model, 'extra.safetensors')));
      const again = await push();
      expect(again.digest).toBe(first.digest);
      expect(again.stats.bytesRead).toBeLessThan(1 * MiB);
    });
  });
});
