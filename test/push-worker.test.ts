// A cold-cache `pack --push` over plain HTTP uploads each chunked-size file from a worker that
// reads, hashes and sends it (packages/core/src/registry/file-sender.ts), against Debian's
// docker-registry on 127.0.0.1 with the fault proxy in front. What the main thread used to see
// for itself must still come back from the worker: a 401 when the token expires between
// chunks, an early answer while the body is still going out, a file that shrinks mid-upload.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 24 * MiB + 12345;
const tmp = tempDir('modelship-push-worker-');

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

function makeModel(name: string): { dir: string; weights: Buffer } {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  const weights = randomBytes(SIZE);
  writeFileSync(join(dir, 'weights.bin'), weights);
  return { dir, weights };
}

function env(name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { MODELSHIP_UPLOAD_CHUNK_SIZE: '2M', MODELSHIP_STATE_DIR: join(tmp.dir, `state-${name}`), ...extra };
}

function layerDigest(stdout: string): string | undefined {
  return (JSON.parse(stdout) as { layers: { digest: string }[] }).layers[0]?.digest;
}

afterAll(() => tmp.cleanup());

describe('worker uploads, plain registry', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
  }, 30_000);
  afterAll(async () => {
    await proxy?.close();
    await reg?.cleanup();
  });

  for (const direct of ['1', '0']) {
    it(`uploads the file right in 13 chunks (MODELSHIP_DIRECT_IO=${direct})`, async () => {
      const { dir, weights } = makeModel(`plain-${direct}`);
      proxy.faults = [];
      proxy.log.length = 0;
      const r = await runCli(
        ['pack', dir, '--push', `${proxy.host}/w/plain-${direct}:v1`, '--plain-http', '--no-cache', '--json'],
        { env: env(`plain-${direct}`, { MODELSHIP_DIRECT_IO: direct }) },
      );
      expect(r.status).toBe(0);
      expect(layerDigest(r.stdout)).toBe(sha256(weights));
      expect(sha256(readFileSync(reg.blobPath(sha256(weights))))).toBe(sha256(weights));
      const patches = proxy.log.filter((e) => e.method === 'PATCH');
      expect(patches).toHaveLength(Math.ceil(SIZE / (2 * MiB)));
      expect(patches.every((p) => p.status === 202)).toBe(true);
    }, 60_000);
  }

  it('an answer that comes while the body is still going out is the error, not a hang', async () => {
    const { dir } = makeModel('early');
    proxy.faults = [
      {
        method: 'PATCH',
        path: /\/blobs\/uploads\//,
        times: 100,
        after: 2,
        action: { kind: 'status', status: 413, when: 'before' },
      },
    ];
    const r = await runCli(['pack', dir, '--push', `${proxy.host}/w/early:v1`, '--plain-http', '--no-cache'], {
      env: env('early'),
    });
    proxy.faults = [];
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/413/);
    expect(r.stderr).toMatch(/chunk at 4194304/);
  }, 60_000);

  it('a file that shrinks mid-upload fails as changed (CONFLICT, exit 8), and no session is kept', async () => {
    const { dir } = makeModel('shrink');
    const file = join(dir, 'weights.bin');
    proxy.faults = [
      {
        method: 'PATCH',
        path: /\/blobs\/uploads\//,
        times: 1,
        after: 3,
        action: { kind: 'call', fn: () => truncateSync(file, 9 * MiB) },
      },
    ];
    const r = await runCli(['pack', dir, '--push', `${proxy.host}/w/shrink:v1`, '--plain-http', '--no-cache'], {
      env: env('shrink'),
    });
    proxy.faults = [];
    expect(r.status).toBe(8);
    expect(r.stderr).toMatch(
      new RegExp(`weights\\.bin ended at ${9 * MiB} bytes, not ${SIZE}: it changed while it was being uploaded`),
    );
    expect(r.stderr).not.toMatch(/re-run the command: the upload continues/);
    expect(
      existsSync(join(tmp.dir, 'state-shrink', 'uploads')) ? readdirSync(join(tmp.dir, 'state-shrink', 'uploads')) : [],
    ).toEqual([]);
  }, 60_000);
});

describe('worker uploads, token auth', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token', users: { ci: 'pw' }, tokenExpiresIn: 2 });
    proxy = await startFaultProxy(reg.host);
  }, 30_000);
  afterAll(async () => {
    await proxy?.close();
    await reg?.cleanup();
  });

  it('a PATCH answered 401 (a stale token): the worker hands back the challenge, a fresh token, the upload goes on', async () => {
    const { dir, weights } = makeModel('token');
    const cfg = join(tmp.dir, 'docker-token');
    mkdirSync(cfg);
    writeFileSync(
      join(cfg, 'config.json'),
      JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('ci:pw').toString('base64') } } }),
    );
    // The registry's own answer to a stale token, given by the proxy to one PATCH mid-file (a
    // real expiry is refreshed ahead of time by the client, so it never shows here).
    const ts = reg.tokenServer!;
    proxy.faults = [
      {
        method: 'PATCH',
        path: /\/blobs\/uploads\//,
        times: 1,
        after: 4,
        action: {
          kind: 'status',
          status: 401,
          when: 'before',
          headers: {
            'www-authenticate': `Bearer realm="${ts.realm}",service="${ts.service}",scope="repository:w/token:pull,push"`,
          },
        },
      },
    ];
    proxy.log.length = 0;
    const issued = reg.tokenServer!.issued.length;
    const r = await runCli(
      ['pack', dir, '--push', `${proxy.host}/w/token:v1`, '--plain-http', '--no-cache', '--json'],
      {
        env: env('token', { DOCKER_CONFIG: cfg }),
      },
    );
    proxy.faults = [];
    expect(r.status).toBe(0);
    expect(layerDigest(r.stdout)).toBe(sha256(weights));
    expect(sha256(readFileSync(reg.blobPath(sha256(weights))))).toBe(sha256(weights));
    expect(proxy.log.some((e) => e.method === 'PATCH' && e.status === 401)).toBe(true);
    expect(reg.tokenServer!.issued.length).toBeGreaterThan(issued + 1);
  }, 60_000);
});
