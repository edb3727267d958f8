import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Digest } from '../src/digest.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor, Index } from '../src/oci.js';
import { addToFallbackIndex, type FallbackIndexIO } from '../src/registry/referrers.js';

/** A tag store with a little latency, counting reads and writes. */
function memoryIO(location: string): FallbackIndexIO & { puts: number; gets: number; index(): Index | undefined } {
  const tags = new Map<string, Buffer>();
  const io = {
    location,
    puts: 0,
    gets: 0,
    async get(tag: string) {
      io.gets++;
      await sleep(2);
      return tags.get(tag);
    },
    async put(tag: string, bytes: Buffer) {
      io.puts++;
      await sleep(2);
      tags.set(tag, bytes);
    },
    index(): Index | undefined {
      const b = [...tags.values()][0];
      return b ? (JSON.parse(b.toString('utf8')) as Index) : undefined;
    },
  };
  return io;
}

const subject = sha256Digest('subject');
const ref = (n: number): Descriptor => ({ mediaType: OCI_MANIFEST, digest: sha256Digest(`referrer ${n}`), size: n });

describe('addToFallbackIndex', () => {
  it('writes referrers that arrive together in one read-modify-write, losing none', async () => {
    const io = memoryIO('reg/a');
    await Promise.all([1, 2, 3, 4, 5].map((n) => addToFallbackIndex(io, subject, ref(n))));
    expect(
      io
        .index()!
        .manifests.map((m) => m.size)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(io.puts).toBe(1);
  });

  it('entries that arrive during a write go into the next one, after it', async () => {
    const io = memoryIO('reg/b');
    const first = addToFallbackIndex(io, subject, ref(1));
    await sleep(10); // the first write is in flight (it pauses after its PUT)
    const later = [2, 3].map((n) => addToFallbackIndex(io, subject, ref(n)));
    await Promise.all([first, ...later]);
    expect(io.index()!.manifests.map((m) => m.size)).toEqual([1, 2, 3]);
    expect(io.puts).toBe(2);
  });

  it('is idempotent: an entry already listed is not written again', async () => {
    const io = memoryIO('reg/c');
    await addToFallbackIndex(io, subject, ref(1));
    const puts = io.puts;
    await Promise.all([addToFallbackIndex(io, subject, ref(1)), addToFallbackIndex(io, subject, ref(1))]);
    expect(io.puts).toBe(puts);
    expect(io.index()!.manifests).toHaveLength(1);
  });

  it('re-applies entries another writer overwrote between our write and the re-read', async () => {
    const io = memoryIO('reg/d');
    const put = io.put.bind(io);
    let clobbered = false;
    io.put = async (tag, bytes, mt) => {
      await put(tag, bytes, mt);
      if (!clobbered) {
        clobbered = true;
        // Another process writes its own view, without ours, right after us.
        await put(
          tag,
          Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: 'application/vnd.oci.image.index.v1+json',
              manifests: [ref(9)],
            }),
          ),
          mt,
        );
      }
    };
    await Promise.all([1, 2].map((n) => addToFallbackIndex(io, subject, ref(n))));
    expect(
      io
        .index()!
        .manifests.map((m) => m.size)
        .sort(),
    ).toEqual([1, 2, 9]);
  });
});
