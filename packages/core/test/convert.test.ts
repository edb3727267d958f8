import { describe, expect, it } from '@jest/globals';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import {
  DOCKER_AI_CONFIG_V01,
  DOCKER_AI_CONFIG_V02,
  KITOPS_CONFIG,
  KITOPS_MANIFEST,
  convertArtifact,
} from '../src/convert.js';
import { sha256Digest } from '../src/digest.js';
import { MemoryStore } from '../src/memory-store.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor, Manifest } from '../src/oci.js';
import { buildManifest } from '../src/pack-manifest.js';
import { rejection } from './rejection.js';

const FILEPATH = 'org.cncf.model.filepath';

async function blob(
  store: MemoryStore,
  mediaType: string,
  bytes: Buffer,
  annotations?: Record<string, string>,
): Promise<Descriptor> {
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(d, bytes);
  return annotations ? { ...d, annotations } : d;
}

async function tar(files: Record<string, string>): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const [name, body] of Object.entries(files)) {
    if (name.endsWith('/')) pack.entry({ name, type: 'directory' });
    else pack.entry({ name, mode: 0o644 }, body);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function publish(
  store: MemoryStore,
  config: { mediaType: string; json: unknown },
  layers: Descriptor[],
  artifactType?: string,
): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(config.json));
  const cfg = await blob(store, config.mediaType, bytes);
  const m = buildManifest({
    ...(artifactType ? { artifactType } : {}),
    config: { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size },
    layers,
  });
  await store.push(m.descriptor, m.manifestBytes);
  return m.descriptor;
}

const GGUF = Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(60, 7)]);

/** A Docker Model Runner v0.2 artifact, as its builder lays one out (builder/from_directory.go). */
async function dockerModel(store: MemoryStore): Promise<Descriptor> {
  const layers = [
    await blob(store, 'application/vnd.docker.ai.gguf.v3', GGUF, { [FILEPATH]: 'model.gguf' }),
    await blob(store, 'application/vnd.docker.ai.license', Buffer.from('MIT License\n'), { [FILEPATH]: 'LICENSE' }),
    await blob(store, 'application/vnd.docker.ai.chat.template.jinja', Buffer.from('{{ messages }}'), {
      [FILEPATH]: 'template.jinja',
    }),
    await blob(store, 'application/vnd.docker.ai.model.file', Buffer.from('{"a":1}'), {
      [FILEPATH]: 'config/params.json',
    }),
    await blob(
      store,
      'application/vnd.docker.ai.dir.tar',
      await tar({ 'tok/': '', 'tok/vocab.txt': 'a b c', 'tok/merges.txt': 'x y' }),
      {
        [FILEPATH]: 'tok',
      },
    ),
  ];
  return publish(
    store,
    {
      mediaType: DOCKER_AI_CONFIG_V02,
      json: {
        config: { format: 'gguf', quantization: 'Q4_K_M', parameters: '1.24 B', architecture: 'llama', size: '64 B' },
        descriptor: { created: '2026-11-30T10:00:00.123456789Z' },
        rootfs: { type: 'rootfs', diff_ids: layers.map((l) => l.digest) },
      },
    },
    layers,
  );
}

/**
 * What Docker Model Runner requires of a ModelPack, re-read from its source
 * (github.com/docker/model-runner): the config media type (pkg/distribution/distribution/client.go
 * `checkCompat`), the artifactType that routes to `UnpackFromLayers`
 * (pkg/distribution/internal/bundle/unpack.go `isCNCFModel`), a filepath on every layer it
 * links, and for the generic raw weight type a config format of gguf/safetensors/dduf
 * (`updateBundleFieldsFromLayer`); tar layers would be linked as tar bytes.
 */
function dockerModelRunnerAccepts(manifest: Manifest, config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (manifest.config.mediaType !== 'application/vnd.cncf.model.config.v1+json') problems.push('config media type');
  if (manifest.artifactType !== 'application/vnd.cncf.model.manifest.v1+json') problems.push('artifactType');
  const format = String((config['config'] as { format?: string } | undefined)?.format ?? '').toLowerCase();
  for (const l of manifest.layers) {
    if (!l.annotations?.[FILEPATH]) problems.push(`${l.digest}: no filepath`);
    if (!/^application\/vnd\.cncf\.model\.(weight|weight\.config|doc)\.v1\.raw$/.test(l.mediaType))
      problems.push(`${l.digest}: ${l.mediaType}`);
    if (l.mediaType === 'application/vnd.cncf.model.weight.v1.raw' && !['gguf', 'safetensors', 'dduf'].includes(format))
      problems.push(`weight ${l.digest} with format "${format}"`);
  }
  return problems;
}

async function read(store: MemoryStore, d: Descriptor): Promise<Manifest> {
  return JSON.parse((await store.fetchBytes(d)).toString('utf8')) as Manifest;
}

describe('convert a Docker Model Runner artifact', () => {
  it('reuses raw blobs, unpacks dir.tar into files, and gives a ModelPack Docker Model Runner accepts', async () => {
    const src = new MemoryStore('registry.test/ai/smollm');
    const root = await dockerModel(src);
    const dst = new MemoryStore('dst');
    const r = await convertArtifact({ source: src, root, target: dst, tags: ['v1'] });
    expect(r.from).toBe('docker-model-runner');
    const m = await read(dst, await dst.resolve('v1'));
    const config = JSON.parse((await dst.fetchBytes(m.config)).toString('utf8')) as Record<string, unknown>;
    expect(dockerModelRunnerAccepts(m, config)).toEqual([]);
    expect(config['config']).toEqual({
      architecture: 'llama',
      format: 'gguf',
      paramSize: '1.2b',
      quantization: 'Q4_K_M',
    });
    expect((config['descriptor'] as Record<string, unknown>)['createdAt']).toBe('2026-11-30T10:00:00Z');
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
    expect(r.stats.blobsCopied).toBe(4);
    expect(r.rewritten).toBe(2);
    // Again into the same target: every reused blob is already there, nothing is read from the source.
    const again = await convertArtifact({ source: src, root, target: dst, tags: ['v1'] });
    expect(again.descriptor.digest).toBe(r.descriptor.digest);
    expect([again.stats.blobsCopied, again.stats.blobsSkipped]).toEqual([0, 4]);
  });

  it('names the files of a v0.1 artifact (no filepath annotations) as Docker Model Runner unpacks them', async () => {
    const src = new MemoryStore('registry.test/ai/old');
    const layers = [
      await blob(src, 'application/vnd.docker.ai.gguf.v3', Buffer.concat([GGUF, Buffer.from('1')])),
      await blob(src, 'application/vnd.docker.ai.gguf.v3', Buffer.concat([GGUF, Buffer.from('2')])),
      await blob(src, 'application/vnd.docker.ai.license', Buffer.from('Apache')),
    ];
    const root = await publish(
      src,
      { mediaType: DOCKER_AI_CONFIG_V01, json: { config: { format: 'gguf' }, descriptor: {} } },
      layers,
    );
    const r = await convertArtifact({ source: src, root, target: new MemoryStore() });
    expect(r.layers.map((l) => l.path)).toEqual(['model-00001-of-00002.gguf', 'model-00002-of-00002.gguf', 'LICENSE']);
  });
});

describe('convert a KitOps ModelKit', () => {
  it('maps the KitOps layer types, reuses raw layers and unpacks tar ones (plain and gzip)', async () => {
    const src = new MemoryStore('registry.test/kit/mk');
    const weights = Buffer.concat([Buffer.from('safetensors header'), Buffer.alloc(100, 1)]);
    const layers = [
      await blob(src, 'application/vnd.kitops.modelkit.model.v1.raw', weights, {
        [FILEPATH]: 'model/model.safetensors',
      }),
      await blob(src, 'application/vnd.kitops.modelkit.modelpart.v1.tar', await tar({ 'model/tokenizer.json': '{}' })),
      await blob(
        src,
        'application/vnd.kitops.modelkit.code.v1.tar+gzip',
        gzipSync(await tar({ 'src/': '', 'src/infer.py': 'print(1)' })),
      ),
      await blob(src, 'application/vnd.kitops.modelkit.docs.v1.tar', await tar({ 'README.md': '# model' })),
    ];
    const kitfile = {
      manifestVersion: '1.0.0',
      package: { name: 'mk', version: '1.2.0', authors: ['Ada'], license: 'apache-2.0', description: 'a kit' },
      model: { name: 'tiny', path: 'model/model.safetensors', parts: [{ path: 'model/tokenizer.json' }] },
      code: [{ path: 'src' }],
      docs: [{ path: 'README.md' }],
    };
    const root = await publish(src, { mediaType: KITOPS_CONFIG, json: kitfile }, layers, KITOPS_MANIFEST);
    const dst = new MemoryStore('dst');
    const r = await convertArtifact({ source: src, root, target: dst, tags: ['v1'] });
    expect(r.from).toBe('modelkit');
    expect(r.layers.map((l) => [l.path, l.kind, l.reused])).toEqual([
      ['model/model.safetensors', 'weight', true],
      ['model/tokenizer.json', 'weight.config', false],
      ['src/infer.py', 'code', false],
      ['README.md', 'doc', false],
    ]);
    expect(r.layers[0]!.descriptor.digest).toBe(layers[0]!.digest);
    const m = await read(dst, r.descriptor);
    expect(m.layers.every((l) => l.mediaType.endsWith('.v1.raw') && l.annotations?.[FILEPATH])).toBe(true);
    const config = JSON.parse((await dst.fetchBytes(m.config)).toString('utf8')) as {
      descriptor: Record<string, unknown>;
      config: Record<string, unknown>;
    };
    expect(config.descriptor).toMatchObject({
      name: 'tiny',
      version: '1.2.0',
      authors: ['Ada'],
      licenses: ['Apache-2.0'],
      description: 'a kit',
    });
    expect(config.config['format']).toBe('safetensors');
  });

  it('takes a raw layer’s path from the Kitfile when the layer has no filepath annotation (older ModelKits)', async () => {
    const src = new MemoryStore('registry.test/kit/old');
    const layers = [await blob(src, 'application/vnd.kitops.modelkit.model.v1.raw', GGUF)];
    const root = await publish(src, { mediaType: KITOPS_CONFIG, json: { model: { path: 'llm.gguf' } } }, layers);
    const r = await convertArtifact({ source: src, root, target: new MemoryStore() });
    expect(r.layers.map((l) => [l.path, l.kind])).toEqual([['llm.gguf', 'weight']]);
  });

  it('refuses a tar entry that climbs out of the model', async () => {
    const src = new MemoryStore('registry.test/kit/evil');
    const layers = [await blob(src, 'application/vnd.kitops.modelkit.code.v1.tar', await tar({ '../escape.py': 'x' }))];
    const root = await publish(src, { mediaType: KITOPS_CONFIG, json: {} }, layers);
    const e = await rejection(convertArtifact({ source: src, root, target: new MemoryStore() }), 'INVALID');
    expect(e.message).toMatch(/"\.\.\/escape\.py".*"\.\." segment/);
  });
});

describe('convert refuses', () => {
  it('a ModelPack (nothing to convert) and an unknown artifact', async () => {
    const src = new MemoryStore();
    const mp = await publish(
      src,
      { mediaType: 'application/vnd.cncf.model.config.v1+json', json: {} },
      [],
      'application/vnd.cncf.model.manifest.v1+json',
    );
    expect(
      (await rejection(convertArtifact({ source: src, root: mp, target: new MemoryStore() }), 'USAGE')).message,
    ).toMatch(/is a ModelPack already/);
    const other = await publish(src, { mediaType: 'application/vnd.oci.image.config.v1+json', json: {} }, []);
    expect(
      (await rejection(convertArtifact({ source: src, root: other, target: new MemoryStore() }), 'INVALID')).message,
    ).toMatch(/neither a KitOps ModelKit nor a Docker Model Runner artifact/);
    expect(OCI_MANIFEST).toBe(mp.mediaType);
  });
});
