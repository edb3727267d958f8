import { describe, expect, it } from '@jest/globals';
import { copyGraph } from '../src/copy.js';
import { sha256Digest } from '../src/digest.js';
import { MemoryStore } from '../src/memory-store.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';

const BLOB = 'application/octet-stream';
const EMPTY: Descriptor = { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 };

async function blob(store: MemoryStore, text: string): Promise<Descriptor> {
  const bytes = Buffer.from(text);
  const d: Descriptor = { mediaType: BLOB, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(d, bytes);
  return d;
}

async function manifest(
  store: MemoryStore,
  layers: Descriptor[],
  o: { subject?: Descriptor; mediaType?: string; manifests?: Descriptor[] } = {},
): Promise<{ desc: Descriptor; bytes: Buffer }> {
  const mediaType = o.mediaType ?? OCI_MANIFEST;
  const doc = o.manifests
    ? { schemaVersion: 2, mediaType, manifests: o.manifests }
    : { schemaVersion: 2, mediaType, config: EMPTY, layers, ...(o.subject ? { subject: o.subject } : {}) };
  const bytes = Buffer.from(JSON.stringify(doc));
  const desc: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(desc, bytes);
  return { desc, bytes };
}

/** A source with a model manifest (config + two layers) and a signature-like referrer. */
async function source(): Promise<{
  src: MemoryStore;
  root: Descriptor;
  rootBytes: Buffer;
  layers: Descriptor[];
  referrer: Descriptor;
  referrerBytes: Buffer;
  bundle: Descriptor;
}> {
  const src = new MemoryStore('src');
  await src.push(EMPTY, Buffer.from('{}'));
  const layers = [await blob(src, 'weights'), await blob(src, 'readme')];
  const root = await manifest(src, layers);
  const bundle = await blob(src, 'bundle');
  const referrer = await manifest(src, [bundle], { subject: root.desc });
  return {
    src,
    root: root.desc,
    rootBytes: root.bytes,
    layers,
    referrer: referrer.desc,
    referrerBytes: referrer.bytes,
    bundle,
  };
}

describe('copyGraph', () => {
  it('copies manifest, config, layers and referrers into an empty target, then skips all of it', async () => {
    const { src, root, layers, referrer, bundle } = await source();
    const dst = new MemoryStore('dst');
    const first = await copyGraph(src, dst, root, { tags: ['v1'] });
    expect(first).toMatchObject({ manifestsCopied: 2, referrersCopied: 1, blobsCopied: 4 });
    for (const d of [root, EMPTY, ...layers, referrer, bundle]) expect(await dst.exists(d)).toBe(true);
    expect((await dst.resolve('v1')).digest).toBe(root.digest);
    const again = await copyGraph(src, dst, root);
    expect(again).toMatchObject({ manifestsCopied: 0, manifestsSkipped: 2, blobsCopied: 0, bytesCopied: 0 });
  });

  // A present manifest does not prove its children are: an interrupted copy by another tool, a
  // registry GC, a layout whose blob was removed. The copy must complete it, not skip it.
  it('completes a target that holds the manifest but lacks one of its layers', async () => {
    const { src, root, rootBytes, layers } = await source();
    const dst = new MemoryStore('dst');
    await dst.push(EMPTY, Buffer.from('{}'));
    await dst.push(layers[1]!, Buffer.from('readme'));
    await dst.push(root, rootBytes); // the memory store, like a broken target, accepts it
    expect(await dst.exists(layers[0]!)).toBe(false);
    const outcomes: string[] = [];
    const stats = await copyGraph(src, dst, root, {
      referrers: false,
      onBlob: (d, outcome) => outcomes.push(`${d.digest}:${outcome}`),
    });
    expect(await dst.exists(layers[0]!)).toBe(true);
    expect(await dst.fetchBytes(layers[0]!)).toEqual(Buffer.from('weights'));
    expect(stats).toMatchObject({ manifestsSkipped: 1, manifestsCopied: 0, blobsCopied: 1, blobsSkipped: 2 });
    expect(outcomes).toContain(`${layers[0]!.digest}:copied`);
  });

  it('completes a present referrer whose bundle blob is missing', async () => {
    const { src, root, rootBytes, layers, referrer, referrerBytes, bundle } = await source();
    const dst = new MemoryStore('dst');
    await dst.push(EMPTY, Buffer.from('{}'));
    await dst.push(layers[0]!, Buffer.from('weights'));
    await dst.push(layers[1]!, Buffer.from('readme'));
    await dst.push(root, rootBytes);
    await dst.push(referrer, referrerBytes);
    await copyGraph(src, dst, root);
    expect(await dst.fetchBytes(bundle)).toEqual(Buffer.from('bundle'));
  });

  it('completes a child manifest of a present index', async () => {
    const { src, root, rootBytes, layers } = await source();
    const index = await manifest(src, [], { mediaType: OCI_INDEX, manifests: [root] });
    const dst = new MemoryStore('dst');
    await dst.push(root, rootBytes);
    await dst.push(index.desc, index.bytes);
    await copyGraph(src, dst, index.desc, { referrers: false });
    for (const d of [EMPTY, ...layers]) expect(await dst.exists(d)).toBe(true);
  });

  it('after a GC of a blob in a complete copy, a re-run moves exactly that blob', async () => {
    const { src, root, layers } = await source();
    const dst = new MemoryStore('dst');
    await copyGraph(src, dst, root);
    dst.delete(layers[1]!);
    const stats = await copyGraph(src, dst, root);
    expect(stats.blobsCopied).toBe(1);
    expect(stats.bytesCopied).toBe(layers[1]!.size);
    expect(await dst.exists(layers[1]!)).toBe(true);
  });
});
