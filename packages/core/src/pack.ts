import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import pLimit from 'p-limit';
import type { DigestCache } from './digest-cache.js';
import { ModelshipError } from './errors.js';
import { gitLfsDigests } from './modelpack/git-lfs.js';
import { openGitSession, type GitSession } from './modelpack/git.js';
import { hashFiles } from './hash-pool.js';
import { layerMediaType, type IdentifierFamily, type LayerEncoding, type LayerKind } from './mediatypes.js';
import {
  buildModelConfig,
  createLayerStream,
  inferModelMetadata,
  layerAnnotations,
  scanModelDir,
  validateModelConfig,
  type ModelFile,
  type ModelMetadataOverrides,
  type ScanOptions,
  type ScanResult,
} from './modelpack/index.js';
import type { IgnoredPath } from './modelpack/ignore-files.js';
import type { OpenBytes } from './modelpack/filereader.js';
import { PackScan } from './scan/pack-scan.js';
import type { ScanPredicate } from './scan/predicate.js';
import type { Descriptor, Manifest } from './oci.js';
import { NO_PROGRESS, type Progress } from './progress.js';
import type { Timings } from './timings.js';
import type { ContentStore } from './store.js';
import { countBytes } from './streams.js';
import { buildArtifact, sortedRecord } from './pack-manifest.js';
import {
  modelcarFilesFromDisk,
  publishVariants,
  type PublishedVariant,
  type VariantRequest,
} from './variants/publish.js';

export {
  ANNOTATION_MODCTL_MODELFILE,
  ANNOTATION_MODCTL_MODELFILE_CNAI,
  buildArtifact,
  serializeManifest,
  type ArtifactInput,
  type BuiltArtifact,
} from './pack-manifest.js';

/** Registries that cap a layer near 10 GB (GHCR, Google, ECR Public); see docs/decisions.md, "Large layers". */
const LARGE_LAYER_WARNING_BYTES = 10 * 1000 * 1000 * 1000;

export interface PackOptions {
  /** The model directory, or one model file (`pack model.gguf`: as a directory holding only it). */
  dir: string;
  target: ContentStore;
  /** Tags to set on the manifest once everything is stored. */
  tags?: string[];
  family?: IdentifierFamily;
  /** Layer encoding; `raw` (default) is what CRI-O can mount. */
  layerFormat?: LayerEncoding;
  scan?: ScanOptions;
  metadata?: ModelMetadataOverrides;
  /** RFC 3339 time for descriptor.createdAt and the manifest's created annotation; omitted by default (reproducible). */
  createdAt?: string;
  /** Use on-disk mode/uid/gid/mtime in file metadata annotations (not reproducible across clones). */
  realFileMetadata?: boolean;
  manifestAnnotations?: Record<string, string>;
  /** Digest cache; `null` disables. */
  cache?: DigestCache | null;
  /**
   * Take raw layers' digests from Git LFS pointers of files git reports unmodified (default
   * true; see modelpack/git-lfs.ts). The CLI turns it off with --no-cache.
   */
  gitLfs?: boolean;
  /** Files transferred at once (default 4). */
  concurrency?: number;
  mountFrom?: string[];
  progress?: Progress;
  /** Where the time goes (timings.ts): hashing, the target's network requests and disk writes, file reads. */
  timings?: Timings;
  warn?: (message: string) => void;
  /** Scan every file for unsafe content (pickle imports, hostile headers) on the read pack makes anyway (scan/pack-scan.ts). */
  securityScan?: boolean;
  /** Variants to publish next to the primary, tagged `<tag>-<name>` (variants/publish.ts). */
  variants?: VariantRequest;
  /**
   * Files whose digest is known and whose bytes come from elsewhere (import from the Hugging
   * Face Hub, see hub/import.ts, where the directory holds placeholders of the files' sizes): the
   * scan, the ignore files and the classification are pack's own, while the digest (so the target
   * is asked first), the layer's bytes and the metadata headers come from here. Raw layers only:
   * their digest is the file's sha256.
   */
  remoteFiles?: (file: ModelFile) => RemoteFile | undefined;
}

/** A file of `PackOptions.remoteFiles`: its raw layer digest, its bytes, and its header bytes. */
export interface RemoteFile {
  digest: string;
  size: number;
  /** The whole file; called again on a retry. */
  open(): Readable | Promise<Readable>;
  /** Positional reads of the first bytes, for the metadata headers (safetensors, GGUF, config.json). */
  bytes: OpenBytes;
}

export interface PackedLayer {
  path: string;
  kind: LayerKind;
  /** The kind was guessed by the name rules (modelpack/classify.ts), not named by a spec. */
  untested: boolean;
  descriptor: Descriptor;
  diffId: string;
  /** Bytes were written/uploaded for this layer (false: the target already had it). */
  uploaded: boolean;
  /** Digest came from the cache (file not re-hashed). */
  cached: boolean;
}

export interface PackResult {
  descriptor: Descriptor;
  manifest: Manifest;
  manifestBytes: Buffer;
  config: Record<string, unknown>;
  configDescriptor: Descriptor;
  layers: PackedLayer[];
  /** Sum of config + layer sizes. */
  size: number;
  warnings: string[];
  /** Paths not packed because an ignore file names them or they are pack's own output (see modelpack/ignore-files.ts). */
  ignored: IgnoredPath[];
  /** The variants published next to it, in the order asked for. */
  variants: PublishedVariant[];
  /** The model scan of the packed files (with `securityScan`), ready to be attested. */
  securityScan?: ScanPredicate;
  stats: {
    files: number;
    hashed: number;
    cacheHits: number;
    uploaded: number;
    mounted: number;
    skipped: number;
    bytesRead: number;
    /** Files whose digest came from their Git LFS pointer (not read to hash them). */
    gitLfs: number;
  };
}

/** Cache variant: a tar layer's bytes also depend on the in-archive name and exec bit. */
function cacheVariant(file: ModelFile, format: LayerEncoding): string {
  return format === 'raw' ? 'raw' : `${format}:${(file.mode & 0o111) !== 0 ? 'x' : '-'}:${file.path}`;
}

const PLACEHOLDER_DIGEST = `sha256:${'0'.repeat(64)}`;

interface LayerDigests {
  digest: string;
  size: number;
  diffId: string;
}

/**
 * Packs a model directory into a ModelPack artifact in `target`. Each file is read once:
 * into the digest-cache check (no read), the worker-pool hash + hard link (layouts on the same
 * device), or a hash-while-writing ingest (registries, other devices, tar layers).
 */
export async function pack(options: PackOptions): Promise<PackResult> {
  // Before anything is written: a cnai artifact has no cnai variant to make.
  if (options.family === 'cnai' && options.variants?.names.includes('cnai'))
    throw new ModelshipError(
      'USAGE',
      'the cnai variant is made from a cncf artifact, and this one uses cnai identifiers',
      {
        hint: 'pack with the cncf identifiers (the default) and the cnai variant, or drop the variant',
      },
    );
  // pack's own output is never input: the layout it writes (by default ./model-oci, inside the
  // model dir when packing `.`) and its digest cache, wherever they are, by resolved path.
  const skipDirs: { path: string; why: string }[] = [];
  const skip = async (p: string, why: string): Promise<void> => {
    skipDirs.push({ path: await realpath(p).catch(() => resolve(p)), why });
  };
  const local = options.target.localFiles;
  if (local) await skip(local.directory, 'the output layout');
  if (options.cache) await skip(options.cache.dir, 'the digest cache');
  const scanned = await scanModelDir(options.dir, { ...options.scan, skipDirs });
  // One git session (a private git dir: the model repo's own config and hooks never run) and
  // one `git status` for the dirty check and the Git LFS digests (see modelpack/git.ts).
  const git = openGitSession(scanned.root);
  try {
    return await packScanned(options, scanned, git);
  } finally {
    await git.close();
  }
}

async function packScanned(options: PackOptions, scanned: ScanResult, git: GitSession): Promise<PackResult> {
  const { files, specMetadata } = scanned;
  const family = options.family ?? 'cncf';
  const format = options.layerFormat ?? 'raw';
  const store = options.target;
  const progress = options.progress ?? NO_PROGRESS;
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    options.warn?.(m);
  };
  // What the scan found worth saying (empty directories, spec globs that match nothing).
  for (const w of scanned.warnings) warn(w);
  if (format !== 'raw' && options.remoteFiles)
    throw new ModelshipError('USAGE', `files from elsewhere are packed as raw layers only, not ${format}`);
  // A remote file is a placeholder here: a file the target already has would be scanned from it.
  if (options.securityScan && options.remoteFiles)
    throw new ModelshipError('USAGE', 'files from elsewhere are not scanned while packing', {
      hint: 'scan the artifact after the import: attest --type scan reads each layer once from the target',
    });
  const metadata = await inferModelMetadata(
    scanned.root,
    files,
    { ...specMetadata, ...(options.metadata ?? {}) },
    {
      gitStatus: () => git.status(),
      ...(scanned.singleFile ? { fallbackName: scanned.singleFile.stem } : {}),
      ...(options.remoteFiles ? { openFile: (f: ModelFile) => options.remoteFiles?.(f)?.bytes } : {}),
    },
  );
  const createdAt = options.createdAt;
  // Validate everything but the digests before the first byte is written.
  validateModelConfig(
    buildModelConfig(
      metadata,
      files.map(() => PLACEHOLDER_DIGEST),
      createdAt ? { createdAt } : {},
    ),
  );
  if (format !== 'raw') {
    for (const f of files)
      if (f.kind === 'weight' && format !== 'tar')
        warn(`${f.path}: compressing weights (${format}) rarely saves space and slows every pull; raw is recommended`);
  }

  // A layer the target registry is known to refuse fails here, before any file is read. The
  // file's size is the raw layer's size and a lower bound for a tar layer's.
  if (store.checkLayerSize && format !== 'tar+gzip' && format !== 'tar+zstd')
    for (const f of files) store.checkLayerSize(f.path, f.size);

  const stats: PackResult['stats'] = {
    files: files.length,
    hashed: 0,
    cacheHits: 0,
    uploaded: 0,
    mounted: 0,
    skipped: 0,
    bytesRead: 0,
    gitLfs: 0,
  };
  const cached = await knownDigests(options, scanned.root, files, format, git, stats);
  // Bytes to read (files to hash) plus, at most, the bytes of the files whose digest is known:
  // one the target has already is taken off the total once the target says so.
  let total = files.reduce((a, f) => a + f.size, 0);
  progress.setTotal(total);
  progress.setBlobs(files.length);
  const present = (size: number): void => {
    total -= size;
    progress.setTotal(total);
  };
  let done = 0;
  const advance = (n: number): void => {
    done += n;
    stats.bytesRead += n;
    progress.update(done);
  };
  const scanning = options.securityScan ? new PackScan() : undefined;
  const poolHashed = await poolHash(store, files, cached, format, advance, stats, scanning, options.timings);
  const layers = await pushLayers({ options, family, format, stats, warn, advance, present, scanning }, files, {
    cached,
    poolHashed,
  });
  const securityScan = await scanning?.finish(
    files.map((file, i) => ({ file, digest: layers[i]!.descriptor.digest, raw: format === 'raw' })),
  );
  progress.finish();
  if (options.cache) await options.cache.save();

  const built = buildArtifact({
    family,
    metadata,
    layers: layers.map((l) => ({ descriptor: l.descriptor, diffId: l.diffId })),
    ...(createdAt ? { createdAt } : {}),
    ...(scanned.specFormat ? { spec: { format: scanned.specFormat, text: scanned.specText } } : {}),
    ...(options.manifestAnnotations ? { manifestAnnotations: options.manifestAnnotations } : {}),
  });
  const timed = options.timings ? { timings: options.timings } : {};
  await store.push(built.configDescriptor, built.configBytes, { mountFrom: options.mountFrom, ...timed });
  await store.push(built.descriptor, built.manifestBytes, timed);
  for (const t of options.tags ?? []) await store.tag(built.descriptor, t);
  const variants = options.variants?.names.length
    ? await packVariants(options, files, format, built, options.variants)
    : [];

  return {
    descriptor: built.descriptor,
    manifest: built.manifest,
    manifestBytes: built.manifestBytes,
    config: built.config,
    configDescriptor: built.configDescriptor,
    layers,
    size: built.configDescriptor.size + layers.reduce((a, l) => a + l.descriptor.size, 0),
    warnings,
    ignored: scanned.ignored,
    variants,
    ...(securityScan ? { securityScan } : {}),
    stats,
  };
}

/**
 * The variants of a fresh pack, from the model's files on disk (never from the target: a
 * registry would have to send every blob back). A modelcar layer's digest is remembered in
 * the digest cache like a tar layer's, so a re-pack of unchanged files reads nothing.
 */
async function packVariants(
  options: PackOptions,
  files: ModelFile[],
  format: LayerEncoding,
  built: ReturnType<typeof buildArtifact>,
  request: VariantRequest,
): Promise<PublishedVariant[]> {
  const cache = options.cache ?? null;
  const carKey = (f: ModelFile): string => `modelcar:${(f.mode & 0o111) !== 0 ? 'x' : '-'}:${f.path}`;
  const byPath = new Map(files.map((f) => [f.path, f]));
  const carFiles = modelcarFilesFromDisk(files, built.manifest.layers, format === 'raw').map((c) => {
    const hit = cache?.get(byPath.get(c.path)!, carKey(byPath.get(c.path)!));
    return hit ? { ...c, known: { digest: hit.digest, size: hit.size } } : c;
  });
  const variants = await publishVariants({
    target: options.target,
    primary: { descriptor: built.descriptor, manifest: built.manifest, config: built.config },
    request,
    tags: options.tags ?? [],
    files: carFiles,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
    onLayer: (f, layer) => {
      const file = byPath.get(f.path);
      if (cache && file)
        cache.set(file, carKey(file), { digest: layer.digest, size: layer.size, diffId: layer.digest });
    },
  });
  if (cache) await cache.save();
  return variants;
}

// ---- digest resolution -------------------------------------------------------------------

/** Digests known without reading the file: digest-cache hits, then Git LFS pointers (raw layers). */
async function knownDigests(
  options: PackOptions,
  root: string,
  files: ModelFile[],
  format: LayerEncoding,
  git: GitSession,
  stats: PackResult['stats'],
): Promise<Map<ModelFile, LayerDigests>> {
  const cached = new Map<ModelFile, LayerDigests>();
  const cache = options.cache ?? null;
  if (cache) {
    for (const f of files) {
      const hit = cache.get(f, cacheVariant(f, format));
      if (hit) cached.set(f, { digest: hit.digest, size: hit.size, diffId: hit.diffId ?? hit.digest });
    }
  }
  stats.cacheHits = cached.size;
  for (const f of files) {
    const remote = options.remoteFiles?.(f);
    if (remote) cached.set(f, { digest: remote.digest, size: remote.size, diffId: remote.digest });
  }
  if (format === 'raw' && options.gitLfs !== false) {
    const pending = files.filter((f) => !cached.has(f));
    const lfs = await gitLfsDigests(root, pending, git);
    for (const f of pending) {
      const d = lfs.get(f.absPath);
      if (d) cached.set(f, { digest: d.digest, size: d.size, diffId: d.digest });
    }
    stats.gitLfs = lfs.size;
  }
  return cached;
}

/**
 * A store that hard-links local files (a layout on the same device): hash those files in the
 * worker pool (all cores) first, then each push is a link: one read of each file. A registry
 * hashes while uploading (ingest), resumable for large files without knowing the digest first.
 */
async function poolHash(
  store: ContentStore,
  files: ModelFile[],
  cached: Map<ModelFile, LayerDigests>,
  format: LayerEncoding,
  advance: (n: number) => void,
  stats: PackResult['stats'],
  scanning: PackScan | undefined,
  timings: Timings | undefined,
): Promise<Map<ModelFile, LayerDigests>> {
  const poolHashed = new Map<ModelFile, LayerDigests>();
  const local = store.localFiles;
  if (format !== 'raw' || !local) return poolHashed;
  const linkDev = await local.linkDevice();
  const toHash = files.filter((f) => !cached.has(f) && f.dev === linkDev);
  if (!toHash.length) return poolHashed;
  let last = 0;
  const results = await hashFiles(
    toHash.map((f) => {
      const tee = scanning?.hashTee(f);
      return tee ? { path: f.absPath, tee } : f.absPath;
    }),
    {
      onProgress: (n) => {
        advance(n - last);
        last = n;
      },
      ...(timings ? { timings } : {}),
    },
  );
  toHash.forEach((f, i) => {
    const r = results[i]!;
    scanning?.hashed(f, r.size);
    poolHashed.set(f, { digest: r.digest, size: r.size, diffId: r.digest });
  });
  stats.hashed += toHash.length;
  return poolHashed;
}

// ---- layer push --------------------------------------------------------------------------

interface LayerContext {
  options: PackOptions;
  family: IdentifierFamily;
  format: LayerEncoding;
  stats: PackResult['stats'];
  warn: (m: string) => void;
  advance: (n: number) => void;
  /** A file whose digest was known turned out to be in the target: its bytes leave the total. */
  present: (size: number) => void;
  scanning: PackScan | undefined;
}

/** Pushes every file as a layer, `concurrency` at once: known digests by push, the rest by ingest. */
async function pushLayers(
  ctx: LayerContext,
  files: ModelFile[],
  known: { cached: Map<ModelFile, LayerDigests>; poolHashed: Map<ModelFile, LayerDigests> },
): Promise<PackedLayer[]> {
  const { options, family, format, stats } = ctx;
  const store = options.target;
  const cache = options.cache ?? null;
  const { cached, poolHashed } = known;
  const limit = pLimit(options.concurrency ?? 4);
  return Promise.all(
    files.map((file) =>
      limit(async (): Promise<PackedLayer> => {
        const mediaType = layerMediaType(family, file.kind, format);
        const digested = cached.get(file) ?? poolHashed.get(file);
        let digests: LayerDigests;
        let uploaded: boolean;
        let mounted = false;
        if (digested) {
          const desc = { mediaType, digest: digested.digest, size: digested.size };
          const remote = options.remoteFiles?.(file);
          const scanning = ctx.scanning;
          // A remote file has no `path`: the placeholder must never be hard-linked as the blob.
          const source = remote
            ? { open: () => remote.open() }
            : format === 'raw'
              ? {
                  path: file.absPath,
                  open: () => {
                    const read = createReadStream(file.absPath);
                    return scanning ? scanning.tap(file, read) : read;
                  },
                }
              : {
                  open: () => {
                    const layer = createLayerStream(file, format);
                    scanning?.tapLayer(file, layer);
                    return layer.stream;
                  },
                };
          let last = 0;
          const timings = options.timings;
          const res = await store.push(desc, metered(source, timings), {
            mountFrom: options.mountFrom,
            onProgress: (n) => {
              if (!cached.has(file)) return; // pool-hashed bytes were counted already
              ctx.advance(n - last);
              last = n;
            },
            ...(timings ? { timings } : {}),
          });
          // Pool-hashed bytes were counted when hashed; a known digest's file counts what was
          // sent, and one that moved nothing (in the target already, hard-linked) leaves the total.
          if (cached.has(file) && last === 0) ctx.present(digested.size);
          digests = digested;
          uploaded = res.uploaded;
          mounted = res.mounted === true;
        } else {
          const r = await ingestLayer(store, file, format, mediaType, ctx.advance, options, ctx.scanning);
          digests = r.digests;
          uploaded = r.uploaded;
          stats.hashed++;
        }
        await assertUnchanged(file);
        if (cache && !cached.has(file)) cache.set(file, cacheVariant(file, format), digests);
        if (mounted) stats.mounted++;
        else if (uploaded) stats.uploaded++;
        else stats.skipped++;
        options.progress?.blob(mounted ? 'mounted' : uploaded ? 'sent' : 'present', digests.size);
        if (digests.size >= LARGE_LAYER_WARNING_BYTES)
          ctx.warn(
            `${file.path}: layer is ${(digests.size / 1e9).toFixed(1)} GB; GHCR, Google Artifact Registry and ECR Public refuse layers over ~10 GB`,
          );
        return {
          path: file.path,
          kind: file.kind,
          untested: file.untested,
          descriptor: {
            mediaType,
            digest: digests.digest,
            size: digests.size,
            annotations: sortedRecord(
              layerAnnotations(file, family, options.realFileMetadata ? { realMetadata: true } : {}),
            ),
          },
          diffId: digests.diffId,
          uploaded,
          cached: cached.has(file),
        };
      }),
    ),
  );
}

async function ingestLayer(
  store: ContentStore,
  file: ModelFile,
  format: LayerEncoding,
  mediaType: string,
  advance: (n: number) => void,
  options: PackOptions,
  scanning: PackScan | undefined,
): Promise<{ digests: LayerDigests; uploaded: boolean }> {
  const { mountFrom, timings } = options;
  const timed = timings ? { timings } : {};
  if (format === 'raw') {
    const file_ = createReadStream(file.absPath, { highWaterMark: 1024 * 1024 });
    const read = timings ? timings.source('disk', file_) : file_;
    const stream = countBytes(scanning ? scanning.tap(file, read) : read, (_t, delta) => advance(delta));
    // Without a scan nothing here needs the bytes: a store may read the file itself.
    const fileRead = scanning ? {} : { fileRead: advance };
    const r = await store.ingest(mediaType, stream, {
      mountFrom,
      size: file.size,
      path: file.absPath,
      ...fileRead,
      ...timed,
    });
    if (r.descriptor.size !== file.size)
      throw new ModelshipError('CONFLICT', `${file.path} changed size while it was being packed`, {
        hint: 'wait until the file is fully written, then re-run',
      });
    return { digests: { ...r.descriptor, diffId: r.descriptor.digest }, uploaded: r.uploaded };
  }
  const layer = createLayerStream(file, format);
  scanning?.tapLayer(file, layer);
  layer.progress?.((n) => advance(n));
  const r = await store.ingest(mediaType, layer.stream, {
    mountFrom,
    ...timed,
    ...(format === 'tar' ? { size: layer.tarSize } : {}),
  });
  const diffId = format === 'tar' ? r.descriptor.digest : await layer.diffId();
  return { digests: { digest: r.descriptor.digest, size: r.descriptor.size, diffId }, uploaded: r.uploaded };
}

/** A file source whose reads count as disk time (a hard link reads nothing, so `path` stays). */
function metered<S extends { open(): Readable | Promise<Readable>; path?: string }>(
  source: S,
  timings: Timings | undefined,
): S {
  if (!timings) return source;
  return { ...source, open: async () => timings.source('disk', await source.open()) };
}

/** The bytes we stored must be the bytes we described: refuse files that changed meanwhile. */
async function assertUnchanged(file: ModelFile): Promise<void> {
  const s = await stat(file.absPath);
  if (s.size !== file.size || s.mtimeMs !== file.mtimeMs)
    throw new ModelshipError('CONFLICT', `${file.path} changed while it was being packed`, {
      hint: 'wait until the file is fully written, then re-run',
    });
}
