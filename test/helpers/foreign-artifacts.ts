/**
 * KitOps ModelKits and Docker Model Runner artifacts built from their published media types
 * (the producers' source files are named in packages/core/src/convert.ts), in any store:
 * what `convert` tests read. Each builder returns the manifest and the files it holds, by path.
 */
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import {
  DOCKER_AI_CONFIG_V02,
  KITOPS_CONFIG,
  KITOPS_MANIFEST,
  OCI_MANIFEST,
  sha256Digest,
  type ContentStore,
  type Descriptor,
} from '@modelship/core';

const FILEPATH = 'org.cncf.model.filepath';

export async function putBlob(
  store: ContentStore,
  mediaType: string,
  bytes: Buffer,
  annotations?: Record<string, string>,
): Promise<Descriptor> {
  const d: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(d, bytes);
  return annotations ? { ...d, annotations } : d;
}

/** A tar of `files` (a name ending in / is a directory). */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
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

/** Pushes config and manifest (artifactType when given) and tags it; returns the manifest descriptor. */
export async function putManifest(
  store: ContentStore,
  config: { mediaType: string; json: unknown },
  layers: Descriptor[],
  options: { artifactType?: string; tag?: string } = {},
): Promise<Descriptor> {
  const cfg = await putBlob(store, config.mediaType, Buffer.from(JSON.stringify(config.json)));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      config: cfg,
      layers,
    }),
  );
  const desc: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(desc, bytes);
  if (options.tag) await store.tag(desc, options.tag);
  return desc;
}

export const GGUF_BYTES = Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(4096, 7)]);

export interface ForeignArtifact {
  root: Descriptor;
  /** The files it holds (path -> bytes), what a converted ModelPack must extract to. */
  files: Record<string, string | Buffer>;
  /** How many of its layers are raw files (reused as they are by convert). */
  rawLayers: number;
}

/** A Docker Model Runner v0.2 artifact, laid out as its builder lays one out (builder/from_directory.go). */
export async function dockerModelArtifact(store: ContentStore, tag?: string): Promise<ForeignArtifact> {
  const files = {
    'model.gguf': GGUF_BYTES,
    LICENSE: 'MIT License\n',
    'template.jinja': '{{ messages }}',
    'config/params.json': '{"a":1}',
    'tok/vocab.txt': 'a b c',
    'tok/merges.txt': 'x y',
  };
  const layers = [
    await putBlob(store, 'application/vnd.docker.ai.gguf.v3', GGUF_BYTES, { [FILEPATH]: 'model.gguf' }),
    await putBlob(store, 'application/vnd.docker.ai.license', Buffer.from(files.LICENSE), { [FILEPATH]: 'LICENSE' }),
    await putBlob(store, 'application/vnd.docker.ai.chat.template.jinja', Buffer.from(files['template.jinja']), {
      [FILEPATH]: 'template.jinja',
    }),
    await putBlob(store, 'application/vnd.docker.ai.model.file', Buffer.from(files['config/params.json']), {
      [FILEPATH]: 'config/params.json',
    }),
    await putBlob(
      store,
      'application/vnd.docker.ai.dir.tar',
      await tarOf({ 'tok/': '', 'tok/vocab.txt': files['tok/vocab.txt'], 'tok/merges.txt': files['tok/merges.txt'] }),
      { [FILEPATH]: 'tok' },
    ),
  ];
  const root = await putManifest(
    store,
    {
      mediaType: DOCKER_AI_CONFIG_V02,
      json: {
        config: { format: 'gguf', quantization: 'Q4_K_M', parameters: '1.24 B', architecture: 'llama', size: '4 KB' },
        descriptor: { created: '2026-11-30T10:00:00.123456789Z' },
        rootfs: { type: 'rootfs', diff_ids: layers.map((l) => l.digest) },
      },
    },
    layers,
    tag ? { tag } : {},
  );
  return { root, files, rawLayers: 4 };
}

/** A KitOps ModelKit: a raw model layer, a tar model part, a tar+gzip code layer, a tar docs layer. */
export async function modelKitArtifact(store: ContentStore, tag?: string): Promise<ForeignArtifact> {
  const weights = Buffer.concat([Buffer.from('safetensors header'), Buffer.alloc(4096, 1)]);
  const files = {
    'model/model.safetensors': weights,
    'model/tokenizer.json': '{}',
    'src/infer.py': 'print(1)',
    'README.md': '# model',
  };
  const layers = [
    await putBlob(store, 'application/vnd.kitops.modelkit.model.v1.raw', weights, {
      [FILEPATH]: 'model/model.safetensors',
    }),
    await putBlob(
      store,
      'application/vnd.kitops.modelkit.modelpart.v1.tar',
      await tarOf({ 'model/tokenizer.json': '{}' }),
    ),
    await putBlob(
      store,
      'application/vnd.kitops.modelkit.code.v1.tar+gzip',
      gzipSync(await tarOf({ 'src/': '', 'src/infer.py': files['src/infer.py'] })),
    ),
    await putBlob(
      store,
      'application/vnd.kitops.modelkit.docs.v1.tar',
      await tarOf({ 'README.md': files['README.md'] }),
    ),
  ];
  const kitfile = {
    manifestVersion: '1.0.0',
    package: { name: 'mk', version: '1.2.0', authors: ['Ada'], license: 'apache-2.0', description: 'a kit' },
    model: { name: 'tiny', path: 'model/model.safetensors', parts: [{ path: 'model/tokenizer.json' }] },
    code: [{ path: 'src' }],
    docs: [{ path: 'README.md' }],
  };
  const root = await putManifest(store, { mediaType: KITOPS_CONFIG, json: kitfile }, layers, {
    artifactType: KITOPS_MANIFEST,
    ...(tag ? { tag } : {}),
  });
  return { root, files, rawLayers: 1 };
}
