import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, statSync, symlinkSync, utimesSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  DigestCache,
  ModelshipError,
  OciLayoutStore,
  extractArtifact,
  pack,
  parseLayerMediaType,
  validateModelConfig,
  type Manifest,
} from '@modelship/core';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function packTo(dir: string, layoutDir: string, extra: Partial<Parameters<typeof pack>[0]> = {}) {
  const store = await OciLayoutStore.open(layoutDir, { create: true });
  try {
    return await pack({ dir, target: store, tags: ['v1'], cache: null, ...extra });
  } finally {
    await store.close();
  }
}

describe('pack into an OCI layout', () => {
  let model: string;
  beforeAll(() => {
    model = copySample(tmp.dir);
  });

  it('writes a valid ModelPack manifest, config and raw layers', async () => {
    const r = await packTo(model, join(tmp.dir, 'l1'));
    const m = JSON.parse(
      readFileSync(join(tmp.dir, 'l1', 'blobs', 'sha256', r.descriptor.digest.slice(7)), 'utf8'),
    ) as Manifest;
    expect(m.artifactType).toBe('application/vnd.cncf.model.manifest.v1+json');
    expect(m.config.mediaType).toBe('application/vnd.cncf.model.config.v1+json');
    const paths = m.layers.map((l) => l.annotations?.['org.cncf.model.filepath']);
    expect(paths).toEqual(
      expect.arrayContaining(['config.json', 'model-00001-of-00002.safetensors', 'README.md', 'LICENSE']),
    );
    expect(paths).toHaveLength(readdirSync(model).length);
    for (const l of m.layers) {
      const parsed = parseLayerMediaType(l.mediaType);
      expect(parsed?.encoding).toBe('raw');
      expect(l.annotations?.['org.opencontainers.image.title']).toBe(l.annotations?.['org.cncf.model.filepath']);
      // raw layer digest = sha256 of the file (dedups with the HF LFS object id)
      const bytes = readFileSync(join(model, l.annotations!['org.cncf.model.filepath']!));
      expect(l.size).toBe(bytes.length);
    }
    const weight = m.layers.find((l) => l.annotations?.['org.cncf.model.filepath']?.endsWith('.safetensors'));
    expect(parseLayerMediaType(weight!.mediaType)?.kind).toBe('weight');
    const cfg = JSON.parse(readFileSync(join(tmp.dir, 'l1', 'blobs', 'sha256', m.config.digest.slice(7)), 'utf8'));
    expect(() => validateModelConfig(cfg)).not.toThrow();
    expect(cfg.modelfs.diffIds).toEqual(m.layers.map((l) => l.digest));
    expect(cfg.descriptor.licenses).toEqual(['MIT']);
    expect(cfg.config.precision).toBe('bfloat16');
    expect(cfg.config.format).toBe('safetensors');
    expect(cfg.descriptor.createdAt).toBeUndefined();
    // tag in index.json
    const index = JSON.parse(readFileSync(join(tmp.dir, 'l1', 'index.json'), 'utf8'));
    const entry = index.manifests.find((d: { digest: string }) => d.digest === r.descriptor.digest);
    expect(entry.annotations['org.opencontainers.image.ref.name']).toBe('v1');
  });

  it('is reproducible: a copy with other mtimes gives the same manifest digest', async () => {
    const a = await packTo(model, join(tmp.dir, 'r1'));
    const copy = copySample(tmp.dir, 'sample-copy');
    for (const f of readdirSync(copy))
      utimesSync(join(copy, f), new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
    const name = (a.config['descriptor'] as { name: string }).name;
    const b = await packTo(copy, join(tmp.dir, 'r2'), { metadata: { name } });
    expect(b.descriptor.digest).toBe(a.descriptor.digest);
    // ...unless a creation time is asked for
    const c = await packTo(model, join(tmp.dir, 'r3'), { createdAt: '2026-01-01T00:00:00Z' });
    expect(c.descriptor.digest).not.toBe(a.descriptor.digest);
    expect((c.config['descriptor'] as { createdAt: string }).createdAt).toBe('2026-01-01T00:00:00Z');
  });

  it('hard-links blobs into a layout on the same device', async () => {
    const r = await packTo(model, join(tmp.dir, 'hl'));
    const w = r.layers.find((l) => l.kind === 'weight')!;
    const blob = statSync(join(tmp.dir, 'hl', 'blobs', 'sha256', w.descriptor.digest.slice(7)));
    expect(blob.ino).toBe(statSync(join(model, w.path)).ino);
  });

  it('uses the digest cache: a second pack hashes nothing and writes nothing', async () => {
    const cache = await DigestCache.open(join(tmp.dir, 'cache'));
    const first = await packTo(model, join(tmp.dir, 'c1'), { cache });
    expect(first.stats.cacheHits).toBe(0);
    const cache2 = await DigestCache.open(join(tmp.dir, 'cache'));
    const second = await packTo(model, join(tmp.dir, 'c1'), { cache: cache2 });
    expect(second.stats.cacheHits).toBe(first.layers.length);
    expect(second.stats.hashed).toBe(0);
    expect(second.stats.uploaded).toBe(0);
    expect(second.stats.bytesRead).toBe(0);
    expect(second.descriptor.digest).toBe(first.descriptor.digest);
  });

  it('writes the cnai identifier family on request', async () => {
    const r = await packTo(model, join(tmp.dir, 'cnai'), { family: 'cnai' });
    expect(r.manifest.artifactType).toBe('application/vnd.cnai.model.manifest.v1+json');
    expect(r.manifest.layers[0]!.mediaType).toMatch(/^application\/vnd\.cnai\.model\./);
    expect(Object.keys(r.manifest.layers[0]!.annotations!)).toContain('org.cnai.model.filepath');
  });

  for (const layerFormat of ['tar', 'tar+gzip', 'tar+zstd'] as const) {
    it(`packs ${layerFormat} layers reproducibly and extracts them back`, async () => {
      const a = await packTo(model, join(tmp.dir, `t-${layerFormat}-1`), { layerFormat });
      const b = await packTo(model, join(tmp.dir, `t-${layerFormat}-2`), { layerFormat });
      expect(b.descriptor.digest).toBe(a.descriptor.digest);
      if (layerFormat !== 'tar') for (const l of a.layers) expect(l.diffId).not.toBe(l.descriptor.digest);
      const store = await OciLayoutStore.open(join(tmp.dir, `t-${layerFormat}-1`));
      const out = join(tmp.dir, `x-${layerFormat}`);
      await extractArtifact(store, a.descriptor, out);
      for (const f of readdirSync(model))
        expect(readFileSync(join(out, f)).equals(readFileSync(join(model, f)))).toBe(true);
    });
  }

  it('round-trips raw layers through extraction byte-identically', async () => {
    const r = await packTo(model, join(tmp.dir, 'rt'));
    const store = await OciLayoutStore.open(join(tmp.dir, 'rt'));
    const out = join(tmp.dir, 'rt-out');
    const x = await extractArtifact(store, r.descriptor, out);
    expect(x.files.sort()).toEqual(readdirSync(model).sort());
    for (const f of readdirSync(model))
      expect(readFileSync(join(out, f)).equals(readFileSync(join(model, f)))).toBe(true);
  });
});

describe('pack refuses bad input with a clear error and writes nothing', () => {
  const expectError = async (p: Promise<unknown>, code: string, message: RegExp) => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ModelshipError);
    expect((e as ModelshipError).code).toBe(code);
    expect((e as ModelshipError).message).toMatch(message);
  };

  it('missing directory', async () => {
    await expectError(packTo(join(tmp.dir, 'nope'), join(tmp.dir, 'bad1')), 'INPUT', /nope/);
  });

  it('empty directory', async () => {
    mkdirSync(join(tmp.dir, 'empty'));
    await expectError(packTo(join(tmp.dir, 'empty'), join(tmp.dir, 'bad2')), 'INPUT', /is empty: nothing to pack/);
  });

  it('symlink escaping the model directory', async () => {
    const m = copySample(tmp.dir, 'escaping');
    writeFileSync(join(tmp.dir, 'secret.txt'), 'secret');
    symlinkSync(join(tmp.dir, 'secret.txt'), join(m, 'notes.txt'));
    await expectError(packTo(m, join(tmp.dir, 'bad3')), 'INPUT', /notes\.txt.*outside the model directory/);
    // nothing was stored: the layout has no blobs
    const blobs = join(tmp.dir, 'bad3', 'blobs', 'sha256');
    expect(readdirSync(blobs)).toHaveLength(0);
  });
});
