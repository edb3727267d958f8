import { describe, expect, it } from '@jest/globals';
import { DOCKER_AI_CONFIG_V01, KITOPS_CONFIG, convertArtifact } from '../src/convert.js';
import { sha256Digest } from '../src/digest.js';
import { MemoryStore } from '../src/memory-store.js';
import type { Descriptor, Manifest } from '../src/oci.js';
import { rejection } from './rejection.js';
import { dockerModelRunnerAccepts, kitopsAccepts } from '../../../test/helpers/consumers.js';
import {
  GGUF_BYTES,
  dockerModelArtifact,
  modelKitArtifact,
  putBlob,
  putManifest,
  tarOf,
} from '../../../test/helpers/foreign-artifacts.js';

async function read(store: MemoryStore, d: Descriptor): Promise<Manifest> {
  return JSON.parse((await store.fetchBytes(d)).toString('utf8')) as Manifest;
}

async function configOf(store: MemoryStore, m: Manifest): Promise<Record<string, unknown>> {
  return JSON.parse((await store.fetchBytes(m.config)).toString('utf8')) as Record<string, unknown>;
}

describe('convert a Docker Model Runner artifact', () => {
  it('reuses raw blobs, unpacks dir.tar into files, and gives a ModelPack Docker Model Runner and KitOps accept', async () => {
    const src = new MemoryStore('registry.test/ai/smollm');
    const { root } = await dockerModelArtifact(src);
    const dst = new MemoryStore('dst');
    const r = await convertArtifact({ source: src, root, target: dst, tags: ['v1'] });
    expect(r.from).toBe('docker-model-runner');
    const m = await read(dst, await dst.resolve('v1'));
    const config = await configOf(dst, m);
    expect(dockerModelRunnerAccepts(m, config)).toEqual([]);
    expect(kitopsAccepts(m, config)).toEqual([]);
    // DockerConfigToModelPack's mapping, parameters rounded to the spec's one decimal.
    expect(config['config']).toEqual({
      architecture: 'llama',
      format: 'gguf',
      paramSize: '1.2b',
      quantization: 'Q4_K_M',
    });
    expect(config['descriptor']).toEqual({ createdAt: '2026-11-30T10:00:00Z', family: 'llama', name: 'smollm' });
    expect(r.layers.map((l) => [l.path, l.kind, l.reused])).toEqual([
      ['model.gguf', 'weight', true],
      ['LICENSE', 'doc', true],
      ['template.jinja', 'weight.config', true],
      ['config/params.json', 'weight.config', true],
      ['tok/vocab.txt', 'weight.config', false],
      ['tok/merges.txt', 'weight.config', false],
    ]);
    const srcManifest = await read(src, root);
    // The raw blobs are the source's own: same digests, nothing rewritten.
    expect(m.layers.slice(0, 4).map((l) => l.digest)).toEqual(srcManifest.layers.slice(0, 4).map((l) => l.digest));
    expect(m.layers[4]!.digest).toBe(sha256Digest('a b c'));
    expect([r.stats.blobsCopied, r.rewritten]).toEqual([4, 2]);
    // Again into the same target: every reused blob is already there, none is read from the source.
    const again = await convertArtifact({ source: src, root, target: dst, tags: ['v1'] });
    expect(again.descriptor.digest).toBe(r.descriptor.digest);
    expect([again.stats.blobsCopied, again.stats.blobsSkipped]).toEqual([0, 4]);
  });

  it('names the files of a v0.1 artifact (no filepath annotations) as Docker Model Runner unpacks them', async () => {
    const src = new MemoryStore('registry.test/ai/old');
    const layers = [
      await putBlob(src, 'application/vnd.docker.ai.gguf.v3', Buffer.concat([GGUF_BYTES, Buffer.from('1')])),
      await putBlob(src, 'application/vnd.docker.ai.gguf.v3', Buffer.concat([GGUF_BYTES, Buffer.from('2')])),
      await putBlob(src, 'application/vnd.docker.ai.license', Buffer.from('Apache')),
    ];
    const root = await putManifest(
      src,
      { mediaType: DOCKER_AI_CONFIG_V01, json: { config: { format: 'gguf' } } },
      layers,
    );
    const r = await convertArtifact({ source: src, root, target: new MemoryStore() });
    expect(r.layers.map((l) => l.path)).toEqual(['model-00001-of-00002.gguf', 'model-00002-of-00002.gguf', 'LICENSE']);
  });
});

describe('convert a KitOps ModelKit', () => {
  it('maps the KitOps layer types, reuses raw layers and unpacks tar ones (plain and gzip)', async () => {
    const src = new MemoryStore('registry.test/kit/mk');
    const { root } = await modelKitArtifact(src);
    const dst = new MemoryStore('dst');
    const r = await convertArtifact({ source: src, root, target: dst, tags: ['v1'] });
    expect(r.from).toBe('modelkit');
    expect(r.layers.map((l) => [l.path, l.kind, l.reused])).toEqual([
      ['model/model.safetensors', 'weight', true],
      ['model/tokenizer.json', 'weight.config', false],
      ['src/infer.py', 'code', false],
      ['README.md', 'doc', false],
    ]);
    expect(r.layers[0]!.descriptor.digest).toBe((await read(src, root)).layers[0]!.digest);
    const m = await read(dst, r.descriptor);
    const config = await configOf(dst, m);
    expect(dockerModelRunnerAccepts(m, config)).toEqual([]);
    expect(kitopsAccepts(m, config)).toEqual([]);
    expect(config['descriptor']).toMatchObject({
      name: 'tiny',
      version: '1.2.0',
      authors: ['Ada'],
      licenses: ['Apache-2.0'],
      description: 'a kit',
    });
    expect((config['config'] as Record<string, unknown>)['format']).toBe('safetensors');
  });

  it('takes a raw layer’s path from the Kitfile when the layer has no filepath annotation (older ModelKits)', async () => {
    const src = new MemoryStore('registry.test/kit/old');
    const layers = [await putBlob(src, 'application/vnd.kitops.modelkit.model.v1.raw', GGUF_BYTES)];
    const root = await putManifest(src, { mediaType: KITOPS_CONFIG, json: { model: { path: 'llm.gguf' } } }, layers);
    const r = await convertArtifact({ source: src, root, target: new MemoryStore() });
    expect(r.layers.map((l) => [l.path, l.kind])).toEqual([['llm.gguf', 'weight']]);
  });

  it('refuses a tar entry that climbs out of the model', async () => {
    const src = new MemoryStore('registry.test/kit/evil');
    const layers = [
      await putBlob(src, 'application/vnd.kitops.modelkit.code.v1.tar', await tarOf({ '../escape.py': 'x' })),
    ];
    const root = await putManifest(src, { mediaType: KITOPS_CONFIG, json: {} }, layers);
    const e = await rejection(convertArtifact({ source: src, root, target: new MemoryStore() }), 'INVALID');
    expect(e.message).toMatch(/"\.\.\/escape\.py".*"\.\." segment/);
  });
});

describe('convert refuses', () => {
  it('a ModelPack (nothing to convert) and an unknown artifact', async () => {
    const src = new MemoryStore();
    const mp = await putManifest(src, { mediaType: 'application/vnd.cncf.model.config.v1+json', json: {} }, [], {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    });
    const e1 = await rejection(convertArtifact({ source: src, root: mp, target: new MemoryStore() }), 'USAGE');
    expect(e1.message).toMatch(/is a ModelPack already/);
    const other = await putManifest(src, { mediaType: 'application/vnd.oci.image.config.v1+json', json: {} }, []);
    const e2 = await rejection(convertArtifact({ source: src, root: other, target: new MemoryStore() }), 'INVALID');
    expect(e2.message).toMatch(/neither a KitOps ModelKit nor a Docker Model Runner artifact/);
  });
});
