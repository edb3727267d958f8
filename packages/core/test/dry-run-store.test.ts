import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { copyGraph } from '../src/copy.js';
import { sha256Digest } from '../src/digest.js';
import { DryRunStore } from '../src/dry-run-store.js';
import { MemoryStore } from '../src/memory-store.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';

const EMPTY: Descriptor = { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 };

function described(text: string, mediaType = 'application/octet-stream'): { desc: Descriptor; bytes: Buffer } {
  const bytes = Buffer.from(text);
  return { desc: { mediaType, digest: sha256Digest(bytes), size: bytes.length }, bytes };
}

function manifestOf(layers: Descriptor[], subject?: Descriptor): { desc: Descriptor; bytes: Buffer } {
  const doc = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: EMPTY, layers, ...(subject ? { subject } : {}) };
  return described(JSON.stringify(doc), OCI_MANIFEST);
}

/** A source holding a manifest (empty config, two layers) and a referrer with one blob. */
async function source(): Promise<{ src: MemoryStore; root: Descriptor; layers: Descriptor[] }> {
  const src = new MemoryStore('src');
  await src.push(EMPTY, Buffer.from('{}'));
  const layers = [described('weights'), described('readme')];
  for (const l of layers) await src.push(l.desc, l.bytes);
  const root = manifestOf(layers.map((l) => l.desc));
  await src.push(root.desc, root.bytes);
  const bundle = described('bundle');
  await src.push(bundle.desc, bundle.bytes);
  const ref = manifestOf([bundle.desc], root.desc);
  await src.push(ref.desc, ref.bytes);
  return { src, root: root.desc, layers: layers.map((l) => l.desc) };
}

describe('DryRunStore: writes nothing, logs what a real run would write', () => {
  it('a graph copy into it leaves the target as it was and logs blobs, manifests and referrers', async () => {
    const { src, root, layers } = await source();
    const target = new MemoryStore('dst');
    await target.push(EMPTY, Buffer.from('{}')); // the target has the config already
    const dry = new DryRunStore(target, 'dst');
    const stats = await copyGraph(src, dry, root, { tags: ['v1'] });
    expect(await target.exists(layers[0]!)).toBe(false);
    expect(await target.exists(root)).toBe(false);
    await expect(target.resolve('v1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // The same counts a real copy reports: config present, 2 layers + the bundle to copy.
    expect(stats).toMatchObject({ blobsCopied: 3, blobsSkipped: 1, manifestsCopied: 2, referrersCopied: 1 });
    const kinds = dry.dryRun.writes.map((w) => [w.kind, w.present]);
    expect(kinds.filter(([k]) => k === 'blob')).toHaveLength(4);
    expect(kinds).toContainEqual(['blob', true]);
    expect(kinds).toContainEqual(['manifest', false]);
    expect(kinds).toContainEqual(['referrer', false]);
    expect(dry.dryRun.writes.find((w) => w.kind === 'referrer')!.subject).toBe(root.digest);
    expect(dry.dryRun.tags).toEqual([{ tag: 'v1', descriptor: root }]);
  });

  it('a second copy in the same run counts what the first "wrote" as present', async () => {
    const { src, root } = await source();
    const dry = new DryRunStore(undefined, 'new');
    await copyGraph(src, dry, root);
    const again = await copyGraph(src, dry, root);
    expect(again).toMatchObject({ blobsCopied: 0, manifestsCopied: 0 });
  });

  it('ingest hashes the stream it is given (one read) and refuses a length other than announced', async () => {
    const dry = new DryRunStore(undefined, 'new');
    const r = await dry.ingest('application/octet-stream', Readable.from([Buffer.from('abc'), Buffer.from('def')]));
    expect(r).toEqual({
      descriptor: { mediaType: 'application/octet-stream', digest: sha256Digest('abcdef'), size: 6 },
      uploaded: true,
    });
    await expect(
      dry.ingest('application/octet-stream', Readable.from([Buffer.from('abc')]), { size: 4 }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('a tag that names another digest in the target is logged with what it names now', async () => {
    const { src, root } = await source();
    const target = new MemoryStore('dst');
    const old = manifestOf([]);
    await target.push(EMPTY, Buffer.from('{}'));
    await target.push(old.desc, old.bytes);
    await target.tag(old.desc, 'v1');
    const dry = new DryRunStore(target, 'dst');
    await copyGraph(src, dry, root, { tags: ['v1'] });
    expect(dry.dryRun.tags).toEqual([{ tag: 'v1', descriptor: root, current: old.desc.digest }]);
    expect((await target.resolve('v1')).digest).toBe(old.desc.digest);
  });
});
