import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { sha256Digest } from '../src/digest.js';
import { MemoryStore } from '../src/memory-store.js';
import { isManifestMediaType } from '../src/manifest.js';
import { OCI_IMAGE_CONFIG, OCI_INDEX, OCI_LAYER_TAR } from '../src/mediatypes.js';
import type { Descriptor, Index, Manifest } from '../src/oci.js';
import { buildCnaiVariant, buildManifest } from '../src/pack-manifest.js';
import { pack, type PackResult } from '../src/pack.js';
import type { PushOptions, PushResult, BlobSource } from '../src/store.js';
import { buildVariantLink, linkedVariants } from '../src/variants/link.js';
import { modelcarLayerStream } from '../src/variants/modelcar.js';
import { copyWithVariants } from '../src/variants/publish.js';
import { checkVariant, variantsToCover } from '../src/variants/record.js';
import { safetensors, tempDir, writeTree } from './modelpack-fixtures.js';
import { rejection } from './rejection.js';
import { discoverReferrers } from '../src/verify/discover.js';

const tmp = tempDir('variants-');
afterAll(() => tmp.cleanup());

/** A MemoryStore that counts the bytes of blobs (not manifests) it was given. */
class CountingStore extends MemoryStore {
  blobBytes = 0;
  override async push(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions = {}): Promise<PushResult> {
    const r = await super.push(desc, source, options);
    if (r.uploaded && !isManifestMediaType(desc.mediaType)) this.blobBytes += desc.size;
    return r;
  }
}

let n = 0;
function model(): string {
  const dir = join(tmp.dir, `model-${n++}`);
  writeTree(dir, {
    'config.json': JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama' }),
    'model.safetensors': safetensors({ w: { dtype: 'F16', shape: [64, 64] } }),
    'README.md': '---\nlicense: mit\n---\n# tiny\n',
    'tokenizer/tokenizer.json': '{"version":"1.0"}',
    'run.sh': '#!/bin/sh\necho hi\n',
  });
  chmodSync(join(dir, 'run.sh'), 0o755);
  return dir;
}

async function packWith(store: MemoryStore, dir: string, names: ('cnai' | 'modelcar')[]): Promise<PackResult> {
  return pack({ dir, target: store, tags: ['v1'], cache: null, gitLfs: false, variants: { names } });
}

async function manifestOf<T = Manifest>(store: MemoryStore, d: Descriptor): Promise<T> {
  return JSON.parse((await store.fetchBytes(d)).toString('utf8')) as T;
}

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  body: Buffer;
}

async function tarEntries(bytes: Buffer): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const extract = tarStream.extract();
  const done = (async () => {
    for await (const e of extract) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      const h = e.header;
      out.push({
        name: h.name,
        type: h.type!,
        mode: h.mode!,
        mtime: h.mtime!.getTime(),
        uid: h.uid!,
        gid: h.gid!,
        uname: h.uname ?? '',
        gname: h.gname ?? '',
        body: Buffer.concat(chunks),
      });
    }
  })();
  Readable.from([bytes]).pipe(extract as unknown as NodeJS.WritableStream);
  await done;
  return out;
}

describe('cnai variant', () => {
  it('is one manifest over the very same config and layer blobs, under the legacy identifiers', async () => {
    const store = new CountingStore();
    const dir = model();
    const plain = new CountingStore();
    await packWith(plain, dir, []);
    const r = await packWith(store, dir, ['cnai']);
    expect(r.variants.map((v) => v.name)).toEqual(['cnai']);
    const v = r.variants[0]!;
    // Zero extra blob bytes: the pack with the variant stored exactly the blobs the pack without it did.
    expect(store.blobBytes).toBe(plain.blobBytes);
    expect(v.addedBytes).toBe(0);
    const m = await manifestOf(store, v.descriptor);
    expect(m.artifactType).toBe('application/vnd.cnai.model.manifest.v1+json');
    expect(m.config).toEqual({ ...r.manifest.config, mediaType: 'application/vnd.cnai.model.config.v1+json' });
    expect(m.layers.map((l) => [l.digest, l.size])).toEqual(r.manifest.layers.map((l) => [l.digest, l.size]));
    expect(m.layers.map((l) => l.mediaType)).toEqual(
      r.manifest.layers.map((l) => l.mediaType.replace('.cncf.', '.cnai.')),
    );
    for (const [i, l] of m.layers.entries()) {
      const p = r.manifest.layers[i]!.annotations!;
      expect(l.annotations).toEqual({
        'org.cnai.model.filepath': p['org.cncf.model.filepath'],
        'org.cnai.model.file.metadata+json': p['org.cncf.model.file.metadata+json'],
        'org.cnai.model.file.mediatype.untested': p['org.cncf.model.file.mediatype.untested'],
        'org.opencontainers.image.title': p['org.opencontainers.image.title'],
      });
    }
    expect(await store.resolve('v1-cnai')).toEqual(v.descriptor);
    expect(v.descriptor.digest).toBe(buildCnaiVariant(r.manifest).descriptor.digest);
  });

  it('is refused by pack for a cnai artifact before anything is written', async () => {
    const store = new CountingStore();
    const e = await rejection(
      pack({ dir: model(), target: store, family: 'cnai', cache: null, gitLfs: false, variants: { names: ['cnai'] } }),
      'USAGE',
    );
    expect(e.message).toMatch(/cnai variant is made from a cncf artifact/);
    expect(store.blobBytes).toBe(0);
  });

  it('is refused for a primary that already uses the cnai identifiers', () => {
    const m = buildManifest({
      artifactType: 'application/vnd.cnai.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cnai.model.config.v1+json', digest: sha256Digest('{}'), size: 2 },
      layers: [],
    }).manifest;
    expect(() => buildCnaiVariant(m)).toThrow(/cncf ModelPack manifest/);
  });
});

describe('modelcar variant', () => {
  it('writes one reproducible tar layer per file holding models/<path>', async () => {
    const content = Buffer.from('hello weights');
    const file = { path: 'a/b/w.bin', mode: 0o644, size: content.length };
    const read = async (): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of modelcarLayerStream(file, Readable.from([content]))) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const [one, two] = [await read(), await read()];
    expect(sha256Digest(one)).toBe(sha256Digest(two));
    const entries = await tarEntries(one);
    expect(entries.map((e) => [e.name, e.type, e.mode])).toEqual([
      ['models/', 'directory', 0o755],
      ['models/a/', 'directory', 0o755],
      ['models/a/b/', 'directory', 0o755],
      ['models/a/b/w.bin', 'file', 0o644],
    ]);
    for (const e of entries) expect([e.mtime, e.uid, e.gid, e.uname, e.gname]).toEqual([0, 0, 0, '', '']);
    expect(entries[3]!.body.equals(content)).toBe(true);
    expect(() => modelcarLayerStream({ ...file, path: '../x' }, Readable.from([content]))).toThrow(/".." segment/);
  });

  it('is an index over linux/amd64 and linux/arm64 images whose rootfs lists the model layers', async () => {
    const store = new CountingStore();
    const dir = model();
    const r = await packWith(store, dir, ['modelcar']);
    const v = r.variants[0]!;
    expect(v.descriptor.mediaType).toBe(OCI_INDEX);
    const index = await manifestOf<Index>(store, v.descriptor);
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
    ]);
    let layers: string[] | undefined;
    for (const entry of index.manifests) {
      const img = await manifestOf(store, entry);
      expect(img.artifactType).toBeUndefined();
      expect(img.config.mediaType).toBe(OCI_IMAGE_CONFIG);
      expect(img.layers.every((l) => l.mediaType === OCI_LAYER_TAR)).toBe(true);
      const config = JSON.parse((await store.fetchBytes(img.config)).toString('utf8')) as {
        architecture: string;
        os: string;
        config: { WorkingDir: string; Labels: Record<string, string> };
        rootfs: { type: string; diff_ids: string[] };
      };
      expect([config.os, config.architecture]).toEqual([entry.platform!.os, entry.platform!.architecture]);
      expect(config.rootfs).toEqual({ type: 'layers', diff_ids: img.layers.map((l) => l.digest) });
      expect(config.config.WorkingDir).toBe('/models');
      expect(config.config.Labels['dev.modelship.variant.of']).toBe(r.descriptor.digest);
      if (layers) expect(img.layers.map((l) => l.digest)).toEqual(layers);
      layers = img.layers.map((l) => l.digest);
    }
    // Every file of the primary, in its order, byte for byte under models/, with its exec bit.
    const img = await manifestOf(store, index.manifests[0]!);
    for (const [i, l] of r.layers.entries()) {
      const entries = await tarEntries(await store.fetchBytes(img.layers[i]!, 1 << 30));
      const file = entries.find((e) => e.type === 'file')!;
      expect(file.name).toBe(`models/${l.path}`);
      expect(file.body.equals(readFileSync(join(dir, l.path)))).toBe(true);
      expect(file.mode).toBe(l.path === 'run.sh' ? 0o755 : 0o644);
    }
    expect(v.addedBytes).toBe(img.layers.reduce((a, l) => a + l.size, 0));
    expect(await store.resolve('v1-modelcar')).toEqual(v.descriptor);
    // Same files, same digest: a second pack elsewhere builds the identical modelcar.
    const again = await packWith(new MemoryStore(), dir, ['modelcar']);
    expect(again.variants[0]!.descriptor.digest).toBe(v.descriptor.digest);
  });
});

describe('variant links and checks', () => {
  it('finds linked variants, accepts the real ones and refuses a forged modelcar', async () => {
    const store = new MemoryStore();
    const r = await packWith(store, model(), ['cnai', 'modelcar']);
    const linked = await linkedVariants(store, r.descriptor);
    expect(linked.map((l) => [l.name, l.descriptor.digest]).sort()).toEqual(
      r.variants.map((v) => [v.name, v.descriptor.digest]).sort(),
    );
    const cover = await variantsToCover(store, r.descriptor);
    expect(cover.skipped).toEqual([]);
    expect(cover.covered.map((c) => c.descriptor.digest).sort()).toEqual(
      r.variants.map((v) => v.descriptor.digest).sort(),
    );
    const car = cover.covered.find((c) => c.name === 'modelcar')!;
    expect(car.layers.map((l) => l.primary)).toEqual(r.manifest.layers.map((l) => l.digest));

    // A forged "modelcar": the real one with one model layer swapped for other bytes.
    const index = await manifestOf<Index>(store, r.variants[1]!.descriptor);
    const img = await manifestOf(store, index.manifests[0]!);
    const evil = Buffer.from('not the model');
    const evilLayer: Descriptor = { mediaType: OCI_LAYER_TAR, digest: sha256Digest(evil), size: evil.length };
    await store.push(evilLayer, evil);
    const layers = [...img.layers.slice(0, -1), evilLayer];
    const cfg = JSON.parse((await store.fetchBytes(img.config)).toString('utf8')) as { rootfs: { diff_ids: string[] } };
    cfg.rootfs.diff_ids = layers.map((l) => l.digest);
    const cfgBytes = Buffer.from(JSON.stringify(cfg));
    const cfgDesc = { mediaType: OCI_IMAGE_CONFIG, digest: sha256Digest(cfgBytes), size: cfgBytes.length };
    await store.push(cfgDesc, cfgBytes);
    const forgedImg = buildManifest({ config: cfgDesc, layers });
    await store.push(forgedImg.descriptor, forgedImg.manifestBytes);
    const forgedIndex = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ ...forgedImg.descriptor, platform: { architecture: 'amd64', os: 'linux' } }],
      }),
    );
    const forgedDesc = { mediaType: OCI_INDEX, digest: sha256Digest(forgedIndex), size: forgedIndex.length };
    await store.push(forgedDesc, forgedIndex);
    const link = buildVariantLink(r.descriptor, forgedDesc, 'modelcar');
    await store.push(link.descriptor, link.manifestBytes);
    const check = await checkVariant(
      store,
      { descriptor: r.descriptor, manifest: r.manifest },
      { name: 'modelcar', descriptor: forgedDesc, link: link.descriptor, annotations: {} },
    );
    expect(check).toEqual({
      ok: false,
      reason: expect.stringMatching(/its layer for .* is not that file of the primary/),
    });
    const after = await variantsToCover(store, r.descriptor);
    expect(after.skipped.map((s) => s.digest)).toEqual([forgedDesc.digest]);
  });

  it('are no rejected referrers to signature discovery (a link is an index, never a bundle)', async () => {
    const store = new MemoryStore();
    const r = await packWith(store, model(), ['cnai', 'modelcar']);
    expect((await store.referrers(r.descriptor)).length).toBe(2);
    expect(await discoverReferrers(store, r.descriptor)).toEqual({ bundles: [], rejected: [], others: [] });
  });

  it('ignores a link whose subject is another manifest', async () => {
    const store = new MemoryStore();
    const r = await packWith(store, model(), ['cnai']);
    const other = await packWith(store, model(), []);
    // A link that names r's cnai variant but hangs off `other`... listed under r by a lying store.
    const link = buildVariantLink(other.descriptor, r.variants[0]!.descriptor, 'cnai');
    await store.push(link.descriptor, link.manifestBytes);
    store.setReferrers(r.descriptor, [
      ...(await store.referrers(r.descriptor)),
      {
        mediaType: OCI_INDEX,
        digest: link.descriptor.digest,
        size: link.descriptor.size,
        artifactType: 'application/vnd.modelship.variant.link.v1+json',
      },
    ]);
    expect((await linkedVariants(store, r.descriptor)).length).toBe(1);
  });
});

describe('copyWithVariants', () => {
  it('copies linked variants with the primary, tags them, and builds a missing one from the source', async () => {
    const src = new MemoryStore('src');
    const dir = model();
    const r = await packWith(src, dir, ['cnai']);
    const dst = new CountingStore('dst');
    const res = await copyWithVariants(src, dst, r.descriptor, { tags: ['prod'], variants: { names: ['modelcar'] } });
    expect(res.variants.map((v) => [v.name, v.built, v.tags])).toEqual([
      ['cnai', false, ['prod-cnai']],
      ['modelcar', true, ['prod-modelcar']],
    ]);
    expect((await dst.resolve('prod-cnai')).digest).toBe(r.variants[0]!.descriptor.digest);
    // Built from the source's blobs, it is the modelcar pack makes from the same files on disk.
    const fromDisk = await packWith(new MemoryStore(), dir, ['modelcar']);
    expect(res.variants[1]!.descriptor.digest).toBe(fromDisk.variants[0]!.descriptor.digest);
    expect((await linkedVariants(dst, r.descriptor)).map((l) => l.name).sort()).toEqual(['cnai', 'modelcar']);
    expect(isManifestMediaType((await dst.resolve('prod-modelcar')).mediaType)).toBe(true);
  });
});
