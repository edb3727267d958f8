import { describe, expect, it } from '@jest/globals';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatTimings, Timings } from '../src/timings.js';

/** A clock the test moves by hand. */
function clock(): { now: () => number; at: (t: number) => void } {
  let t = 0;
  return { now: () => t, at: (v) => (t = v) };
}

describe('timings: busy time per kind', () => {
  it('counts overlapping intervals of one kind as their union (4 parallel uploads over 1 s = 1 s)', () => {
    const c = clock();
    const t = new Timings(c.now);
    const ends = [0, 1, 2, 3].map(() => t.begin('network'));
    c.at(1000);
    for (const end of ends) end();
    c.at(1500);
    expect(t.summary()).toMatchObject({ networkMs: 1000, hashingMs: 0, diskMs: 0, overlapMs: 0, wallMs: 1500 });
  });

  it('adds disjoint intervals and joins staggered ones', () => {
    const c = clock();
    const t = new Timings(c.now);
    const a = t.begin('disk');
    c.at(100);
    const b = t.begin('disk'); // overlaps a from 100 to 200
    c.at(200);
    a();
    c.at(300);
    b(); // union so far: 0..300
    c.at(1000);
    const d = t.begin('disk');
    c.at(1250);
    d();
    d(); // a second end does nothing
    expect(t.summary().diskMs).toBe(550);
  });

  it('keeps kinds apart and says how long two of them overlapped', () => {
    const c = clock();
    const t = new Timings(c.now);
    const net = t.begin('network');
    c.at(1000);
    const hash = t.begin('hashing');
    c.at(3000);
    net();
    c.at(4000);
    hash();
    t.stop();
    c.at(9000); // after stop: the wall clock keeps its end
    expect(t.summary()).toEqual({
      networkMs: 3000,
      hashingMs: 3000,
      diskMs: 0,
      overlapMs: 2000,
      wallMs: 4000,
      bytes: 0,
    });
  });

  it('an interval still open counts up to now', () => {
    const c = clock();
    const t = new Timings(c.now);
    t.begin('hashing');
    c.at(700);
    expect(t.summary().hashingMs).toBe(700);
  });

  it('time() closes its interval when the work fails', async () => {
    const t = new Timings();
    await expect(t.time('network', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const end = t.begin('disk');
    end();
    // Both closed: a later summary does not grow.
    const a = t.summary();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.summary().networkMs).toBe(a.networkMs);
  });

  it('source() passes every byte through and counts waiting on the source, not on the reader', async () => {
    const t = new Timings();
    const chunks = Array.from({ length: 5 }, (_, i) => Buffer.alloc(1000, i));
    // A source that takes ~30 ms per chunk and a reader that takes ~30 ms per chunk.
    const slow = Readable.from(
      (async function* () {
        for (const c of chunks) {
          await new Promise((r) => setTimeout(r, 30));
          yield c;
        }
      })(),
      { objectMode: false },
    );
    const got: Buffer[] = [];
    await pipeline(
      t.source('network', slow),
      new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _e, cb) {
          got.push(chunk);
          setTimeout(cb, 30);
        },
      }),
    );
    t.stop();
    const s = t.summary();
    expect(Buffer.concat(got).equals(Buffer.concat(chunks))).toBe(true);
    expect(s.networkMs).toBeGreaterThan(0);
    // Not the whole run: the reader's own time is not network time.
    expect(s.networkMs).toBeLessThan(s.wallMs);
  });

  it('source() forwards the source error and destroying it destroys the source', async () => {
    const t = new Timings();
    const failing = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(pipeline(t.source('network', failing), new Writable({ write: (_c, _e, cb) => cb() }))).rejects.toThrow(
      'connection reset',
    );
    const endless = new Readable({ read() {} });
    const wrapped = t.source('disk', endless);
    endless.push(Buffer.from('x'));
    await new Promise<void>((resolve) => wrapped.once('data', () => resolve()));
    wrapped.destroy();
    await new Promise((r) => setImmediate(r));
    expect(endless.destroyed).toBe(true);
  });
});

describe('formatTimings', () => {
  it('prints busy kinds, the overlap, bytes, wall time and rate', () => {
    expect(
      formatTimings({
        networkMs: 6100,
        hashingMs: 2300,
        diskMs: 800,
        overlapMs: 2200,
        wallMs: 7000,
        bytes: 4 * 1024 ** 3,
      }),
    ).toBe('busy: network 6.1 s, hashing 2.3 s, disk 0.8 s (2.2 s overlapped); 4.0 GiB in 7.0 s, 613.6 MB/s');
  });

  it('leaves out idle kinds and prints no rate when nothing moved', () => {
    const line = formatTimings({ networkMs: 400, hashingMs: 0, diskMs: 0, overlapMs: 0, wallMs: 420, bytes: 0 });
    expect(line).toBe('busy: network 0.4 s; nothing transferred, 0.4 s');
    expect(line).not.toMatch(/MB\/s/);
  });
});
