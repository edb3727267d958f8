import { afterAll, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Digest } from '../src/digest.js';
import { ModelshipError } from '../src/errors.js';
import { OciLayoutStore } from '../src/layout.js';
import { MemoryStore } from '../src/memory-store.js';
import { OCI_MANIFEST, layerMediaType } from '../src/mediatypes.js';
import type { ModelMetadata } from '../src/modelpack/index.js';
import type { Descriptor } from '../src/oci.js';
import { ANNOTATION_MODCTL_MODELFILE, ANNOTATION_MODCTL_MODELFILE_CNAI, buildArtifact, pack } from '../src/pack.js';

const meta: ModelMetadata = {
  name: 'tiny',
  family: 'llama',
  format: 'safetensors',
  licenses: ['MIT'],
  sources: {},
  warnings: [],
};
const layer = (n: number, annotations: Record<string, string> = {}): Descriptor => ({
  mediaType: layerMediaType('cncf', 'weight', 'raw'),
  digest: `sha256:${String(n).repeat(64)}`,
  size: n * 10,
  annotations,
});
const layers = [
  { descriptor: layer(1, { 'org.cncf.model.filepath': 'a.safetensors' }), diffId: `sha256:${'1'.repeat(64)}` },
  { descriptor: layer(2, { 'org.cncf.model.filepath': 'b.safetensors' }), diffId: `sha256:${'2'.repeat(64)}` },
];

describe('buildArtifact (pack’s pure manifest builder)', () => {
  it('builds config and manifest whose descriptors hash the bytes, layers in the given order', () => {
    const a = buildArtifact({ family: 'cncf', metadata: meta, layers });
    expect(a.configDescriptor).toEqual({
      mediaType: 'application/vnd.cncf.model.config.v1+json',
      digest: sha256Digest(a.configBytes),
      size: a.configBytes.length,
    });
    expect(a.descriptor).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sha256Digest(a.manifestBytes),
      size: a.manifestBytes.length,
    });
    expect(JSON.parse(a.manifestBytes.toString('utf8'))).toEqual(a.manifest);
    expect(a.manifest).toEqual({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: a.configDescriptor,
      layers: layers.map((l) => l.descriptor),
    });
    expect((a.config.modelfs as { diffIds: string[] }).diffIds).toEqual(layers.map((l) => l.diffId));
  });

  it('is deterministic: the same inputs give the same digests, another createdAt another one', () => {
    const one = buildArtifact({ family: 'cncf', metadata: meta, layers });
    const two = buildArtifact({ family: 'cncf', metadata: { ...meta }, layers: [...layers] });
    expect(two.descriptor.digest).toBe(one.descriptor.digest);
    const dated = buildArtifact({ family: 'cncf', metadata: meta, layers, createdAt: '2026-01-02T03:04:05Z' });
    expect(dated.descriptor.digest).not.toBe(one.descriptor.digest);
    expect(dated.manifest.annotations).toEqual({ 'org.opencontainers.image.created': '2026-01-02T03:04:05Z' });
    expect((dated.config.descriptor as { createdAt?: string }).createdAt).toBe('2026-01-02T03:04:05Z');
  });

  it('sorts manifest annotations and carries a small Modelfile in the family’s modctl key', () => {
    const a = buildArtifact({
      family: 'cnai',
      metadata: meta,
      layers,
      spec: { format: 'modelfile', text: 'NAME tiny\n' },
      manifestAnnotations: { z: '1', a: '2' },
    });
    expect(Object.keys(a.manifest.annotations ?? {})).toEqual(['a', ANNOTATION_MODCTL_MODELFILE_CNAI, 'z']);
    expect(a.manifest.annotations?.[ANNOTATION_MODCTL_MODELFILE_CNAI]).toBe('NAME tiny\n');
    const big = buildArtifact({
      family: 'cncf',
      metadata: meta,
      layers,
      spec: { format: 'modelfile', text: 'x'.repeat(64 * 1024 + 1) },
    });
    expect(big.manifest.annotations?.[ANNOTATION_MODCTL_MODELFILE]).toBeUndefined();
    const kitfile = buildArtifact({ family: 'cncf', metadata: meta, layers, spec: { format: 'kitfile', text: 'x' } });
    expect(kitfile.manifest.annotations).toBeUndefined();
  });

  it('refuses a config the ModelPack schema refuses', () => {
    const bad = [{ descriptor: layer(3), diffId: 'not-a-digest' }];
    expect(() => buildArtifact({ family: 'cncf', metadata: meta, layers: bad })).toThrow(ModelshipError);
  });
});

describe('pack by store capability', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-pack-cap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const SAMPLE = fileURLToPath(new URL('../../../examples/sample-model', import.meta.url));

  it('a store without local files (memory) gets the same artifact as a layout, which hard-links', async () => {
    const model = join(dir, 'model');
    cpSync(SAMPLE, model, { recursive: true });
    const mem = new MemoryStore();
    const inMemory = await pack({ dir: model, target: mem, cache: null, gitLfs: false });
    const layout = await OciLayoutStore.open(join(dir, 'oci'), { create: true });
    const onDisk = await pack({ dir: model, target: layout, cache: null, gitLfs: false });
    expect(inMemory.descriptor).toEqual(onDisk.descriptor);
    for (const l of inMemory.layers)
      expect(await mem.fetchBytes(l.descriptor, l.descriptor.size)).toHaveLength(l.descriptor.size);
    // The layout's capability: raw layers were hashed in the pool and linked, not copied.
    const weight = onDisk.layers.find((l) => l.kind === 'weight')!;
    expect(statSync(layout.localFiles.blobFile(weight.descriptor)).ino).toBe(statSync(join(model, weight.path)).ino);
    await layout.close();
  });

  it('a layout names a blob file under the directory as it was given (what the pack action outputs)', async () => {
    const rel = relative(process.cwd(), join(dir, 'oci'));
    const layout = await OciLayoutStore.open(rel);
    const d = (await layout.readIndex()).manifests[0]!;
    expect(layout.localFiles.blobFile(d)).toBe(join(rel, 'blobs', 'sha256', d.digest.slice('sha256:'.length)));
    expect(statSync(layout.localFiles.blobFile(d)).size).toBe(d.size);
    expect(layout.localFiles.directory).toBe(rel);
    expect(() => layout.localFiles.blobFile({ ...d, digest: 'sha256:../../x' })).toThrow(ModelshipError);
    await layout.close();
  });
});
