import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest } from '../packages/core/src/digest.js';
import { opt } from '../packages/core/src/errors.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../packages/core/src/mediatypes.js';
import { referrersFallbackTag, type Descriptor, type Index, type Manifest } from '../packages/core/src/oci.js';
import { parseReference } from '../packages/core/src/reference.js';
import { RegistryStore, type RegistryStoreOptions } from '../packages/core/src/registry/index.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { rejection } from '../packages/core/test/rejection.js';

const LAYER = 'application/vnd.cncf.model.weight.v1.raw';
const MiB = 1024 * 1024;

function blob(bytes: Buffer, mediaType = LAYER): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length };
}

/** A BlobSource that hands out the buffer in 64 KiB pieces, so uploads really stream. */
function streamed(bytes: Buffer): { open(): Readable } {
  return {
    open: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < bytes.length; i += 64 * 1024) yield bytes.subarray(i, i + 64 * 1024);
        })(),
      ),
  };
}

async function drain(stream: Readable): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

const EMPTY = Buffer.from('{}');

/** Pushes config + one layer + the manifest, returns the manifest descriptor and bytes. */
async function pushImage(
  store: RegistryStore,
  layer: Buffer,
  extra: Partial<Manifest> = {},
): Promise<{ desc: Descriptor; bytes: Buffer }> {
  await store.push(blob(EMPTY, OCI_EMPTY), EMPTY);
  await store.push(blob(layer), layer);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
    layers: [blob(layer)],
    ...extra,
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const desc = blob(bytes, OCI_MANIFEST);
  await store.push(desc, bytes);
  return { desc, bytes };
}

async function pushReferrer(
  store: RegistryStore,
  subject: Descriptor,
  artifactType: string,
  note: string,
): Promise<Descriptor> {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
    layers: [{ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }],
    subject,
    annotations: { 'org.example.note': note },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const desc = blob(bytes, OCI_MANIFEST);
  await store.push(blob(EMPTY, OCI_EMPTY), EMPTY);
  await store.push(desc, bytes);
  return desc;
}

async function readFallbackIndex(store: RegistryStore, subject: Descriptor): Promise<Index> {
  const d = await store.resolve(referrersFallbackTag(subject.digest));
  expect(d.mediaType).toBe(OCI_INDEX);
  return JSON.parse((await store.fetchBytes(d)).toString('utf8')) as Index;
}

describe('RegistryStore against distribution 2.8.2 (no auth)', () => {
  let reg: TestRegistry;
  const stores: RegistryStore[] = [];
  const open = (repository: string, o: Partial<RegistryStoreOptions> = {}): RegistryStore => {
    const s = new RegistryStore({
      registry: reg.host,
      repository,
      plainHttp: true,
      retries: 2,
      backoffMs: 20,
      dockerConfig: '/nonexistent/config.json',
      ...o,
    });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await reg?.cleanup();
  });

  it('pushes blobs (small and ~20 MiB, streamed) and fetches them byte-identical', async () => {
    const store = open('models/a');
    expect(store.kind).toBe('registry');
    expect(store.location).toBe(`${reg.host}/models/a`);
    const small = randomBytes(1000);
    const big = randomBytes(20 * MiB + 123);
    const progress: number[] = [];
    expect(await store.push(blob(small), small)).toEqual({ uploaded: true });
    expect(await store.push(blob(big), streamed(big), { onProgress: (n) => progress.push(n) })).toEqual({
      uploaded: true,
    });
    expect(progress.at(-1)).toBe(big.length);
    expect(await store.exists(blob(big))).toBe(true);
    expect(await drain(await store.fetch(blob(big)))).toEqual({ digest: blob(big).digest, size: big.length });
    expect((await store.fetchBytes(blob(small))).equals(small)).toBe(true);
  });

  it('skips a blob that is already there (uploaded:false, no upload session)', async () => {
    const store = open('models/a');
    const bytes = randomBytes(4096);
    expect((await store.push(blob(bytes), bytes)).uploaded).toBe(true);
    reg.clearAccessLog();
    expect(await store.push(blob(bytes), bytes)).toEqual({ uploaded: false });
    expect(reg.accessLog().filter((e) => e.path.includes('/blobs/uploads/'))).toEqual([]);
  });

  it('mounts a blob from another repository without sending bytes', async () => {
    const a = open('models/src');
    const b = open('models/dst');
    const bytes = randomBytes(300_000);
    await a.push(blob(bytes), bytes);
    reg.clearAccessLog();
    const res = await b.push(
      blob(bytes),
      {
        open: () => {
          throw new Error('must not read the source');
        },
      },
      { mountFrom: ['models/nope', 'models/src'] },
    );
    expect(res).toEqual({ uploaded: false, mounted: true });
    const log = reg.accessLog();
    expect(
      log.some(
        (e) =>
          e.method === 'POST' && e.path.includes('mount=') && e.path.includes('from=models%2Fsrc') && e.status === 201,
      ),
    ).toBe(true);
    // The 202 session opened by the failed mount from models/nope was cancelled.
    expect(
      log.some((e) => e.method === 'DELETE' && e.path.includes('/models/dst/blobs/uploads/') && e.status === 204),
    ).toBe(true);
    expect(log.filter((e) => e.method === 'PATCH' || e.method === 'PUT')).toEqual([]);
    expect((await b.fetchBytes(blob(bytes))).equals(bytes)).toBe(true);
  });

  it('uploads in chunks when asked (Content-Range PATCHes, following each Location)', async () => {
    const store = open('models/chunked', { uploadStrategy: 'chunked', chunkSize: 1 * MiB });
    const bytes = randomBytes(5 * MiB + 7);
    reg.clearAccessLog();
    expect(await store.push(blob(bytes), streamed(bytes))).toEqual({ uploaded: true });
    const patches = reg.accessLog().filter((e) => e.method === 'PATCH');
    expect(patches).toHaveLength(6);
    expect(patches.every((e) => e.status === 202)).toBe(true);
    expect(await drain(await store.fetch(blob(bytes)))).toEqual({ digest: blob(bytes).digest, size: bytes.length });
  });

  it('refuses to commit a chunked upload whose bytes do not match the descriptor', async () => {
    const store = open('models/chunked', { uploadStrategy: 'chunked', chunkSize: 64 * 1024 });
    const bytes = randomBytes(200_000);
    const lie = { ...blob(bytes), digest: sha256Digest('something else') };
    const err = await rejection(store.push(lie, bytes));
    expect(err.code).toBe('INVALID');
    expect(await store.exists(lie)).toBe(false);
  });

  it('uploads with a single stream PATCH when asked', async () => {
    const store = open('models/stream', { uploadStrategy: 'stream' });
    const bytes = randomBytes(3 * MiB);
    expect(await store.push(blob(bytes), streamed(bytes))).toEqual({ uploaded: true });
    expect((await store.fetchBytes(blob(bytes), 4 * MiB)).equals(bytes)).toBe(true);
  });

  it('ingests a stream of unknown digest in one read (stream PATCH) and by spooling (monolithic)', async () => {
    const bytes = randomBytes(2 * MiB + 5);
    let reads = 0;
    const once = (): Readable => {
      reads++;
      return streamed(bytes).open();
    };
    const store = open('models/ingest');
    reg.clearAccessLog();
    const r = await store.ingest(LAYER, once());
    expect(r).toEqual({ descriptor: blob(bytes), uploaded: true });
    expect(reads).toBe(1);
    const patch = reg.accessLog().filter((e) => e.method === 'PATCH');
    expect(patch).toHaveLength(1);
    expect((await store.fetchBytes(blob(bytes), 4 * MiB)).equals(bytes)).toBe(true);

    const mono = open('models/ingest-mono', { uploadStrategy: 'monolithic' });
    reg.clearAccessLog();
    expect(await mono.ingest(LAYER, once())).toEqual({ descriptor: blob(bytes), uploaded: true });
    expect(reg.accessLog().filter((e) => e.method === 'PATCH')).toEqual([]);
    // Spooled: the digest is known before the upload, so a second ingest is a HEAD hit.
    expect(await mono.ingest(LAYER, once())).toEqual({ descriptor: blob(bytes), uploaded: false });
  });

  it('pushes a manifest by digest with exact bytes, tags it, resolves by tag and digest', async () => {
    const store = open('models/m');
    const { desc, bytes } = await pushImage(store, randomBytes(1234));
    await store.tag(desc, 'v1');
    expect(await store.resolve('v1')).toEqual(desc);
    expect(await store.resolve(desc.digest)).toEqual(desc);
    expect(await store.resolve(`${reg.host}/models/m:v1`)).toEqual(desc);
    expect((await store.fetchBytes(desc)).equals(bytes)).toBe(true);
    expect(await store.exists(desc)).toBe(true);
    expect(await store.push(desc, bytes)).toEqual({ uploaded: false });
    const nf = await rejection(store.resolve('nope'));
    expect(nf.code).toBe('NOT_FOUND');
    expect(nf.message).toContain('models/m');
  });

  it('refuses manifests over 4 MiB and manifests whose bytes do not match', async () => {
    const store = open('models/m');
    const huge = Buffer.alloc(4 * MiB + 1, 0x20);
    expect((await rejection(store.push(blob(huge, OCI_MANIFEST), huge))).code).toBe('INVALID');
    const bytes = Buffer.from('{"schemaVersion":2}');
    expect((await rejection(store.push({ ...blob(bytes, OCI_MANIFEST), digest: sha256Digest('x') }, bytes))).code).toBe(
      'INVALID',
    );
  });

  it('maintains the sha256-<hex> fallback index for referrers and lists them', async () => {
    const store = open('models/ref');
    const { desc: subject } = await pushImage(store, randomBytes(100));
    const r1 = await pushReferrer(store, subject, 'application/vnd.example.sig', 'one');
    let index = await readFallbackIndex(store, subject);
    expect(index.manifests).toEqual([
      { ...r1, artifactType: 'application/vnd.example.sig', annotations: { 'org.example.note': 'one' } },
    ]);

    const r2 = await pushReferrer(store, subject, 'application/vnd.example.sbom', 'two');
    index = await readFallbackIndex(store, subject);
    expect(index.manifests.map((m) => m.digest)).toEqual([r1.digest, r2.digest]);
    // Re-pushing an existing referrer leaves the index alone.
    await pushReferrer(store, subject, 'application/vnd.example.sig', 'one');
    expect((await readFallbackIndex(store, subject)).manifests).toHaveLength(2);

    const all = await store.referrers(subject);
    expect(all.map((d) => d.digest).sort()).toEqual([r1.digest, r2.digest].sort());
    const sboms = await store.referrers(subject, 'application/vnd.example.sbom');
    expect(sboms.map((d) => d.digest)).toEqual([r2.digest]);
    expect(await store.referrers(r1)).toEqual([]);
  });

  it('keeps both entries when two stores push referrers of one subject concurrently', async () => {
    const a = open('models/race');
    const b = open('models/race');
    const { desc: subject } = await pushImage(a, randomBytes(100));
    const results = await Promise.all([
      pushReferrer(a, subject, 'application/vnd.example.a', 'a1'),
      pushReferrer(b, subject, 'application/vnd.example.b', 'b1'),
      pushReferrer(a, subject, 'application/vnd.example.a', 'a2'),
      pushReferrer(b, subject, 'application/vnd.example.b', 'b2'),
    ]);
    const index = await readFallbackIndex(a, subject);
    expect(index.manifests.map((m) => m.digest).sort()).toEqual(results.map((r) => r.digest).sort());
    expect((await b.referrers(subject, 'application/vnd.example.b')).length).toBe(2);
  });

  it('fails with INVALID when blob bytes were tampered with in the registry storage', async () => {
    const store = open('models/tamper');
    const bytes = randomBytes(50_000);
    await store.push(blob(bytes), bytes);
    const evil = Buffer.from(bytes);
    evil[100] = evil[100]! ^ 0xff;
    await writeFile(reg.blobPath(blob(bytes).digest), evil);
    const err = await rejection(drain(await store.fetch(blob(bytes))));
    expect(err.code).toBe('INVALID');
    expect(err.message).toContain(blob(bytes).digest);
    expect((await rejection(store.fetchBytes(blob(bytes)))).code).toBe('INVALID');
  });

  it('reports a missing blob as NOT_FOUND naming repository and digest', async () => {
    const store = open('models/a');
    const d = blob(randomBytes(10));
    const err = await rejection(store.fetch(d));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toContain('models/a');
    expect(err.message).toContain(d.digest);
    expect(await store.exists(d)).toBe(false);
  });

  it('gives a NETWORK error with a --plain-http hint when https meets a plain-http registry', async () => {
    const store = open('models/a', { plainHttp: false });
    const err = await rejection(store.exists(blob(EMPTY)));
    expect(err.code).toBe('NETWORK');
    expect(err.template.hint).toContain(opt('plainHttp'));
  });

  it('rejects malformed references and repository names with USAGE', () => {
    for (const bad of [
      '',
      'Foo/Bar',
      'localhost:5000/UPPER:tag',
      'ghcr.io/org/x:bad tag',
      'x@sha256:123',
      'https://ghcr.io/x',
      'ghcr.io/a//b',
      'host:99999/x',
    ])
      expect(() => parseReference(bad)).toThrow(expect.objectContaining({ code: 'USAGE' }) as unknown as Error);
    expect(() => open('Not_Valid')).toThrow(expect.objectContaining({ code: 'USAGE' }) as unknown as Error);
  });
});

describe('RegistryStore when the registry is down', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.cleanup();
  });

  it('gives NETWORK "unreachable (ECONNREFUSED)" after bounded retries, and works again after restart', async () => {
    const store = new RegistryStore({
      registry: reg.host,
      repository: 'down/x',
      plainHttp: true,
      retries: 2,
      backoffMs: 10,
      dockerConfig: '/nonexistent',
    });
    try {
      const bytes = randomBytes(100);
      await store.push(blob(bytes), bytes);
      await reg.stop();
      const started = Date.now();
      const err = await rejection(store.exists(blob(bytes)));
      expect(err.code).toBe('NETWORK');
      expect(err.message).toContain(`registry ${reg.host} is unreachable (ECONNREFUSED)`);
      expect(Date.now() - started).toBeLessThan(10_000);
      await reg.restart();
      expect(await store.exists(blob(bytes))).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('RegistryStore with htpasswd (Basic) auth', () => {
  let reg: TestRegistry;
  let dir: string;
  const stores: RegistryStore[] = [];
  const open = (o: Partial<RegistryStoreOptions>): RegistryStore => {
    const s = new RegistryStore({
      registry: reg.host,
      repository: 'basic/x',
      plainHttp: true,
      retries: 1,
      backoffMs: 10,
      dockerConfig: join(dir, 'none.json'),
      ...o,
    });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd', users: { alice: 's3cret-pw' } });
    dir = await mkdtemp(join(tmpdir(), 'modelship-dockercfg-'));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await reg?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('pushes and fetches with the right password', async () => {
    const store = open({ username: 'alice', password: 's3cret-pw' });
    const bytes = randomBytes(5000);
    expect(await store.push(blob(bytes), bytes)).toEqual({ uploaded: true });
    expect((await store.fetchBytes(blob(bytes))).equals(bytes)).toBe(true);
  });

  it('takes credentials from a docker config.json', async () => {
    const cfg = join(dir, 'config.json');
    await writeFile(
      cfg,
      JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('alice:s3cret-pw').toString('base64') } } }),
    );
    const store = open({ dockerConfig: cfg });
    const bytes = randomBytes(100);
    expect(await store.push(blob(bytes), bytes)).toEqual({ uploaded: true });
  });

  it('gives AUTH with a login hint for a wrong password, and for none', async () => {
    const wrong = await rejection(open({ username: 'alice', password: 'nope' }).exists(blob(EMPTY)));
    expect(wrong.code).toBe('AUTH');
    expect(wrong.message).toContain(reg.host);
    expect(wrong.message).toContain('rejected the credentials');
    expect(wrong.hint).toContain(`docker login ${reg.host}`);
    expect(wrong.template.hint).toContain(opt('username'));
    expect(`${wrong.message} ${wrong.hint}`).not.toContain('nope');

    const none = await rejection(open({}).exists(blob(EMPTY)));
    expect(none.code).toBe('AUTH');
    expect(none.message).toContain('no credentials');
  });
});

describe('RegistryStore with token auth', () => {
  let reg: TestRegistry;
  const stores: RegistryStore[] = [];
  const open = (o: Partial<RegistryStoreOptions>): RegistryStore => {
    const s = new RegistryStore({
      registry: reg.host,
      repository: 'tok/x',
      plainHttp: true,
      retries: 1,
      backoffMs: 10,
      dockerConfig: '/nonexistent',
      ...o,
    });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    reg = await startRegistry({
      auth: 'token',
      users: { alice: 'alice-pw', bob: 'bob-pw' },
      access: { alice: { '*': ['pull', 'push'] }, bob: { '*': ['pull'] } },
      tokenExpiresIn: 2,
    });
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await reg?.cleanup();
  });

  it('pushes through the token server with pull,push scope, and mounts with a source pull scope', async () => {
    const store = open({ username: 'alice', password: 'alice-pw' });
    const { desc } = await pushImage(store, randomBytes(2000));
    expect(await store.resolve(desc.digest)).toEqual(desc);
    const ts = reg.tokenServer!;
    expect(ts.issued.some((t) => t.user === 'alice' && t.scopes.includes('repository:tok/x:pull,push'))).toBe(true);

    const other = open({ username: 'alice', password: 'alice-pw', repository: 'tok/y' });
    const bytes = randomBytes(1000);
    await store.push(blob(bytes), bytes);
    expect(await other.push(blob(bytes), bytes, { mountFrom: ['tok/x'] })).toEqual({ uploaded: false, mounted: true });
    expect(
      ts.issued.some(
        (t) => t.scopes.includes('repository:tok/x:pull') && t.scopes.includes('repository:tok/y:pull,push'),
      ),
    ).toBe(true);
  });

  it('downloads a blob as ranges into a file: the first GET meets the challenge, the rest carry the token', async () => {
    const pusher = open({ username: 'alice', password: 'alice-pw', repository: 'tok/ranges' });
    const bytes = randomBytes(3 * MiB + 5);
    const desc = blob(bytes);
    await pusher.push(desc, bytes);
    // A store with no token yet, reading the blob as 512 KiB ranges (the download's worker, blob-receiver.ts, reads each body).
    const store = open({
      username: 'bob',
      password: 'bob-pw',
      repository: 'tok/ranges',
      download: { rangeThreshold: MiB, rangeSize: 512 * 1024, rangeConcurrency: 2 },
    });
    reg.clearAccessLog();
    const dir = await mkdtemp(join(tmpdir(), 'ms-ranges-'));
    try {
      const file = join(dir, 'blob');
      await store.blobDownload!.download(desc, file);
      expect(
        createHash('sha256')
          .update(await readFile(file))
          .digest('hex'),
      ).toBe(desc.digest.slice(7));
      const gets = reg.accessLog().filter((e) => e.method === 'GET' && e.path.includes('/blobs/'));
      expect(gets.filter((e) => e.status === 206).length).toBeGreaterThanOrEqual(7);
      // Each of the 2 first ranges in flight meets the challenge twice (the raw GET hands it
      // back, HttpClient's GET answers it); every later range carries the token.
      expect(gets.filter((e) => e.status === 401).length).toBeLessThanOrEqual(4);
      expect(gets.every((e) => e.status === 206 || e.status === 401)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refreshes a short-lived token before it expires, mid-run, without a 401', async () => {
    const store = open({ username: 'alice', password: 'alice-pw', repository: 'tok/refresh' });
    const ts = reg.tokenServer!;
    reg.clearAccessLog();
    const before = ts.issued.length;
    const bytes = randomBytes(1000);
    await store.push(blob(bytes), bytes);
    const afterFirst = ts.issued.length;
    // Tokens live 2 s here; keep pushing past several lifetimes through one store.
    for (let i = 0; i < 3; i++) {
      await sleep(1300);
      const more = randomBytes(3 * MiB);
      expect(await store.push(blob(more), streamed(more))).toEqual({ uploaded: true });
    }
    expect(ts.issued.length - afterFirst).toBeGreaterThanOrEqual(2);
    expect(afterFirst).toBeGreaterThan(before);
    // Only the very first anonymous request met a challenge; every later one had a valid token.
    expect(reg.accessLog().filter((e) => e.status === 401)).toHaveLength(1);
  });

  it('gives AUTH for a wrong password (token service rejects it) and for push without push rights', async () => {
    const wrong = await rejection(open({ username: 'alice', password: 'bad' }).exists(blob(EMPTY)));
    expect(wrong.code).toBe('AUTH');
    expect(wrong.message).toContain(reg.host);
    expect(wrong.hint).toContain('docker login');

    const bob = open({ username: 'bob', password: 'bob-pw', repository: 'tok/bob' });
    expect(await bob.exists(blob(EMPTY))).toBe(false);
    const bytes = randomBytes(100);
    const denied = await rejection(bob.push(blob(bytes), bytes));
    expect(denied.code).toBe('AUTH');
    expect(denied.message).toContain('tok/bob');
    expect(denied.message).toContain('access denied');
    expect(denied.message).toContain('repository:tok/bob:pull,push');
  });
});

describe('RegistryStore recovery and the referrers API (fault-injecting proxy)', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  const stores: RegistryStore[] = [];
  const open = (repository: string, o: Partial<RegistryStoreOptions> = {}): RegistryStore => {
    const s = new RegistryStore({
      registry: proxy.host,
      repository,
      plainHttp: true,
      retries: 3,
      backoffMs: 10,
      dockerConfig: '/nonexistent',
      ...o,
    });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await proxy?.close();
    await reg?.cleanup();
  });

  it('after a commit PUT that landed but answered 500, HEADs the digest and stops', async () => {
    const store = open('fault/a');
    const bytes = randomBytes(1 * MiB);
    proxy.log = [];
    proxy.faults = [
      { method: 'PUT', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'status', when: 'after', status: 500 } },
    ];
    expect(await store.push(blob(bytes), streamed(bytes))).toEqual({ uploaded: true });
    expect(proxy.log.filter((e) => e.method === 'POST')).toHaveLength(1);
    expect(proxy.log.filter((e) => e.method === 'PUT')).toHaveLength(1);
    expect((await store.fetchBytes(blob(bytes), 2 * MiB)).equals(bytes)).toBe(true);
  });

  it('after a failed commit that did not land, starts over with a new POST and a new Location', async () => {
    const store = open('fault/b');
    const bytes = randomBytes(1 * MiB);
    proxy.log = [];
    proxy.faults = [
      { method: 'PUT', path: /\/blobs\/uploads\//, times: 1, action: { kind: 'status', when: 'before', status: 502 } },
    ];
    expect(await store.push(blob(bytes), streamed(bytes))).toEqual({ uploaded: true });
    expect(proxy.log.filter((e) => e.method === 'POST')).toHaveLength(2);
    const puts = proxy.log.filter((e) => e.method === 'PUT');
    expect(puts).toHaveLength(2);
    expect(puts[0]!.url.split('?')[0]).not.toBe(puts[1]!.url.split('?')[0]);
    // The abandoned session was cancelled.
    expect(proxy.log.some((e) => e.method === 'DELETE' && e.url.split('?')[0] === puts[0]!.url.split('?')[0])).toBe(
      true,
    );
    expect((await store.fetchBytes(blob(bytes), 2 * MiB)).equals(bytes)).toBe(true);
  });

  it('retries 503/429 with Retry-After on replayable requests, bounded', async () => {
    const store = open('fault/c');
    const d = blob(randomBytes(10));
    proxy.log = [];
    proxy.faults = [
      {
        method: 'HEAD',
        path: /\/blobs\//,
        times: 2,
        action: { kind: 'status', when: 'before', status: 429, headers: { 'retry-after': '0' } },
      },
    ];
    expect(await store.exists(d)).toBe(false);
    expect(proxy.log.filter((e) => e.method === 'HEAD')).toHaveLength(3);
    proxy.faults = [
      { method: 'HEAD', path: /\/blobs\//, times: 10, action: { kind: 'status', when: 'before', status: 503 } },
    ];
    const err = await rejection(store.exists(d));
    expect(err.code).toBe('NETWORK');
    expect(err.message).toContain('503');
    proxy.faults = [];
  });

  it('uses the referrers API when present: pagination, server-side and local artifactType filtering', async () => {
    const store = open('api/x');
    const subject = blob(Buffer.from('subject'), OCI_MANIFEST);
    const a: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest('a'), size: 1, artifactType: 'type/a' };
    const b: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest('b'), size: 1, artifactType: 'type/b' };
    let honourFilter = true;
    proxy.referrers = (_repo, digest, url) => {
      const page = url.searchParams.get('page') ?? '1';
      const at = url.searchParams.get('artifactType');
      let list = digest === subject.digest ? (page === '1' ? [a] : [b]) : [];
      const headers: Record<string, string> = { 'content-type': OCI_INDEX };
      if (at && honourFilter) {
        list = list.filter((d) => d.artifactType === at);
        headers['oci-filters-applied'] = 'artifactType';
      }
      if (page === '1' && digest === subject.digest)
        headers['link'] = `<${url.pathname}?page=2${at ? `&artifactType=${encodeURIComponent(at)}` : ''}>; rel="next"`;
      return {
        status: 200,
        headers,
        body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: list }),
      };
    };
    try {
      expect(await store.referrers(subject)).toEqual([a, b]);
      expect(await store.referrers(subject, 'type/b')).toEqual([b]);
      honourFilter = false;
      expect(await store.referrers(subject, 'type/a')).toEqual([a]);
    } finally {
      proxy.referrers = undefined;
    }
  });

  it('does not write a fallback index when the registry answers OCI-Subject', async () => {
    const store = open('api/y');
    const { desc: subject } = await pushImage(store, randomBytes(10));
    proxy.subjectHeader = subject.digest;
    try {
      await pushReferrer(store, subject, 'type/sig', 'n');
    } finally {
      proxy.subjectHeader = undefined;
    }
    expect((await rejection(store.resolve(referrersFallbackTag(subject.digest)))).code).toBe('NOT_FOUND');
  });
});
