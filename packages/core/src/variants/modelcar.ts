/**
 * The `modelcar` variant: the model as an OCI image, what containerd unpacks (ImageVolume,
 * `ctr images pull`) and KServe serves (`oci://` modelcar, `oci+native://`, `oci+fetch://`).
 *
 * What those consumers require, read from their source (docs/kubernetes.md, "Sources
 * (runtimes and servers)"):
 * - containerd unpacks only layers of `application/vnd.oci.image.layer.*` types, needs an image
 *   config whose `rootfs.diff_ids` has one entry per layer, and unpacks only a config whose
 *   `os`/`architecture` match the node, otherwise it just fetches: so the root is an index with
 *   one manifest per platform;
 * - KServe's `oci+native://` mounts the image with `subPath: models`, `oci+fetch://` keeps the
 *   `models/` entries of `application/vnd.oci.image.layer.v1.tar` layers and resolves an index
 *   by platform, and `oci://` runs the image as a sidecar with a shell: that needs a base image.
 *
 * Each file is one uncompressed tar layer holding `models/` (and the file's parent
 * directories) and `models/<path>`, with fixed headers (mode 0644/0755, uid/gid 0, no owner
 * names, mtime 0), so the same file always gives the same layer digest, and a layer shared by
 * two models or two releases is stored once.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import tarStream from 'tar-stream';
import { blobCopier } from '../copy.js';
import { ModelshipError } from '../errors.js';
import { isIndexMediaType, parseImageManifest, parseManifest } from '../manifest.js';
import {
  ANNOTATION_BASE_DIGEST,
  ANNOTATION_BASE_NAME,
  ANNOTATION_CREATED,
  ANNOTATION_TITLE,
  ANNOTATION_VERSION,
  DOCKER_IMAGE_CONFIG,
  IMAGE_LAYER_MEDIA_TYPES,
  OCI_IMAGE_CONFIG,
  OCI_LAYER_TAR,
} from '../mediatypes.js';
import { VerifyingStream, sha256Digest } from '../digest.js';
import type { Descriptor, Manifest, Platform } from '../oci.js';
import { buildIndex, buildManifest, type BuiltManifest } from '../pack-manifest.js';
import { unsafePathReason } from '../safe-path.js';
import { mountSourcesFor, type ContentStore, type ReadOnlyStore } from '../store.js';
import type { Index } from '../oci.js';
import { openTarget, type RegistryAccess } from '../target.js';

/** Where a data-only modelcar unpacks: the platforms Kubernetes nodes commonly run. */
export const MODELCAR_PLATFORMS: readonly Platform[] = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux' },
];

/** The directory the model files sit under in the image (KServe's fixed `models` subPath). */
export const MODELCAR_ROOT = 'models';

/** The label (and link annotation) naming the primary a modelcar was made from. */
export const LABEL_VARIANT_OF = 'dev.modelship.variant.of';

/** One model file, as the modelcar builder reads it. */
export interface ModelcarFile {
  /** The file's path in the model ('/'-separated), from the primary's layer. */
  path: string;
  /** 0644 or 0755. */
  mode: number;
  size: number;
  /** The file's bytes (a fresh stream per call). */
  open(): Readable | Promise<Readable>;
  /** The layer's digest and size when already known (digest cache): then nothing is read if the target has it. */
  known?: { digest: string; size: number };
  /**
   * The file's sha256 when known (a raw primary layer): the bytes read are checked against
   * it, so a file changed since the primary was packed fails the build instead of making a
   * modelcar of other content.
   */
  expect?: string;
}

/** The bytes of `file`, checked against `file.expect` when it is set. */
async function fileContent(file: ModelcarFile): Promise<Readable> {
  const raw = await file.open();
  if (!file.expect) return raw;
  const checked = new VerifyingStream(file.expect, file.size, `${file.path} (for the modelcar)`);
  raw.on('error', (e) => checked.destroy(e));
  return raw.pipe(checked);
}

export interface ModelcarBase {
  /** The reference as the user wrote it (for the base-name annotation and the record). */
  name: string;
  store: ReadOnlyStore;
  /** The resolved base image: a manifest or an index. */
  descriptor: Descriptor;
}

export interface ModelcarOptions {
  target: ContentStore;
  /** The primary ModelPack manifest and its config JSON (for labels). */
  primary: Descriptor;
  modelConfig: Record<string, unknown>;
  files: ModelcarFile[];
  base?: ModelcarBase;
  createdAt?: string;
  concurrency?: number;
  mountFrom?: string[];
  /** Told each model layer once it is stored (the digest cache remembers them). */
  onLayer?: (file: ModelcarFile, layer: { digest: string; size: number; uploaded: boolean }) => void;
  onBytes?: (n: number) => void;
}

export interface ModelcarLayer {
  path: string;
  descriptor: Descriptor;
  uploaded: boolean;
}

export interface ModelcarResult {
  /** The index (one image manifest per platform). */
  descriptor: Descriptor;
  index: Index;
  manifests: { platform: Platform; descriptor: Descriptor }[];
  layers: ModelcarLayer[];
  base?: { name: string; digest: string };
  /** Bytes of the model layers (what the variant adds to the registry the first time). */
  layerBytes: number;
}

const FIXED = { uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0) };

/** The tar layer of one file: `models/`, the parent directories, then `models/<path>`; fixed headers. */
export function modelcarLayerStream(file: Pick<ModelcarFile, 'path' | 'mode' | 'size'>, content: Readable): Readable {
  const why = unsafePathReason(file.path);
  if (why) throw new ModelshipError('INVALID', `cannot put "${file.path}" in a modelcar: ${why}`);
  const parts = file.path.split('/').filter((p) => p !== '' && p !== '.');
  const pack = tarStream.pack();
  const entry = (header: Parameters<tarStream.Pack['entry']>[0], content?: Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      const sink = pack.entry(header, (e) => (e ? reject(e) : resolve()));
      if (content) pipeline(content, sink as unknown as NodeJS.WritableStream).catch(reject);
    });
  void (async () => {
    for (let i = 0; i < parts.length; i++)
      await entry({
        ...FIXED,
        name: `${[MODELCAR_ROOT, ...parts.slice(0, i)].join('/')}/`,
        type: 'directory',
        mode: 0o755,
      });
    const mode = file.mode & 0o111 ? 0o755 : 0o644;
    await entry({ ...FIXED, name: [MODELCAR_ROOT, ...parts].join('/'), type: 'file', size: file.size, mode }, content);
    pack.finalize();
  })().catch((e: unknown) => {
    content.destroy();
    pack.destroy(e as Error);
  });
  // A node Readable over tar-stream's (streamx) stream: what stores' ingest and push consume.
  return Readable.from(pack, { objectMode: false, highWaterMark: 1 << 20 });
}

interface BasePlatform {
  platform: Platform;
  manifest: Manifest;
  descriptor: Descriptor;
  config: Record<string, unknown>;
}

function asPlatform(v: { architecture?: unknown; os?: unknown; variant?: unknown }): Platform | undefined {
  if (typeof v.architecture !== 'string' || typeof v.os !== 'string') return undefined;
  if (!v.architecture || !v.os || v.architecture === 'unknown' || v.os === 'unknown') return undefined;
  return { architecture: v.architecture, os: v.os, ...(typeof v.variant === 'string' ? { variant: v.variant } : {}) };
}

async function readImage(store: ReadOnlyStore, desc: Descriptor, name: string): Promise<BasePlatform | undefined> {
  const manifest = parseImageManifest(await store.fetchBytes(desc), desc, 'name one platform of the base image');
  if (manifest.config.mediaType !== OCI_IMAGE_CONFIG && manifest.config.mediaType !== DOCKER_IMAGE_CONFIG)
    throw new ModelshipError(
      'INVALID',
      `base image ${name} (${desc.digest}) is not a container image (config ${manifest.config.mediaType})`,
      {
        hint: 'name a container image with a shell (busybox, distroless/base): KServe runs the modelcar as a sidecar',
      },
    );
  let config: Record<string, unknown>;
  try {
    config = JSON.parse((await store.fetchBytes(manifest.config)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    throw new ModelshipError('INVALID', `base image ${name}: config ${manifest.config.digest} is not JSON`, {
      cause: e,
    });
  }
  const diffIds = (config['rootfs'] as { diff_ids?: unknown } | undefined)?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length)
    throw new ModelshipError(
      'INVALID',
      `base image ${name} (${desc.digest}): rootfs.diff_ids does not list one entry per layer`,
    );
  const foreign = manifest.layers.find((l) => !IMAGE_LAYER_MEDIA_TYPES.includes(l.mediaType));
  if (foreign)
    throw new ModelshipError(
      'INVALID',
      `base image ${name} has a layer of type ${foreign.mediaType}, not an image layer`,
    );
  const platform = asPlatform(config as { architecture?: unknown; os?: unknown });
  return platform ? { platform, manifest, descriptor: desc, config } : undefined;
}

/** The base image per platform: an index's runnable entries (attestation entries skipped), or the one manifest. */
export async function basePlatforms(base: ModelcarBase): Promise<BasePlatform[]> {
  const root = base.descriptor;
  if (!isIndexMediaType(root.mediaType)) {
    const one = await readImage(base.store, root, base.name);
    if (!one) throw new ModelshipError('INVALID', `base image ${base.name} names no os/architecture in its config`);
    return [one];
  }
  const doc = parseManifest(await base.store.fetchBytes(root), root);
  const out: BasePlatform[] = [];
  for (const m of 'manifests' in doc ? doc.manifests : []) {
    if (!m.platform || !asPlatform(m.platform)) continue;
    const img = await readImage(base.store, { mediaType: m.mediaType, digest: m.digest, size: m.size }, base.name);
    if (img) out.push({ ...img, platform: asPlatform(m.platform)! });
  }
  if (!out.length) throw new ModelshipError('INVALID', `base image index ${base.name} lists no platform image`);
  return out;
}

function labelsFor(modelConfig: Record<string, unknown>, primary: Descriptor): Record<string, string> {
  const d = (modelConfig['descriptor'] ?? {}) as { name?: unknown; version?: unknown };
  return {
    ...(typeof d.name === 'string' ? { [ANNOTATION_TITLE]: d.name } : {}),
    ...(typeof d.version === 'string' ? { [ANNOTATION_VERSION]: d.version } : {}),
    [LABEL_VARIANT_OF]: primary.digest,
  };
}

/**
 * The image config of one platform: the base's (its Env, Entrypoint, User …, history) or, for
 * a data-only image, just `WorkingDir: /models`; the labels added; the model's diff_ids after
 * the base's. Pure: the same inputs give the same config digest.
 */
export function modelcarImageConfig(input: {
  platform: Platform;
  base?: Record<string, unknown>;
  diffIds: string[];
  paths: string[];
  labels: Record<string, string>;
  createdAt?: string;
}): Buffer {
  const base = input.base;
  const baseConfig = ((base?.['config'] ?? {}) as Record<string, unknown>) ?? {};
  const baseLabels = (baseConfig['Labels'] ?? {}) as Record<string, string>;
  const config: Record<string, unknown> = base
    ? { ...baseConfig, Labels: { ...baseLabels, ...input.labels } }
    : { WorkingDir: `/${MODELCAR_ROOT}`, Labels: input.labels };
  const baseDiffIds = ((base?.['rootfs'] as { diff_ids?: string[] } | undefined)?.diff_ids ?? []) as string[];
  const baseHistory = base?.['history'];
  // History lines up with the non-empty layers; a base without history gets none (a shorter
  // list would pair the model's entries with the base's layers).
  const history =
    !base || Array.isArray(baseHistory)
      ? [
          ...((baseHistory as unknown[] | undefined) ?? []),
          ...input.paths.map((p) => ({
            ...(input.createdAt ? { created: input.createdAt } : {}),
            created_by: `modelship modelcar: /${MODELCAR_ROOT}/${p}`,
          })),
        ]
      : undefined;
  const doc = {
    ...(input.createdAt ? { created: input.createdAt } : {}),
    architecture: input.platform.architecture,
    os: input.platform.os,
    ...(input.platform.variant ? { variant: input.platform.variant } : {}),
    config,
    rootfs: { type: 'layers', diff_ids: [...baseDiffIds, ...input.diffIds] },
    ...(history ? { history } : {}),
  };
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/** Builds the modelcar in `target`: model layers, base layers (copied or mounted), configs, manifests, index. */
export async function buildModelcar(options: ModelcarOptions): Promise<ModelcarResult> {
  const { target } = options;
  const limit = pLimit(options.concurrency ?? 4);
  const bases = options.base ? await basePlatforms(options.base) : undefined;

  const layers = await Promise.all(
    options.files.map((file) =>
      limit(async (): Promise<ModelcarLayer> => {
        const stream = async (): Promise<Readable> => modelcarLayerStream(file, await fileContent(file));
        let descriptor: Descriptor;
        let uploaded: boolean;
        if (file.known) {
          descriptor = { mediaType: OCI_LAYER_TAR, digest: file.known.digest, size: file.known.size };
          ({ uploaded } = await target.push(descriptor, { open: stream }, { mountFrom: options.mountFrom }));
        } else {
          const r = await target.ingest(OCI_LAYER_TAR, await stream(), { mountFrom: options.mountFrom });
          descriptor = { mediaType: OCI_LAYER_TAR, digest: r.descriptor.digest, size: r.descriptor.size };
          uploaded = r.uploaded;
        }
        options.onLayer?.(file, { digest: descriptor.digest, size: descriptor.size, uploaded });
        return { path: file.path, descriptor, uploaded };
      }),
    ),
  );

  if (options.base && bases) {
    const copier = blobCopier(options.base.store, target, {
      concurrency: options.concurrency ?? 4,
      mountFrom: [...(options.mountFrom ?? []), ...mountSourcesFor(options.base.store, target)],
      ...(options.onBytes ? { onBytes: options.onBytes } : {}),
    });
    await Promise.all(bases.flatMap((b) => b.manifest.layers.map((l) => copier.copy(l))));
  }

  const labels = labelsFor(options.modelConfig, options.primary);
  const diffIds = layers.map((l) => l.descriptor.digest);
  const paths = layers.map((l) => l.path);
  const perPlatform: { platform: Platform; base?: BasePlatform }[] = bases
    ? bases.map((b) => ({ platform: b.platform, base: b }))
    : MODELCAR_PLATFORMS.map((platform) => ({ platform }));
  const manifests: { platform: Platform; descriptor: Descriptor }[] = [];
  for (const p of perPlatform) {
    const configBytes = modelcarImageConfig({
      platform: p.platform,
      ...(p.base ? { base: p.base.config } : {}),
      diffIds,
      paths,
      labels,
      ...(options.createdAt ? { createdAt: options.createdAt } : {}),
    });
    const config: Descriptor = {
      mediaType: OCI_IMAGE_CONFIG,
      digest: sha256Digest(configBytes),
      size: configBytes.length,
    };
    await target.push(config, configBytes);
    const built = buildManifest({
      config,
      layers: [
        ...(p.base?.manifest.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })) ?? []),
        ...layers.map((l) => l.descriptor),
      ],
      annotations: {
        ...(options.createdAt ? { [ANNOTATION_CREATED]: options.createdAt } : {}),
        ...(p.base && options.base
          ? { [ANNOTATION_BASE_NAME]: options.base.name, [ANNOTATION_BASE_DIGEST]: p.base.descriptor.digest }
          : {}),
      },
    });
    await target.push(built.descriptor, built.manifestBytes);
    manifests.push({ platform: p.platform, descriptor: built.descriptor });
  }
  const index: BuiltManifest<Index> = buildIndex({
    manifests: manifests.map((m) => ({ ...m.descriptor, platform: m.platform })),
    annotations: {
      ...(options.createdAt ? { [ANNOTATION_CREATED]: options.createdAt } : {}),
      ...(options.base
        ? { [ANNOTATION_BASE_NAME]: options.base.name, [ANNOTATION_BASE_DIGEST]: options.base.descriptor.digest }
        : {}),
    },
  });
  await target.push(index.descriptor, index.manifestBytes);
  return {
    descriptor: index.descriptor,
    index: index.manifest,
    manifests,
    layers,
    ...(options.base ? { base: { name: options.base.name, digest: options.base.descriptor.digest } } : {}),
    layerBytes: layers.reduce((a, l) => a + l.descriptor.size, 0),
  };
}

/**
 * Opens the base image a modelcar is built on (a registry reference or an `oci:` layout) and
 * resolves it once; `close` releases the store. Nothing is copied until the modelcar is built.
 */
export async function openModelcarBase(
  reference: string,
  access: RegistryAccess | undefined,
): Promise<{ base: ModelcarBase; close: () => Promise<void> }> {
  const target = await openTarget(reference, access ? { registry: access } : {});
  try {
    const descriptor = await target.store.resolve(target.reference ?? 'latest');
    return {
      base: { name: target.display, store: target.store, descriptor },
      close: () => target.store.close(),
    };
  } catch (e) {
    await target.store.close();
    throw e;
  }
}
