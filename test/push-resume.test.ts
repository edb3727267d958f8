// Resumable pushes across process restarts, against Debian's docker-registry (distribution
// 2.8) on 127.0.0.1: the CLI is killed (SIGKILL) part-way through a multi-chunk blob and run
// again; the fault proxy in front counts every request-body byte the client sent to upload
// URLs. 2.8 keeps the part of a PATCH body that reached it, after which its upload state no
// longer matches (docs/cli.md, "Resumable pushes and registry limits"): killed between chunks, or behind a
// request-buffering nginx, the next run continues from the registry's offset; a session the
// registry no longer knows is started again with one warning.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryStore } from '../packages/core/src/registry/index.js';
import { runCli } from './helpers/cli.js';
import { startFaultProxy, type Fault } from './helpers/fault-proxy.js';
import { startNginx, type Nginx } from './helpers/nginx.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { CLI, REPO_ROOT, tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const SIZE = 32 * MiB;
/** The config blob and the manifest's neighbours: bytes a pack pushes beside the weights. */
const SMALL_BLOBS = 64 * 1024;

const tmp = tempDir('modelship-resume-');
let reg: TestRegistry;
let model: string;
let weights: Buffer;
let digest: string;

beforeAll(async () => {
  reg = await startRegistry();
  model = join(tmp.dir, 'model');
  mkdirSync(model);
  weights = randomBytes(SIZE);
  writeFileSync(join(model, 'weights.bin'), weights);
  digest = `sha256:${createHash('sha256').update(weights).digest('hex')}`;
}, 30_000);

afterAll(async () => {
  await reg?.cleanup();
  tmp.cleanup();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function stateDirOf(name: string): string {
  return join(tmp.dir, `state-${name}`);
}

function envFor(state: string): NodeJS.ProcessEnv {
  return { MODELSHIP_UPLOAD_CHUNK_SIZE: '4M', MODELSHIP_STATE_DIR: state };
}

function packArgs(host: string, repo: string): string[] {
  return ['pack', model, '--push', `${host}/${repo}:v1`, '--plain-http', '--no-cache', '--no-progress', '--json'];
}

/** Runs pack --push and SIGKILLs it once `when()` holds; resolves with the exit signal. */
async function packKilled(args: string[], env: NodeJS.ProcessEnv, when: () => boolean): Promise<string | null> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, MODELSHIP_DEBUG: '', ...env },
    stdio: 'ignore',
  });
  const exited = new Promise<string | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  for (let i = 0; i < 6000 && child.exitCode === null; i++) {
    if (when()) {
      child.kill('SIGKILL');
      break;
    }
    await sleep(2);
  }
  return exited;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The one layer's digest in `pack --json` output. */
function layerDigest(stdout: string): string | undefined {
  return (JSON.parse(stdout) as { layers: { digest: string }[] }).layers[0]?.digest;
}

function storedDigest(d: string): string {
  return `sha256:${createHash('sha256')
    .update(readFileSync(reg.blobPath(d)))
    .digest('hex')}`;
}

function records(state: string): string[] {
  const dir = join(state, 'uploads');
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
}

describe('push resumes an interrupted blob upload on the next run', () => {
  it('killed after 4 acknowledged chunks of 8: the next run sends only what the registry lacks', async () => {
    const proxy = await startFaultProxy(reg.host);
    cleanups.push(() => proxy.close());
    const state = stateDirOf('acked');
    // The 5th PATCH is read but never forwarded nor answered: the client dies with it in flight.
    proxy.faults.push({ method: 'PATCH', path: /\/blobs\/uploads\//, after: 4, times: 1, action: { kind: 'swallow' } });
    const signal = await packKilled(
      packArgs(proxy.host, 'resume/acked'),
      envFor(state),
      () => proxy.fired['swallow'] === 1,
    );
    expect(signal).toBe('SIGKILL');
    const first = proxy.blobBytesUp;

    // The record: 0700 directory, 0600 file, the acknowledged offset, no credentials.
    const [file] = records(state);
    expect(file).toBeDefined();
    expect(statSync(join(state, 'uploads')).mode & 0o777).toBe(0o700);
    expect(statSync(join(state, 'uploads', file!)).mode & 0o777).toBe(0o600);
    // A cold cache: the digest was never known, the record names the file instead.
    const rec = JSON.parse(readFileSync(join(state, 'uploads', file!), 'utf8')) as Record<string, unknown>;
    const weightsFile = statSync(join(model, 'weights.bin'));
    expect(rec).toMatchObject({
      file: { path: join(model, 'weights.bin'), size: SIZE, ino: weightsFile.ino, mtimeMs: weightsFile.mtimeMs },
      offset: 4 * CHUNK,
      prefixDigest: sha256(weights.subarray(0, 4 * CHUNK)),
      repository: 'resume/acked',
    });
    expect(rec).not.toHaveProperty('digest');
    expect(JSON.stringify(rec)).not.toMatch(/authorization|password|token/i);

    proxy.blobBytesUp = 0;
    proxy.log.length = 0;
    const r = await runCli(packArgs(proxy.host, 'resume/acked'), { env: envFor(state) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const second = proxy.blobBytesUp;
    // The second run sends the 4 chunks the registry lacks (and the small blobs), nothing more.
    expect(second).toBeGreaterThanOrEqual(SIZE - 4 * CHUNK);
    expect(second).toBeLessThanOrEqual(SIZE - 4 * CHUNK + SMALL_BLOBS);
    expect(first + second - SIZE).toBeLessThanOrEqual(CHUNK + SMALL_BLOBS);
    expect(proxy.log.some((e) => e.method === 'GET' && /\/blobs\/uploads\/./.test(e.url) && e.status === 204)).toBe(
      true,
    );
    expect(storedDigest(digest)).toBe(digest);
    expect(layerDigest(r.stdout)).toBe(digest);
    expect(records(state)).toEqual([]);
  }, 120_000);

  it('behind a request-buffering nginx, killed mid-chunk at ~50 %: at most one chunk is sent again', async () => {
    const nginx: Nginx = await startNginx(reg.host);
    cleanups.push(() => nginx.stop());
    const proxy = await startFaultProxy(nginx.host);
    cleanups.push(() => proxy.close());
    const state = stateDirOf('nginx');
    // 18 MiB: half-way through the 5th chunk, where the proxy stops reading its body.
    proxy.faults.push({
      method: 'PATCH',
      path: /\/blobs\/uploads\//,
      after: 4,
      times: 1,
      action: { kind: 'stall-request', afterBytes: 2 * MiB },
    });
    const signal = await packKilled(
      packArgs(proxy.host, 'resume/nginx'),
      envFor(state),
      () => proxy.blobBytesUp >= 18 * MiB,
    );
    expect(signal).toBe('SIGKILL');
    const first = proxy.blobBytesUp;
    expect(first).toBeLessThan(SIZE);
    expect(records(state)).toHaveLength(1);

    proxy.blobBytesUp = 0;
    const r = await runCli(packArgs(proxy.host, 'resume/nginx'), { env: envFor(state) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const resent = first + proxy.blobBytesUp - SIZE;
    expect(resent).toBeLessThanOrEqual(CHUNK + SMALL_BLOBS);
    expect(storedDigest(digest)).toBe(digest);
    expect(layerDigest(r.stdout)).toBe(digest);
    expect(records(state)).toEqual([]);
  }, 120_000);

  it('a session the registry no longer knows (uploads wiped by a restart) is started again, with one warning', async () => {
    const proxy = await startFaultProxy(reg.host);
    cleanups.push(() => proxy.close());
    const state = stateDirOf('wiped');
    proxy.faults.push({ method: 'PATCH', path: /\/blobs\/uploads\//, after: 3, times: 1, action: { kind: 'swallow' } });
    await packKilled(packArgs(proxy.host, 'resume/wiped'), envFor(state), () => proxy.fired['swallow'] === 1);
    expect(records(state)).toHaveLength(1);
    await reg.stop();
    rmSync(join(reg.storageDir, 'docker', 'registry', 'v2', 'repositories', 'resume', 'wiped', '_uploads'), {
      recursive: true,
      force: true,
    });
    await reg.restart();

    proxy.blobBytesUp = 0;
    const r = await runCli(packArgs(proxy.host, 'resume/wiped'), { env: envFor(state) });
    expect(r.status).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /earlier run left at 12582912 of 33554432 bytes \(it answered 404\); uploading the blob from the start/,
    );
    // The Location (with its signed `_state`) is never shown.
    expect(r.stderr).not.toMatch(/_state|blobs\/uploads\//);
    expect(proxy.blobBytesUp).toBeGreaterThanOrEqual(SIZE);
    expect(storedDigest(digest)).toBe(digest);
    expect(records(state)).toEqual([]);
  }, 120_000);

  it('a record pointing at a bogus session falls back to a fresh upload with a warning', async () => {
    const proxy = await startFaultProxy(reg.host);
    cleanups.push(() => proxy.close());
    const state = stateDirOf('bogus');
    // What the kill test leaves, with the session's id swapped for one the registry never issued.
    proxy.faults.push({ method: 'PATCH', path: /\/blobs\/uploads\//, after: 2, times: 1, action: { kind: 'swallow' } });
    await packKilled(packArgs(proxy.host, 'resume/bogus'), envFor(state), () => proxy.fired['swallow'] === 1);
    const [file] = records(state);
    const path = join(state, 'uploads', file!);
    const rec = JSON.parse(readFileSync(path, 'utf8')) as { location: string };
    rec.location = rec.location.replace(/uploads\/[^?]+/, 'uploads/00000000-0000-0000-0000-000000000000');
    writeFileSync(path, JSON.stringify(rec));

    const r = await runCli(packArgs(proxy.host, 'resume/bogus'), { env: envFor(state) });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^warning: .*uploading the blob from the start\n$/);
    expect(r.stderr).not.toMatch(/_state/);
    expect(storedDigest(digest)).toBe(digest);
  }, 120_000);
});

describe('a dropped connection mid-upload, within one run', () => {
  it('continues from the committed offset (status GET) behind a buffering nginx, not from zero', async () => {
    const nginx = await startNginx(reg.host);
    cleanups.push(() => nginx.stop());
    const proxy = await startFaultProxy(nginx.host);
    cleanups.push(() => proxy.close());
    proxy.faults.push({
      method: 'PATCH',
      path: /\/blobs\/uploads\//,
      after: 4,
      times: 1,
      action: { kind: 'reset-request', afterBytes: 2 * MiB },
    });
    const store = new RegistryStore({
      registry: proxy.host,
      repository: 'resume/dropped',
      plainHttp: true,
      chunkSize: CHUNK,
      backoffMs: 10,
      uploadStateDir: stateDirOf('dropped'),
    });
    try {
      const path = join(model, 'weights.bin');
      const res = await store.push(
        { mediaType: 'application/octet-stream', digest, size: SIZE },
        { path, open: () => createReadStream(path) },
      );
      expect(res.uploaded).toBe(true);
    } finally {
      await store.close();
    }
    expect(proxy.fired['reset-request']).toBe(1);
    // One cut chunk's worth (2 MiB reached the proxy) is sent again, not the 16 MiB before it.
    expect(proxy.blobBytesUp).toBeLessThanOrEqual(SIZE + CHUNK);
    expect(proxy.log.some((e) => e.method === 'GET' && /\/blobs\/uploads\/./.test(e.url) && e.status === 204)).toBe(
      true,
    );
    expect(storedDigest(digest)).toBe(digest);
    expect(records(stateDirOf('dropped'))).toEqual([]);
  }, 120_000);
});

/** A model dir of its own holding one file of `bytes`. */
function modelOf(name: string, bytes: Buffer): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'weights.bin'), bytes);
  return dir;
}

function packArgsOf(dir: string, host: string, repo: string): string[] {
  return [...packArgs(host, repo).map((a) => (a === model ? dir : a))];
}

describe('a cold-cache pack --push reads each file once and still resumes', () => {
  it('a file changed after the kill (same path, new content) is uploaded fresh and right', async () => {
    const dir = modelOf('model-changed', randomBytes(SIZE));
    const proxy = await startFaultProxy(reg.host);
    cleanups.push(() => proxy.close());
    const state = stateDirOf('changed');
    proxy.faults.push({ method: 'PATCH', path: /\/blobs\/uploads\//, after: 2, times: 1, action: { kind: 'swallow' } });
    const args = packArgsOf(dir, proxy.host, 'resume/changed');
    expect(await packKilled(args, envFor(state), () => proxy.fired['swallow'] === 1)).toBe('SIGKILL');
    expect(records(state)).toHaveLength(1);

    const fresh = randomBytes(SIZE);
    writeFileSync(join(dir, 'weights.bin'), fresh);
    proxy.blobBytesUp = 0;
    const r = await runCli(args, { env: envFor(state) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The stale record is dropped without a word and nothing of it is continued.
    expect(proxy.blobBytesUp).toBeGreaterThanOrEqual(SIZE);
    expect(proxy.log.some((e) => e.method === 'GET' && /\/blobs\/uploads\/./.test(e.url))).toBe(false);
    expect(layerDigest(r.stdout)).toBe(sha256(fresh));
    expect(storedDigest(sha256(fresh))).toBe(sha256(fresh));
    expect(records(state)).toEqual([]);
  }, 120_000);

  it('a file rewritten in place with its mtime kept (same identity, other bytes) is caught by the kept prefix digest', async () => {
    const dir = modelOf('model-rewritten', randomBytes(SIZE));
    const path = join(dir, 'weights.bin');
    const proxy = await startFaultProxy(reg.host);
    cleanups.push(() => proxy.close());
    const state = stateDirOf('rewritten');
    proxy.faults.push({ method: 'PATCH', path: /\/blobs\/uploads\//, after: 3, times: 1, action: { kind: 'swallow' } });
    const args = packArgsOf(dir, proxy.host, 'resume/rewritten');
    expect(await packKilled(args, envFor(state), () => proxy.fired['swallow'] === 1)).toBe('SIGKILL');
    const before = statSync(path);
    // touch -r copies the timestamps to the nanosecond (utimes from JS rounds them).
    const ref = join(tmp.dir, 'mtime-ref');
    writeFileSync(ref, '');
    execFileSync('touch', ['-r', path, ref]);
    const fresh = randomBytes(SIZE);
    writeFileSync(path, fresh);
    execFileSync('touch', ['-r', ref, path]);
    expect(statSync(path).ino).toBe(before.ino);
    expect(statSync(path).mtimeMs).toBe(before.mtimeMs);

    const r = await runCli(args, { env: envFor(state) });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: .*weights\.bin is not what an earlier run left uploaded at 12582912 bytes; uploading it from the start\n$/,
    );
    expect(layerDigest(r.stdout)).toBe(sha256(fresh));
    expect(storedDigest(sha256(fresh))).toBe(sha256(fresh));
    expect(records(state)).toEqual([]);
  }, 120_000);

  it('reads each byte of a chunked-size file once (rchar of the CLI process / model size)', async () => {
    const big = modelOf('model-rchar', randomBytes(SIZE));
    const tiny = modelOf('model-rchar-tiny', randomBytes(4096));
    const rchar = async (dir: string, repo: string): Promise<number> => {
      const out = join(tmp.dir, `rchar-${repo.replace('/', '-')}.json`);
      const child = spawn(
        process.execPath,
        ['--import', join(REPO_ROOT, 'bench', 'rss-report.mjs'), CLI, ...packArgsOf(dir, reg.host, repo)],
        {
          cwd: REPO_ROOT,
          env: { ...process.env, MODELSHIP_DEBUG: '', ...envFor(stateDirOf('rchar')), MODELSHIP_BENCH_REPORT: out },
          stdio: 'ignore',
        },
      );
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      expect(code).toBe(0);
      return (JSON.parse(readFileSync(out, 'utf8')) as { rchar: number }).rchar;
    };
    // The tiny pack reads what every run reads (the CLI's own modules, configs): the difference is the file's.
    const base = await rchar(tiny, 'resume/rchar-tiny');
    const read = await rchar(big, 'resume/rchar');
    const ratio = (read - base) / (SIZE - 4096);
    // A pre-hash before a resumable push read it twice (≈ 2.0).
    expect(ratio).toBeGreaterThan(0.95);
    expect(ratio).toBeLessThan(1.1);
  }, 120_000);
});

describe('a dropped connection mid-ingest (digest unknown), within one run', () => {
  const ingestOf = async (host: string, repo: string): Promise<string> => {
    const store = new RegistryStore({
      registry: host,
      repository: repo,
      plainHttp: true,
      chunkSize: CHUNK,
      backoffMs: 10,
      uploadStateDir: stateDirOf(repo.replace('/', '-')),
    });
    try {
      const path = join(model, 'weights.bin');
      const r = await store.ingest('application/octet-stream', createReadStream(path), { path, size: SIZE });
      expect(r.uploaded).toBe(true);
      return r.descriptor.digest;
    } finally {
      await store.close();
    }
  };
  const cutFifth = (): Fault => ({
    method: 'PATCH',
    path: /\/blobs\/uploads\//,
    after: 4,
    times: 1,
    action: { kind: 'reset-request', afterBytes: 2 * MiB },
  });

  it('behind a buffering nginx: continues from the upload status, re-sending the cut chunk only', async () => {
    const nginx = await startNginx(reg.host);
    cleanups.push(() => nginx.stop());
    const proxy = await startFaultProxy(nginx.host);
    cleanups.push(() => proxy.close());
    proxy.faults.push(cutFifth());
    expect(await ingestOf(proxy.host, 'resume/ingest-nginx')).toBe(digest);
    expect(proxy.fired['reset-request']).toBe(1);
    expect(proxy.blobBytesUp).toBeLessThanOrEqual(SIZE + CHUNK);
    expect(proxy.log.some((e) => e.method === 'GET' && /\/blobs\/uploads\/./.test(e.url) && e.status === 204)).toBe(
      true,
    );
    expect(storedDigest(digest)).toBe(digest);
    expect(records(stateDirOf('resume-ingest-nginx'))).toEqual([]);
  }, 120_000);

  it('direct to docker-registry 2.8 (the cut body leaves its session unusable): a fresh session, bytes read back from the file', async () => {
    const proxy = await startFaultProxy(reg.host);
    cleanups.push(() => proxy.close());
    proxy.faults.push(cutFifth());
    expect(await ingestOf(proxy.host, 'resume/ingest-direct')).toBe(digest);
    expect(proxy.fired['reset-request']).toBe(1);
    expect(proxy.log.filter((e) => e.method === 'POST').length).toBe(2);
    expect(storedDigest(digest)).toBe(digest);
    expect(records(stateDirOf('resume-ingest-direct'))).toEqual([]);
  }, 120_000);
});
