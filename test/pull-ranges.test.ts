/**
 * `pull` downloads blobs straight into files (packages/core/src/registry/download.ts): big
 * blobs as parallel `Range` GETs, hashed once at the destination, a stalled range aborted and
 * asked for again, and a killed pull resumed from the ranges already on disk. Real
 * docker-registry, real CLI, a real proxy that counts and stalls blob responses. The range
 * threshold and size are lowered through the environment so an 8 MiB blob takes 8 ranges.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OCI_MANIFEST, RegistryStore, sha256Digest, type Descriptor } from '@modelship/core';
import { runCli } from './helpers/cli.js';
import { startPullProxy, type PullProxy } from './helpers/pull-proxy.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { CLI, REPO_ROOT, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const MiB = 1024 * 1024;
const BIG = 8 * MiB;
const ENV = { MODELSHIP_RANGE_THRESHOLD: String(MiB), MODELSHIP_RANGE_SIZE: String(MiB) };

interface Model {
  repo: string;
  big: Buffer;
  bigDesc: Descriptor;
  readme: Buffer;
}

/** Pushes a ModelPack-shaped artifact: an 8 MiB raw weight file and a README. */
async function pushModel(reg: TestRegistry, repo: string): Promise<Model> {
  const store = new RegistryStore({ registry: reg.host, repository: repo, plainHttp: true });
  try {
    const big = randomBytes(BIG);
    const readme = Buffer.from(`# ${repo}\n`);
    const layer = (bytes: Buffer, mediaType: string, path: string): Descriptor => ({
      mediaType,
      digest: sha256Digest(bytes),
      size: bytes.length,
      annotations: { 'org.cncf.model.filepath': path },
    });
    const bigDesc = layer(big, 'application/vnd.cncf.model.weight.v1.raw', 'model.bin');
    const readmeDesc = layer(readme, 'application/vnd.cncf.model.doc.v1.raw', 'README.md');
    await store.push(bigDesc, big);
    await store.push(readmeDesc, readme);
    const config = Buffer.from(
      JSON.stringify({
        descriptor: { name: repo },
        config: {},
        modelfs: { type: 'layers', diffIds: [bigDesc.digest, readmeDesc.digest] },
      }),
    );
    const configDesc: Descriptor = {
      mediaType: 'application/vnd.cncf.model.config.v1+json',
      digest: sha256Digest(config),
      size: config.length,
    };
    await store.push(configDesc, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        config: configDesc,
        layers: [bigDesc, readmeDesc],
      }),
    );
    const md: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(manifest), size: manifest.length };
    await store.push(md, manifest);
    await store.tag(md, 'v1');
    return { repo, big, bigDesc, readme };
  } finally {
    await store.close();
  }
}

const hex = (d: Descriptor): string => d.digest.slice('sha256:'.length);

function pull(proxy: PullProxy, m: Model, mode: '--extract' | '--output', dir: string, env: NodeJS.ProcessEnv = {}) {
  return runCli(['pull', `${proxy.host}/${m.repo}:v1`, mode, dir, '--plain-http', '--no-progress'], {
    env: { ...ENV, ...env },
  });
}

function expectPulled(m: Model, mode: '--extract' | '--output', dir: string): void {
  if (mode === '--extract') {
    expect(readFileSync(join(dir, 'model.bin')).equals(m.big)).toBe(true);
    expect(readFileSync(join(dir, 'README.md')).equals(m.readme)).toBe(true);
    // No staging or partial download left behind.
    expect(readdirSync(dir).sort()).toEqual(['README.md', 'model.bin']);
  } else {
    expect(readFileSync(join(dir, 'blobs', 'sha256', hex(m.bigDesc))).equals(m.big)).toBe(true);
    expect(existsSync(join(dir, 'ingest')) ? readdirSync(join(dir, 'ingest')) : []).toEqual([]);
  }
}

describe('pull: parallel Range GETs into files, verified, resumable (real docker-registry)', () => {
  let reg: TestRegistry;
  let proxy: PullProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startPullProxy(reg.host);
  });
  afterAll(async () => {
    await proxy?.close();
    await reg?.cleanup();
  });
  const reset = (): void => {
    proxy.gets = [];
    proxy.blobBytesDown = 0;
    proxy.stallRanges = 0;
    proxy.stalled = 0;
    proxy.freezeAt = Infinity;
  };

  for (const mode of ['--extract', '--output'] as const) {
    it(`${mode}: an 8 MiB blob comes as 1 MiB ranges and lands byte-identical`, async () => {
      const m = await pushModel(reg, `models/ranges${mode.replace('--', '-')}`);
      reset();
      const dir = join(tmp.dir, `ranges${mode}`);
      const r = await pull(proxy, m, mode, dir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectPulled(m, mode, dir);
      const ranges = proxy.gets.filter((g) => g.url.includes(m.bigDesc.digest));
      expect(ranges).toHaveLength(8);
      expect(ranges.every((g) => g.status === 206 && /^bytes=\d+-\d+$/.test(g.range ?? ''))).toBe(true);
      expect(new Set(ranges.map((g) => g.range)).size).toBe(8);
    });

    it(`${mode}: a blob tampered with on the registry is refused and nothing is left in place`, async () => {
      const m = await pushModel(reg, `models/tamper${mode.replace('--', '-')}`);
      const onDisk = readFileSync(reg.blobPath(m.bigDesc.digest));
      onDisk[5 * MiB + 7] = onDisk[5 * MiB + 7]! ^ 0xff;
      writeFileSync(reg.blobPath(m.bigDesc.digest), onDisk);
      reset();
      const dir = join(tmp.dir, `tamper${mode}`);
      const r = await pull(proxy, m, mode, dir);
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/digest mismatch/);
      if (mode === '--extract') expect(existsSync(dir)).toBe(false);
      else {
        expect(existsSync(join(dir, 'blobs', 'sha256', hex(m.bigDesc)))).toBe(false);
        expect(existsSync(join(dir, 'ingest')) ? readdirSync(join(dir, 'ingest')) : []).toEqual([]);
      }
    });
  }

  it('a stalled range is aborted after the stall timeout and fetched again', async () => {
    const m = await pushModel(reg, 'models/stall');
    reset();
    proxy.stallRanges = 1;
    proxy.stallAfter = 100 * 1024;
    const dir = join(tmp.dir, 'stall');
    const r = await pull(proxy, m, '--extract', dir, { MODELSHIP_RANGE_STALL_MS: '1000' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(proxy.stalled).toBe(1);
    expectPulled(m, '--extract', dir);
    const ranges = proxy.gets.filter((g) => g.url.includes(m.bigDesc.digest));
    // Eight ranges, one of them asked for twice: the second time from where the stall left it.
    expect(ranges).toHaveLength(9);
    const starts = ranges.map((g) => Number(/^bytes=(\d+)-/.exec(g.range ?? '')?.[1]));
    expect(starts.some((s) => s % MiB === 100 * 1024)).toBe(true);
  });

  it('a record that lies about what is on disk is not trusted: the pull still ends byte-identical', async () => {
    const m = await pushModel(reg, 'models/lying-record');
    const dir = join(tmp.dir, 'lying');
    const partial = join(dir, '.modelship-partial');
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, hex(m.bigDesc)), Buffer.alloc(BIG));
    writeFileSync(
      join(partial, `${hex(m.bigDesc)}.json`),
      JSON.stringify({ version: 1, digest: m.bigDesc.digest, size: BIG, done: [[0, BIG]] }),
    );
    reset();
    const r = await pull(proxy, m, '--extract', dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expectPulled(m, '--extract', dir);
  });

  for (const mode of ['--extract', '--output'] as const) {
    it(`${mode}: a pull killed half-way is resumed, fetching less than the whole blob again`, async () => {
      const m = await pushModel(reg, `models/resume${mode.replace('--', '-')}`);
      const dir = join(tmp.dir, `resume${mode}`);
      reset();
      proxy.freezeAt = BIG / 2;
      const child = spawn(
        process.execPath,
        [CLI, 'pull', `${proxy.host}/${m.repo}:v1`, mode, dir, '--plain-http', '--no-progress'],
        { cwd: REPO_ROOT, env: { ...process.env, ...ENV }, stdio: 'ignore' },
      );
      const exited = new Promise((r) => child.on('exit', r));
      for (let i = 0; i < 600 && proxy.blobBytesDown < BIG / 2; i++) await sleep(50);
      expect(proxy.blobBytesDown).toBeGreaterThanOrEqual(BIG / 2);
      // The record trails the writes by at most 500 ms (blob-file.ts).
      await sleep(1500);
      child.kill('SIGKILL');
      await exited;
      const partialDir = mode === '--extract' ? join(dir, '.modelship-partial') : join(dir, 'ingest');
      const partialName = mode === '--extract' ? hex(m.bigDesc) : `${hex(m.bigDesc)}.partial`;
      expect(existsSync(join(partialDir, `${partialName}.json`))).toBe(true);

      reset();
      const r = await pull(proxy, m, mode, dir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expectPulled(m, mode, dir);
      // The kept half is not fetched again (it is hashed again from disk).
      const bigBytes = proxy.gets.filter((g) => g.url.includes(m.bigDesc.digest));
      expect(bigBytes.length).toBeGreaterThan(0);
      expect(proxy.blobBytesDown).toBeLessThanOrEqual(BIG / 2 + 2 * MiB);
    });
  }
});
