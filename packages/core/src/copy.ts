import pLimit from 'p-limit';
import { ModelshipError } from './errors.js';
import { isManifestDescriptor, manifestChildren, parseManifest } from './manifest.js';
import type { Descriptor } from './oci.js';
import type { Readable } from 'node:stream';
import { mountSourcesFor, readKind, type ContentStore, type ReadOnlyStore } from './store.js';
import type { Timings } from './timings.js';

export interface CopyOptions {
  /** Blob transfers in flight at once (default 4: registries and peers use 3–6). */
  concurrency?: number;
  /** Follow referrers (signatures, attestations), recursively. Default true. */
  referrers?: boolean;
  /**
   * Repositories on the target registry to try as cross-repo mount sources. Default: the
   * source repository when both stores are repositories of one registry (store.ts).
   */
  mountFrom?: string[];
  /** Tags to set on the root in the target once everything else is there. */
  tags?: string[];
  /** Called with the running byte count of blob data transferred. */
  onBytes?: (bytes: number) => void;
  /** Where the time goes (timings.ts): passed to the target's pushes, and reads from the source are metered. */
  timings?: Timings;
  /** Called once per blob when its fate is known. */
  onBlob?: (desc: Descriptor, outcome: 'copied' | 'mounted' | 'skipped') => void;
  /** Leave out this referrer of `subject` (and what hangs off it); default: copy every referrer. */
  skipReferrer?: (referrer: Descriptor, subject: Descriptor) => boolean;
}

export interface CopyStats {
  blobsCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
  bytesCopied: number;
  manifestsCopied: number;
  manifestsSkipped: number;
  referrersCopied: number;
}

/** Deepest manifest graph any walk follows (index children, referrers of referrers). */
export const MAX_GRAPH_DEPTH = 16;
/** The stats of a copy that moved nothing (promote into the place an artifact already is). */
export function noCopy(): CopyStats {
  return {
    blobsCopied: 0,
    blobsMounted: 0,
    blobsSkipped: 0,
    bytesCopied: 0,
    manifestsCopied: 0,
    manifestsSkipped: 0,
    referrersCopied: 0,
  };
}

export type BlobCopyOptions = Pick<CopyOptions, 'concurrency' | 'mountFrom' | 'onBytes' | 'onBlob' | 'timings'>;

/**
 * The blob half of the graph copy, for callers that move blobs a manifest of their own will
 * name (variants, conversions): each digest once, `concurrency` at once, mounted when a mount
 * source has it, skipped when the target has it (never read from the source then).
 */
export function blobCopier(
  src: ReadOnlyStore,
  dst: ContentStore,
  options: BlobCopyOptions = {},
  stats: CopyStats = noCopy(),
): { copy(desc: Descriptor): Promise<void>; stats: CopyStats } {
  const limit = pLimit(options.concurrency ?? 4);
  const mountFrom = options.mountFrom ?? mountSourcesFor(src, dst);
  const blobs = new Map<string, Promise<void>>();
  let bytesDone = 0;
  const timings = options.timings;
  const metered = (s: Readable): Readable => (timings ? timings.source(readKind(src), s) : s);
  const copy = (desc: Descriptor): Promise<void> => {
    let p = blobs.get(desc.digest);
    if (!p) {
      p = limit(async () => {
        let last = 0;
        const download = src.blobDownload;
        const result = await dst.push(
          desc,
          // A store that keeps blobs as files lets the source write (and verify) there: one hash.
          download
            ? {
                open: async () => metered(await src.fetch(desc)),
                download: (path, o) => download.download(desc, path, timings ? { ...o, timings } : o),
              }
            : { open: async () => metered(await src.fetch(desc)) },
          {
            mountFrom,
            ...(timings ? { timings } : {}),
            onProgress: (n) => {
              bytesDone += n - last;
              last = n;
              options.onBytes?.(bytesDone);
            },
          },
        );
        if (result.mounted) {
          stats.blobsMounted++;
          options.onBlob?.(desc, 'mounted');
        } else if (result.uploaded) {
          stats.blobsCopied++;
          stats.bytesCopied += desc.size;
          options.onBlob?.(desc, 'copied');
        } else {
          stats.blobsSkipped++;
          options.onBlob?.(desc, 'skipped');
        }
      });
      blobs.set(desc.digest, p);
    }
    return p;
  };
  return { copy, stats };
}

/**
 * The one graph copy: manifest -> config + layers (in parallel, skipping what the target has)
 * -> manifest -> referrers, recursively. Children always land before their parent, so a
 * target never holds a manifest pointing at a missing blob because of us, and a re-run after a
 * failure moves only what is missing; a present manifest's children are still checked, so a
 * target left incomplete by anything else is completed, not skipped. Manifest bytes are copied verbatim, so digests and signatures
 * stay valid.
 */
export async function copyGraph(
  src: ReadOnlyStore,
  dst: ContentStore,
  root: Descriptor,
  options: CopyOptions = {},
): Promise<CopyStats> {
  const { copy: copyBlob, stats } = blobCopier(src, dst, options);
  const manifests = new Map<string, Promise<void>>();
  const copiedManifests = new Set<string>();
  const countedReferrers = new Set<string>();

  const copyNode = (desc: Descriptor, depth: number): Promise<void> => {
    if (depth > MAX_GRAPH_DEPTH)
      return Promise.reject(
        new ModelshipError('INVALID', `manifest graph deeper than ${MAX_GRAPH_DEPTH} at ${desc.digest}`),
      );
    let p = manifests.get(desc.digest);
    if (!p) {
      p = (async () => {
        if (!isManifestDescriptor(desc)) return copyBlob(desc);
        // A manifest the target has usually has its children too (registries refuse manifests
        // with missing blobs; our stores write children first), but not always: a copy by
        // another tool interrupted, a registry GC, a blob removed from a layout. So the
        // children of a present manifest are walked as well; what the target has costs one
        // existence check in push, never a transfer.
        const present = await dst.exists(desc);
        const bytes = await src.fetchBytes(desc);
        const doc = parseManifest(bytes, desc);
        // An index's children are manifests (copyNode walks them); a manifest's are blobs.
        await Promise.all(
          manifestChildren(doc).map((c) => ('manifests' in doc ? copyNode(c, depth + 1) : copyBlob(c))),
        );
        if (present) {
          stats.manifestsSkipped++;
        } else {
          await dst.push(desc, bytes);
          stats.manifestsCopied++;
          copiedManifests.add(desc.digest);
        }
        if (options.referrers !== false) {
          // In parallel: on a registry without the referrers API their fallback-index entries
          // then share one read-modify-write instead of one each.
          const refs = (await src.referrers(desc)).filter((r) => !options.skipReferrer?.(r, desc));
          await Promise.all(
            refs.map(async (r) => {
              await copyNode({ mediaType: r.mediaType, digest: r.digest, size: r.size }, depth + 1);
              if (copiedManifests.has(r.digest) && !countedReferrers.has(r.digest)) {
                countedReferrers.add(r.digest);
                stats.referrersCopied++;
              }
            }),
          );
        }
      })();
      manifests.set(desc.digest, p);
    }
    return p;
  };

  await copyNode(root, 0);
  for (const t of options.tags ?? []) await dst.tag(root, t);
  return stats;
}
