import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TrailingHash } from '../src/trailing-hash.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1024 * 1024;

/** `data` copied into shared memory, as raw-get.ts's receive buffers are. */
function shared(data: Buffer): Buffer {
  const b = Buffer.from(new SharedArrayBuffer(data.length));
  data.copy(b);
  return b;
}

describe('TrailingHash', () => {
  let dir: string;
  const data = randomBytes(5 * MiB + 123);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'modelship-trailing-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `data[from, to)` into the file at its offset. */
  const put = (path: string, from: number, to: number): void => {
    const fd = openSync(path, 'r+');
    writeSync(fd, data, from, to - from, from);
    closeSync(fd);
  };
  const fresh = (name: string): string => {
    const p = join(dir, name);
    closeSync(openSync(p, 'w'));
    return p;
  };

  it('hashes chunks offered in order from memory, without reading the file', async () => {
    // The file stays empty: a read back would end early and fail the hash.
    const h = new TrailingHash(fresh('memory'), data.length);
    const acks: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += MiB) {
      const chunk = shared(data.subarray(at, Math.min(data.length, at + MiB)));
      const ack = h.offer([chunk], at);
      expect(ack).toBeInstanceOf(Promise);
      acks.push(ack!);
    }
    await Promise.all(acks);
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('copies chunks that are not in shared memory', async () => {
    const h = new TrailingHash(fresh('copied'), data.length);
    const half = 2 * MiB + 7;
    expect(h.offer([data.subarray(0, half)], 0)).toBeUndefined();
    expect(h.offer([data.subarray(half, half + 5), data.subarray(half + 5)], half)).toBeUndefined();
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('reads back what was written ahead of it, then goes on from memory', async () => {
    const path = fresh('ahead');
    const h = new TrailingHash(path, data.length);
    // A second range writes [3 MiB, 4 MiB) first: ignored until the prefix reaches it.
    put(path, 3 * MiB, 4 * MiB);
    expect(h.offer([shared(data.subarray(3 * MiB, 4 * MiB))], 3 * MiB)).toBeUndefined();
    h.advance(0);
    // The first range: [0, 3 MiB) in order, from memory.
    for (let at = 0; at < 3 * MiB; at += MiB) {
      put(path, at, at + MiB);
      await h.offer([shared(data.subarray(at, at + MiB))], at);
    }
    // Now the prefix reaches 4 MiB: [3, 4) MiB is read back from the file.
    h.advance(4 * MiB);
    // A chunk overlapping what was read is hashed from where the hash stands.
    put(path, 4 * MiB - 10, data.length);
    await h.offer([shared(data.subarray(4 * MiB - 10))], 4 * MiB - 10);
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('hashes bytes an earlier run kept from the file', async () => {
    const path = fresh('kept');
    put(path, 0, 2 * MiB);
    const h = new TrailingHash(path, data.length);
    h.advance(2 * MiB);
    put(path, 2 * MiB, data.length);
    await h.offer([shared(data.subarray(2 * MiB))], 2 * MiB);
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('gets the wrong digest for wrong bytes, and an error for a file shorter than said', async () => {
    const bad = Buffer.from(data);
    bad[MiB] ^= 1;
    const h = new TrailingHash(fresh('bad'), bad.length);
    h.offer([bad], 0);
    const got = await h.result;
    expect(got.digest).not.toBe(sha(data));
    expect(got.digest).toBe(sha(bad));

    const short = new TrailingHash(fresh('short'), data.length);
    short.advance(MiB);
    await expect(short.result).rejects.toThrow(/ended at byte 0/);
  });

  it('ends with an error when abandoned, and frees waiting chunks', async () => {
    const h = new TrailingHash(fresh('abandoned'), data.length);
    const ack = h.offer([shared(data.subarray(0, MiB))], 0);
    h.abandon();
    await ack;
    await expect(h.result).rejects.toThrow(/abandoned/);
  });

  it('hashes an empty blob', async () => {
    const h = new TrailingHash(fresh('empty'), 0);
    await expect(h.result).resolves.toEqual({ digest: sha(Buffer.alloc(0)), size: 0 });
  });
});
