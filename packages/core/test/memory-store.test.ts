import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from '@jest/globals';
import { sha256Digest } from '../src/digest.js';
import { OciLayoutStore } from '../src/layout.js';
import { MemoryStore } from '../src/memory-store.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';
import type { ContentStore } from '../src/store.js';

const BLOB = 'application/octet-stream';
const desc = (bytes: Buffer, mediaType = BLOB): Descriptor => ({
  mediaType,
  digest: sha256Digest(bytes),
  size: bytes.length,
});
const EMPTY: Descriptor = { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 };

/** An image manifest over the empty blob; `extra` adds subject, artifactType, annotations. */
function manifest(extra: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {}) {
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY, layers: [EMPTY], ...extra }),
  );
}

const readAll = async (r: Readable): Promise<Buffer> => Buffer.concat((await r.toArray()) as Buffer[]);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('MemoryStore', () => {
  it('round-trips a blob pushed from a stream, and reports a second push as not uploaded', async () => {
    const s = new MemoryStore();
    const bytes = Buffer.from('hello blob');
    const d = desc(bytes);
    expect(await s.exists(d)).toBe(false);
    const progress: number[] = [];
    expect(await s.push(d, { open: () => Readable.from([bytes]) }, { onProgress: (n) => progress.push(n) })).toEqual({
      uploaded: true,
    });
    expect(progress).toEqual([bytes.length]);
    expect(await s.exists(d)).toBe(true);
    expect(await s.exists({ ...d, size: d.size + 1 })).toBe(false);
    expect(await readAll(await s.fetch(d))).toEqual(bytes);
    expect(await s.fetchBytes(d)).toEqual(bytes);
    expect(await s.push(d, bytes)).toEqual({ uploaded: false });
  });

  it('refuses content that does not match its descriptor, and malformed digests', async () => {
    const s = new MemoryStore();
    const d = desc(Buffer.from('right'));
    await expect(s.push(d, Buffer.from('wrong'))).rejects.toMatchObject({ code: 'INVALID' });
    expect(await s.exists(d)).toBe(false);
    await expect(s.exists({ ...d, digest: 'sha256:../../etc' })).rejects.toMatchObject({ code: 'INVALID' });
    await expect(s.fetch(d)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('caps fetchBytes like the real stores', async () => {
    const s = new MemoryStore();
    const bytes = Buffer.alloc(100, 1);
    await s.push(desc(bytes), bytes);
    await expect(s.fetchBytes(desc(bytes), 99)).rejects.toMatchObject({ code: 'INVALID' });
  });

  it('ingests a stream of unknown digest', async () => {
    const s = new MemoryStore();
    const bytes = Buffer.from('ingested');
    const r = await s.ingest(BLOB, Readable.from([bytes.subarray(0, 3), bytes.subarray(3)]));
    expect(r).toEqual({ descriptor: desc(bytes), uploaded: true });
    expect(await s.fetchBytes(r.descriptor)).toEqual(bytes);
  });

  it('resolves tags and digests of manifests only, and tags only what it holds', async () => {
    const s = new MemoryStore();
    const m = manifest();
    const md = desc(m, OCI_MANIFEST);
    await expect(s.tag(md, 'v1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await s.push(md, m);
    await s.tag(md, 'v1');
    expect(await s.resolve('v1')).toEqual(md);
    expect(await s.resolve(md.digest)).toEqual(md);
    await expect(s.resolve('v2')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await s.push(EMPTY, Buffer.from('{}'));
    await expect(s.resolve(EMPTY.digest)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('delete forgets content; setReferrers replaces a listing verbatim', async () => {
    const s = new MemoryStore();
    const bytes = Buffer.from('gone');
    await s.push(desc(bytes), bytes);
    expect(s.delete(desc(bytes))).toBe(true);
    expect(await s.exists(desc(bytes))).toBe(false);
    const subject = desc(manifest(), OCI_MANIFEST);
    const lie: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest('x'), size: 1, artifactType: 'a/b' };
    s.setReferrers(subject, [lie, lie]);
    expect(await s.referrers(subject)).toEqual([lie, lie]);
  });
});

// The referrers contract, run against the memory store and the on-disk layout: the test store
// must answer as the real one does.
describe.each([
  ['MemoryStore', async (): Promise<ContentStore> => new MemoryStore()],
  [
    'OciLayoutStore',
    async (): Promise<ContentStore> => {
      const dir = mkdtempSync(join(tmpdir(), 'memstore-'));
      dirs.push(dir);
      return OciLayoutStore.open(join(dir, 'l'), { create: true });
    },
  ],
])('referrers by subject (%s)', (_name, open) => {
  it('lists manifests pushed with a subject, typed as a referrers response types them, filtered by artifactType', async () => {
    const s = await open();
    const subjectBytes = manifest();
    const subject = desc(subjectBytes, OCI_MANIFEST);
    await s.push(EMPTY, Buffer.from('{}'));
    await s.push(subject, subjectBytes);
    const sig = manifest({ subject, artifactType: 'application/vnd.test.sig', annotations: { a: '1' } });
    const untyped = manifest({ subject, annotations: { b: '2' } });
    const unrelated = manifest({ artifactType: 'application/vnd.test.sig' });
    for (const m of [sig, untyped, unrelated]) await s.push(desc(m, OCI_MANIFEST), m);
    const all = await s.referrers(subject);
    expect(all).toEqual(
      expect.arrayContaining([
        { ...desc(sig, OCI_MANIFEST), artifactType: 'application/vnd.test.sig', annotations: { a: '1' } },
        // No artifactType: an image manifest is typed by its config media type.
        { ...desc(untyped, OCI_MANIFEST), artifactType: OCI_EMPTY, annotations: { b: '2' } },
      ]),
    );
    expect(all).toHaveLength(2);
    expect(await s.referrers(subject, 'application/vnd.test.sig')).toEqual([
      { ...desc(sig, OCI_MANIFEST), artifactType: 'application/vnd.test.sig', annotations: { a: '1' } },
    ]);
    expect(await s.referrers(desc(sig, OCI_MANIFEST))).toEqual([]);
    await s.close();
  });
});
