import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { cachedHashFiles, DigestCache, defaultCacheDir, fileIdentity } from '../src/digest-cache.js';

const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
/** A past mtime, outside the racy window. */
const OLD = new Date(Date.now() - 3600_000);

describe('digest cache', () => {
  let dir: string;
  let cacheDir: string;
  const file = (name: string, content: string): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    utimesSync(p, OLD, OLD);
    return p;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ms-cache-'));
    cacheDir = join(dir, 'cache');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves the cache dir from MODELSHIP_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ MODELSHIP_CACHE_DIR: '/a/b', XDG_CACHE_HOME: '/x' })).toBe('/a/b');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/modelship');
    expect(defaultCacheDir({})).toMatch(/\.cache\/modelship$/);
  });

  it('hits on an unchanged file, across a save and re-open', async () => {
    const a = file('a.bin', 'hello');
    const b = file('b.bin', 'world!');
    const c1 = await DigestCache.open(cacheDir);
    const r1 = await cachedHashFiles([a, b], c1);
    expect(r1).toEqual({
      digests: [
        { digest: sha('hello'), size: 5 },
        { digest: sha('world!'), size: 6 },
      ],
      hits: 0,
      misses: 2,
    });
    expect(existsSync(join(cacheDir, 'digests.json'))).toBe(true);

    const c2 = await DigestCache.open(cacheDir);
    const r2 = await cachedHashFiles([a, b], c2);
    expect(r2).toEqual({ ...r1, hits: 2, misses: 0 });
  });

  it('serves a cached (even wrong) value without reading the file: proof that it does not re-hash', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    cache.set(await fileIdentity(a), 'raw', { digest: sha('planted'), size: 5 });
    const r = await cachedHashFiles([a], cache);
    expect(r.digests[0]!.digest).toBe(sha('planted'));
    expect(r.hits).toBe(1);
  });

  it('misses after a touch (mtime change only)', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    await cachedHashFiles([a], cache);
    const later = new Date(OLD.getTime() + 1000);
    utimesSync(a, later, later);
    expect(cache.get(await fileIdentity(a), 'raw')).toBeUndefined();
    expect((await cachedHashFiles([a], cache)).misses).toBe(1);
  });

  it('misses after a same-size content change (in place, mtime moves)', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    await cachedHashFiles([a], cache);
    writeFileSync(a, 'HELLO');
    const r = await cachedHashFiles([a], cache);
    expect(r.misses).toBe(1);
    expect(r.digests[0]).toEqual({ digest: sha('HELLO'), size: 5 });
  });

  it('misses after a same-size replacement with the mtime put back (new inode)', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    await cachedHashFiles([a], cache);
    // Replace the file as downloaders do; the old inode stays alive aside so it cannot be reused.
    renameSync(a, join(dir, 'a.old'));
    writeFileSync(a, 'HELLO');
    utimesSync(a, OLD, OLD);
    const r = await cachedHashFiles([a], cache);
    expect(r.misses).toBe(1);
    expect(r.digests[0]).toEqual({ digest: sha('HELLO'), size: 5 });
  });

  it('keys by variant: a tar-layer digest does not answer for raw', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    const id = await fileIdentity(a);
    cache.set(id, 'tar+gzip', { digest: sha('layer'), size: 99, diffId: sha('tar') });
    expect(cache.get(id, 'raw')).toBeUndefined();
    expect(cache.get(id, 'tar+gzip')).toEqual({ digest: sha('layer'), size: 99, diffId: sha('tar') });
    await cache.save();
    expect((await DigestCache.open(cacheDir)).get(id, 'tar+gzip')).toEqual({
      digest: sha('layer'),
      size: 99,
      diffId: sha('tar'),
    });
  });

  it('accepts stat-like records with millisecond mtimes and relative paths resolved via absPath', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    const id = await fileIdentity(a);
    const record = {
      path: 'a.bin',
      absPath: a,
      size: 5,
      mtimeMs: id.mtimeMs,
      ino: Number(id.ino),
      dev: Number(id.dev),
    };
    cache.set(record, 'raw', { digest: sha('hello'), size: 5 });
    expect(cache.get(id, 'raw')).toEqual({ digest: sha('hello'), size: 5 });
    expect(cache.get({ ...record, mtimeMs: id.mtimeMs + 1 }, 'raw')).toBeUndefined();
  });

  it('does not cache a file modified just before hashing (racy window)', async () => {
    const p = join(dir, 'fresh.bin');
    writeFileSync(p, 'fresh');
    const cache = await DigestCache.open(cacheDir);
    const r = await cachedHashFiles([p], cache);
    expect(r.misses).toBe(1);
    expect(cache.get(await fileIdentity(p), 'raw')).toBeUndefined();
    expect((await cachedHashFiles([p], cache, { racyWindowMs: 0 })).misses).toBe(1);
    expect(cache.get(await fileIdentity(p), 'raw')).toEqual({ digest: sha('fresh'), size: 5 });
  });

  it('does not cache a file that changed while it was being hashed', async () => {
    const big = join(dir, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, 512 * 1024 * 1024);
    utimesSync(big, OLD, OLD);
    const cache = await DigestCache.open(cacheDir);
    const touched = new Date(OLD.getTime() + 5000);
    setTimeout(() => utimesSync(big, touched, touched), 20);
    const r = await cachedHashFiles([big], cache, { concurrency: 1 });
    expect(r.misses).toBe(1);
    const now = await fileIdentity(big);
    expect(Math.abs(now.mtimeMs - touched.getTime())).toBeLessThan(0.01);
    expect(cache.get(now, 'raw')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('tolerates a corrupt or foreign cache file (starts empty) and replaces it', async () => {
    const a = file('a.bin', 'hello');
    for (const junk of ['{"version":1,"entries":', 'null', '[]', '{"version":99,"entries":{}}', '\u0000\u0001']) {
      rmSync(cacheDir, { recursive: true, force: true });
      mkdirSync(cacheDir, { recursive: true });
      writeFileSync(join(cacheDir, 'digests.json'), junk);
      const cache = await DigestCache.open(cacheDir);
      expect(cache.size).toBe(0);
      expect((await cachedHashFiles([a], cache)).misses).toBe(1);
      expect(JSON.parse(readFileSync(join(cacheDir, 'digests.json'), 'utf8')).version).toBe(1);
    }
  });

  it('drops malformed entries but keeps good ones', async () => {
    const a = file('a.bin', 'hello');
    const cache = await DigestCache.open(cacheDir);
    await cachedHashFiles([a], cache);
    const path = join(cacheDir, 'digests.json');
    const body = JSON.parse(readFileSync(path, 'utf8'));
    body.entries['raw\u0000/evil'] = { digest: '../../etc/passwd', size: 1 };
    writeFileSync(path, JSON.stringify(body));
    const reopened = await DigestCache.open(cacheDir);
    expect(reopened.size).toBe(1);
    expect(reopened.get(await fileIdentity(a), 'raw')?.digest).toBe(sha('hello'));
  });

  it('writes atomically: no temp files left, and a reader never sees a partial file', async () => {
    const files = Array.from({ length: 200 }, (_, i) => file(`f${i}.bin`, `content ${i}`));
    const cache = await DigestCache.open(cacheDir);
    await cachedHashFiles(files, cache);
    const path = join(cacheDir, 'digests.json');
    // Two writers racing with a reader: every read parses.
    const c1 = await DigestCache.open(cacheDir);
    const c2 = await DigestCache.open(cacheDir);
    let reads = 0;
    const reader = (async () => {
      for (let i = 0; i < 200; i++) {
        JSON.parse(readFileSync(path, 'utf8'));
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const writers = (async () => {
      for (let i = 0; i < 20; i++) {
        const id = await fileIdentity(files[i]!);
        c1.set(id, `v1-${i}`, { digest: sha(`a${i}`), size: 1 });
        c2.set(id, `v2-${i}`, { digest: sha(`b${i}`), size: 1 });
        await Promise.all([c1.save(), c2.save()]);
      }
    })();
    await Promise.all([reader, writers]);
    expect(reads).toBe(200);
    expect(readdirSync(cacheDir)).toEqual(['digests.json']);
    // Racing saves: last writer wins. Sequential saves merge what is on disk, so both survive.
    const id = await fileIdentity(files[0]!);
    c1.set(id, 'only-c1', { digest: sha('c1'), size: 1 });
    await c1.save();
    c2.set(id, 'only-c2', { digest: sha('c2'), size: 1 });
    await c2.save();
    const merged = await DigestCache.open(cacheDir);
    expect(merged.get(id, 'only-c1')).toBeDefined();
    expect(merged.get(id, 'only-c2')).toBeDefined();
    expect(merged.get(id, 'raw')).toBeDefined();
  });

  it('is bounded: the least recently used entries go first', async () => {
    const files = Array.from({ length: 5 }, (_, i) => file(`f${i}.bin`, `c${i}`));
    const cache = await DigestCache.open(cacheDir, { maxEntries: 3 });
    for (const f of files) {
      cache.set(await fileIdentity(f), 'raw', { digest: sha(f), size: 2 });
      await new Promise((r) => setTimeout(r, 2));
    }
    await cache.save();
    expect(cache.size).toBe(3);
    const reopened = await DigestCache.open(cacheDir);
    expect(reopened.get(await fileIdentity(files[0]!), 'raw')).toBeUndefined();
    expect(reopened.get(await fileIdentity(files[4]!), 'raw')).toBeDefined();
  });

  it('fails with INPUT naming a missing file', async () => {
    const cache = await DigestCache.open(cacheDir);
    const missing = join(dir, 'missing.bin');
    await expect(cachedHashFiles([missing], cache)).rejects.toMatchObject({
      code: 'INPUT',
      message: expect.stringContaining(missing),
    });
  });
});
