import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ModelshipError } from '../src/errors.js';
import { hashFile, hashFiles } from '../src/hash-pool.js';

const expected = (p: string): string => `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;

describe('hash pool', () => {
  let dir: string;
  let files: string[];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ms-hash-'));
    const sizes = [0, 1, 4096, 4 * 1024 * 1024 - 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024 + 17, 333];
    files = sizes.map((n, i) => {
      const p = join(dir, `f${i}.bin`);
      writeFileSync(p, randomBytes(n));
      return p;
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('matches node crypto for empty, tiny, buffer-boundary and multi-MiB files, in input order', async () => {
    const got = await hashFiles(files, { concurrency: 3 });
    expect(got).toEqual(files.map((p) => ({ digest: expected(p), size: readFileSync(p).length })));
    expect(got[0]).toEqual({
      digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      size: 0,
    });
  });

  it('gives the same answers at any concurrency and when calls overlap (shared pool)', async () => {
    const [a, b, c] = await Promise.all([
      hashFiles(files, { concurrency: 1 }),
      hashFiles([...files].reverse(), { concurrency: 8 }),
      hashFile(files[6]!),
    ]);
    expect(b).toEqual([...a].reverse());
    expect(c).toEqual(a[6]);
  });

  it('hashes a file inside a frame (head + file + zero tail) in the same read, next to its own digest', async () => {
    const head = Buffer.from('a one-file tar header, say');
    const [plain, framed] = await hashFiles([files[6]!, { path: files[6]!, frame: { head, tailZeros: 1535 } }]);
    expect(framed!.digest).toBe(plain!.digest);
    expect(plain!.framedDigest).toBeUndefined();
    const whole = Buffer.concat([head, readFileSync(files[6]!), Buffer.alloc(1535)]);
    expect(framed!.framedDigest).toBe(`sha256:${createHash('sha256').update(whole).digest('hex')}`);
  });

  it('reports a running byte total that ends at the total size', async () => {
    const seen: number[] = [];
    const got = await hashFiles(files, { onProgress: (n) => seen.push(n) });
    const total = got.reduce((s, r) => s + r.size, 0);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[seen.length - 1]).toBe(total);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
  });

  it('fails with INPUT naming a missing file, and the pool keeps working', async () => {
    const missing = join(dir, 'nope.bin');
    const err = await hashFiles([files[1]!, missing]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelshipError);
    expect((err as ModelshipError).code).toBe('INPUT');
    expect((err as ModelshipError).message).toContain(missing);
    expect(await hashFile(files[2]!)).toEqual({ digest: expected(files[2]!), size: 4096 });
  });

  it('fails with INPUT for a directory', async () => {
    await expect(hashFile(dir)).rejects.toMatchObject({ code: 'INPUT', message: expect.stringContaining('directory') });
  });

  it('stops on abort', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(hashFiles(files, { signal: ac.signal })).rejects.toThrow('stop');
    expect(await hashFile(files[3]!)).toEqual({ digest: expected(files[3]!), size: 4 * 1024 * 1024 - 1 });
  });

  it('abandons a file in flight on abort and the worker stays usable', async () => {
    const big = join(dir, 'sparse.bin');
    writeFileSync(big, '');
    truncateSync(big, 512 * 1024 * 1024);
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(new Error('cancelled by test')), 20);
    await expect(hashFiles([big], { signal: ac.signal, concurrency: 1 })).rejects.toThrow('cancelled by test');
    expect(Date.now() - started).toBeLessThan(300);
    expect(await hashFile(files[2]!)).toEqual({ digest: expected(files[2]!), size: 4096 });
  });

  it('returns [] for no files', async () => {
    expect(await hashFiles([])).toEqual([]);
  });
});
