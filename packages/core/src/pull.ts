import { mkdir, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { countBytes } from './streams.js';
import { copyGraph, type CopyOptions, type CopyStats } from './copy.js';
import { parseImageManifest } from './manifest.js';
import { ModelshipError, opt } from './errors.js';
import { anyMatch, compileGlobs } from './modelpack/glob.js';
import { ExtractionStage, assertDistinctLayerPaths, safeJoin, type CommitOptions } from './extract.js';
import { isModelConfigMediaType, layerFilepath, parseLayerMediaType } from './mediatypes.js';
import { digestHex, isDigest, type Descriptor, type Manifest } from './oci.js';
import { readKind, type ContentStore, type ReadOnlyStore } from './store.js';
import type { Timings } from './timings.js';

export interface ExtractResult {
  descriptor: Descriptor;
  files: string[];
  bytes: number;
}

/** Resolves `reference` (tag or digest) in `store`, with a clear error when it is missing. */
export async function resolveReference(store: ReadOnlyStore, reference: string | undefined): Promise<Descriptor> {
  if (!reference)
    throw new ModelshipError('USAGE', `no tag or digest given for ${store.location}`, {
      hint: 'name one, e.g. host/repo:v1 or oci:./model-oci:v1',
    });
  return store.resolve(reference);
}

/** Copies an artifact and its referrers into another store (push = layout -> registry, pull = registry -> layout). */
export async function transfer(
  src: ReadOnlyStore,
  dst: ContentStore,
  root: Descriptor,
  options: CopyOptions = {},
): Promise<CopyStats> {
  return copyGraph(src, dst, root, options);
}

export interface ExtractOptions extends CommitOptions {
  onBytes?: (n: number) => void;
  /** Where the time goes (timings.ts): reads of the layers from the store are metered. */
  timings?: Timings;
  /**
   * Only the layers whose file path matches one of these globs (pack's glob rules:
   * modelpack/glob.ts; a directory name matches what is below it) are downloaded, verified and
   * written. None matching is NOT_FOUND naming the globs, before anything is written.
   */
  include?: readonly string[];
  /** Layers fetched at once (default 4). */
  concurrency?: number;
}

/** The config's diffIds, one per layer, when the config is a ModelPack config that lists them. */
async function configDiffIds(store: ReadOnlyStore, doc: Manifest): Promise<(string | undefined)[] | undefined> {
  if (!isModelConfigMediaType(doc.config.mediaType)) return undefined;
  let config: unknown;
  try {
    config = JSON.parse((await store.fetchBytes(doc.config)).toString('utf8'));
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    return undefined; // not JSON: no diffIds to check against
  }
  const ids = (config as { modelfs?: { diffIds?: unknown } } | null)?.modelfs?.diffIds;
  if (!Array.isArray(ids) || ids.length !== doc.layers.length) return undefined;
  return ids.map((d) => (typeof d === 'string' && isDigest(d) ? d : undefined));
}

/**
 * Writes the files of a ModelPack artifact into `dir`. Every layer is staged inside `dir` and
 * verified (blob digest, diffId) before anything is moved into place, so a tampered or
 * truncated layer leaves `dir` as it was; paths from annotations and tar entries may not leave
 * `dir`; files already there are kept when identical and refused when different unless
 * `overwrite` (ExtractConflictError).
 */
export async function extractArtifact(
  store: ReadOnlyStore,
  root: Descriptor,
  dir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const doc = parseImageManifest(await store.fetchBytes(root), root, 'pick one manifest by digest');
  if (!isModelConfigMediaType(doc.config.mediaType) && doc.artifactType === undefined)
    throw new ModelshipError('INVALID', `${root.digest} is not a ModelPack artifact (config ${doc.config.mediaType})`);
  // Everything the manifest alone can refuse is refused before the first byte is written.
  assertDistinctLayerPaths(
    doc.layers.map((l) => ({ path: layerFilepath(l.annotations) ?? '', digest: l.digest })),
    root.digest,
  );
  const raw = doc.layers.filter((l) => (parseLayerMediaType(l.mediaType)?.encoding ?? 'raw') === 'raw');
  for (const l of raw) {
    const fp = layerFilepath(l.annotations);
    if (!fp)
      throw new ModelshipError('INVALID', `layer ${l.digest} has no org.cncf.model.filepath annotation`, {
        hint: 'cannot tell where to write this raw layer; pull into an OCI layout instead',
      });
    safeJoin(resolve(dir), fp, `layer ${l.digest}`);
  }
  const globs = compileGlobs(options.include, 'USAGE', opt('include'));
  const wanted = new Set(
    globs.length ? doc.layers.filter((l) => anyMatch(globs, layerFilepath(l.annotations) ?? '')) : doc.layers,
  );
  if (wanted.size === 0) {
    const paths = doc.layers.map((l) => layerFilepath(l.annotations)).filter((p): p is string => p !== undefined);
    throw new ModelshipError(
      'NOT_FOUND',
      `no file of ${root.digest} matches ${globs.map((g) => `"${g.pattern}"`).join(', ')} (${opt('include')})`,
      {
        hint: paths.length
          ? `its files: ${paths.slice(0, 10).join(', ')}${paths.length > 10 ? `, … (${paths.length})` : ''}`
          : 'its layers name no file paths',
      },
    );
  }
  const diffIds = await configDiffIds(store, doc);

  const stage = await ExtractionStage.open(dir);
  const files: string[] = [];
  let bytes = 0;
  const count = (delta: number): void => {
    bytes += delta;
    options.onBytes?.(bytes);
  };
  let ok = false;
  try {
    // Raw layers already in `dir` byte for byte are not downloaded again.
    const present = await stage.precheck(
      raw.filter((l) => wanted.has(l)),
      options,
    );
    const limit = pLimit(Math.max(1, options.concurrency ?? 4));
    const download = store.blobDownload;
    let failed = false;
    const staged = doc.layers.map((layer, i) =>
      limit(async (): Promise<string[]> => {
        if (!wanted.has(layer) || failed) return [];
        if (present.has(layer)) return [stage.keep(layer)];
        const isRaw = (parseLayerMediaType(layer.mediaType)?.encoding ?? 'raw') === 'raw';
        if (isRaw && download) {
          // Straight into a file (verified there, resumable: download.ts), then into the stage.
          await mkdir(stage.partialDir, { recursive: true });
          const partial = join(stage.partialDir, digestHex(layer.digest));
          let last = 0;
          await download.download(layer, partial, {
            onProgress: (n) => {
              count(n - last);
              last = n;
            },
            ...(options.timings ? { timings: options.timings } : {}),
          });
          return [await stage.addDownloaded(layer, partial)];
        }
        const fetched = await store.fetch(layer);
        const content = options.timings ? options.timings.source(readKind(store), fetched) : fetched;
        const counted = countBytes(content, (_total, delta) => count(delta));
        const diffId = diffIds?.[i];
        try {
          return await stage.addLayer(layer, counted, diffId ? { diffId } : {});
        } finally {
          counted.destroy();
          content.destroy();
          fetched.destroy();
        }
      }).catch((e: unknown) => {
        failed = true;
        throw e;
      }),
    );
    // Every layer settles before the stage may be discarded: none still writes into it then.
    const settled = await Promise.allSettled(staged);
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    for (const r of settled) if (r.status === 'fulfilled') files.push(...r.value);
    await stage.commit(options);
    ok = true;
  } finally {
    // Empty unless an interrupted download left a partial blob for the next run.
    await rmdir(stage.partialDir).catch(() => {});
    await stage.discard(!ok);
  }
  return { descriptor: root, files, bytes };
}
