import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { ModelshipError, isModelshipError } from '../errors.js';
import { isManifestMediaType, manifestChildren, parseManifest, type ManifestSummary } from '../manifest.js';
import { ANNOTATION_REF_NAME, OCI_INDEX } from '../mediatypes.js';
import { isReferrersFallbackTag, type Descriptor, type Index } from '../oci.js';
import { errno, wrapFs } from './errors.js';
import type { LayoutIndexFile } from './index-file.js';
import { ANNOTATION_REFERRER_SUBJECT, layoutReferrers } from './referrers.js';

/**
 * Garbage collection of an OCI layout: what no tag reaches is deleted, mark and sweep.
 *
 * Kept: every tagged manifest, what it references (config, layers, an index's manifests) and
 * its referrers (signatures, attestations, referrers of those), recursively, as the graph copy
 * follows them (copy.ts), plus the referrers lists (a `sha256-<hex>` fallback tag, an
 * image-spec#1171 index) of every kept manifest. Deleted: index.json entries of everything
 * else (untagged manifests, referrers of what is gone) and every blob no kept manifest
 * references. A kept manifest that cannot be read stops the collection before anything is
 * deleted: what it references is unknown, so nothing can be called garbage.
 *
 * Order: index.json is rewritten atomically (and its directory synced) before the first blob
 * is deleted, all under index.json.lock, so a crash leaves garbage at worst, never an entry
 * whose blobs are gone, and no tag can be set on a manifest between the two steps. Blobs and
 * entries changed less than `minAgeMs` ago are kept whatever references them: a pack or pull
 * still running writes its blobs before the manifest that references them.
 *
 * Only names of the layout are touched: `blobs/sha256/<64 hex>` entries (a symbolic link
 * there is unlinked, never followed), temporary files in `ingest/`; a `blobs` or
 * `blobs/sha256` that is a symbolic link stops the collection.
 */

export interface GcOptions {
  /** List what would be deleted; delete nothing. */
  dryRun?: boolean;
  /** Blobs and index entries younger than this are kept (ms, default one hour). */
  minAgeMs?: number;
  /** The time the collection runs at (ms since the epoch; tests). */
  now?: number;
}

export interface GcResult {
  dryRun: boolean;
  /** index.json entries removed: manifests no tag reaches. */
  manifests: { digest: string; mediaType: string; tag?: string }[];
  /** Blobs deleted (manifests, configs, layers, bundles). */
  blobs: { digest: string; size: number }[];
  /** Leftovers of interrupted writes removed from `ingest/`. */
  temporary: { name: string; size: number }[];
  /** Bytes freed: the deleted blobs and leftovers, less those whose data another hard link keeps. */
  bytes: number;
  /** Deleted blobs whose bytes stay on disk under another name (pack hard-links model files). */
  linked: number;
  kept: {
    blobs: number;
    bytes: number;
    /** Blobs no tag reaches, kept because they (or a manifest that references them) are younger than `minAgeMs`. */
    recent: number;
  };
}

/** What gc needs of the layout store. */
export interface GcLayout {
  root: string;
  location: string;
  index: LayoutIndexFile;
  fetchBytes(desc: Descriptor): Promise<Buffer>;
  summary(desc: Descriptor): Promise<ManifestSummary | undefined>;
}

export const DEFAULT_GC_MIN_AGE_MS = 60 * 60 * 1000;
const BLOB_NAME = /^[a-f0-9]{64}$/;

interface BlobFile {
  size: number;
  recent: boolean;
  /** Hard links to the file, this name included. */
  links: number;
}

/** `root/…segments` when each step is a real directory; undefined when one is missing. */
async function realDirectory(root: string, location: string, segments: string[]): Promise<string | undefined> {
  let path = root;
  for (const s of segments) {
    path = join(path, s);
    let st;
    try {
      st = await fsp.lstat(path);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw wrapFs(e, `cannot read OCI layout ${location}`);
    }
    if (!st.isDirectory())
      throw new ModelshipError(
        'INVALID',
        `${location}/${segments.join('/')} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}: garbage collection never leaves the layout`,
        { hint: 'replace the link by the directory it points to, then collect again' },
      );
  }
  return path;
}

/** The entries of `dir` named by `pattern` that are files (or links, with `links`), with their size and age. */
async function listFiles(
  dir: string,
  pattern: RegExp,
  isRecent: (changedMs: number) => boolean,
  links: boolean,
): Promise<Map<string, BlobFile>> {
  const out = new Map<string, BlobFile>();
  const names = (await fsp.readdir(dir, { withFileTypes: true }))
    .filter((d) => pattern.test(d.name) && (d.isFile() || (links && d.isSymbolicLink())))
    .map((d) => d.name);
  const limit = pLimit(32);
  await Promise.all(
    names.map((name) =>
      limit(async () => {
        try {
          const st = await fsp.lstat(join(dir, name));
          out.set(name, { size: st.size, recent: isRecent(Math.max(st.ctimeMs, st.mtimeMs)), links: st.nlink });
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw e; // deleted meanwhile: not ours to count
        }
      }),
    ),
  );
  return out;
}

/** The subject a referrers-list index lists referrers for (fallback tag or #1171 annotation). */
function listedSubject(d: Descriptor): string | undefined {
  if (d.mediaType !== OCI_INDEX) return undefined;
  const annotated = d.annotations?.[ANNOTATION_REFERRER_SUBJECT];
  if (annotated) return annotated;
  const tag = d.annotations?.[ANNOTATION_REF_NAME];
  return tag && isReferrersFallbackTag(tag) ? `sha256:${tag.slice('sha256-'.length)}` : undefined;
}

/**
 * What the roots reach: `byTags` from the tagged entries, `all` from those and the entries too
 * recent to judge (a copy that has not tagged its artifact yet).
 */
async function mark(
  layout: GcLayout,
  index: Index,
  isRecentDigest: (digest: string) => boolean,
): Promise<{ byTags: Set<string>; all: Set<string> }> {
  const lists = new Map<string, Descriptor[]>();
  const tagged: Descriptor[] = [];
  const recent: Descriptor[] = [];
  for (const d of index.manifests) {
    const subject = listedSubject(d);
    if (subject) lists.set(subject, [...(lists.get(subject) ?? []), d]);
    if (d.annotations?.[ANNOTATION_REF_NAME] !== undefined && !subject) tagged.push(d);
    else if (isRecentDigest(d.digest)) recent.push(d);
  }
  const walked = new Set<string>();
  const kept = new Set<string>();
  const where = (d: Descriptor): string => `OCI layout ${layout.location} (referrers of ${d.digest})`;
  const walk = async (roots: Descriptor[]): Promise<void> => {
    // A stack, not recursion: a hostile layout's chains can be as long as its index.
    const stack = [...roots];
    while (stack.length) {
      const d = stack.pop()!;
      kept.add(d.digest);
      if (!isManifestMediaType(d.mediaType) || walked.has(d.digest)) continue;
      walked.add(d.digest);
      let doc;
      try {
        doc = parseManifest(await layout.fetchBytes(d), d);
      } catch (e) {
        const err = isModelshipError(e) ? e : undefined;
        throw new ModelshipError(
          err?.code ?? 'INVALID',
          `cannot tell what manifest ${d.digest} in OCI layout ${layout.location} references (${err?.message ?? String(e)}); nothing was deleted`,
          {
            cause: e,
            hint: 'a tag or a kept referrer needs that manifest: restore its blob (pull the artifact again), or remove the tag first',
          },
        );
      }
      const children = manifestChildren(doc);
      if ('manifests' in doc) stack.push(...children);
      else for (const c of children) kept.add(c.digest);
      stack.push(...(await layoutReferrers(index, d, undefined, (s) => layout.summary(s), where(d))));
      stack.push(...(lists.get(d.digest) ?? []));
    }
  };
  await walk(tagged);
  const byTags = new Set(kept);
  await walk(recent);
  return { byTags, all: kept };
}

async function syncDirectory(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function unlinkQuietly(path: string): Promise<void> {
  try {
    await fsp.unlink(path);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw wrapFs(e, `cannot delete ${path}`);
  }
}

/** Deletes what no tag of `layout` reaches (see the module comment). */
export async function collectLayoutGarbage(layout: GcLayout, options: GcOptions = {}): Promise<GcResult> {
  const now = options.now ?? Date.now();
  const minAge = options.minAgeMs ?? DEFAULT_GC_MIN_AGE_MS;
  const isRecent = (changedMs: number): boolean => now - changedMs < minAge;
  const dryRun = options.dryRun === true;
  const blobsDir = await realDirectory(layout.root, layout.location, ['blobs', 'sha256']);

  return layout.index.locked(async (index, write) => {
    const files = blobsDir ? await listFiles(blobsDir, BLOB_NAME, isRecent, true) : new Map<string, BlobFile>();
    const digestOf = (name: string): string => `sha256:${name}`;
    const marked = await mark(layout, index, (digest) => files.get(digest.slice('sha256:'.length))?.recent === true);
    const kept = marked.all;

    const result: GcResult = {
      dryRun,
      manifests: index.manifests
        .filter((d) => !kept.has(d.digest))
        .map((d) => {
          const tag = d.annotations?.[ANNOTATION_REF_NAME];
          return { digest: d.digest, mediaType: d.mediaType, ...(tag !== undefined ? { tag } : {}) };
        }),
      blobs: [],
      temporary: [],
      bytes: 0,
      linked: 0,
      kept: { blobs: 0, bytes: 0, recent: 0 },
    };
    const garbage: string[] = [];
    for (const [name, f] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (kept.has(digestOf(name)) || f.recent) {
        result.kept.blobs++;
        result.kept.bytes += f.size;
        if (!marked.byTags.has(digestOf(name))) result.kept.recent++;
      } else {
        garbage.push(name);
        result.blobs.push({ digest: digestOf(name), size: f.size });
        if (f.links > 1) result.linked++;
        else result.bytes += f.size;
      }
    }
    // Leftovers of interrupted writes (blobs.ts writes into ingest/ and renames into place).
    const ingest = await realDirectory(layout.root, layout.location, ['ingest']).catch(() => undefined);
    const leftovers = ingest ? await listFiles(ingest, /^[^.]/, isRecent, false) : new Map<string, BlobFile>();
    for (const [name, f] of leftovers)
      if (!f.recent) {
        result.temporary.push({ name, size: f.size });
        result.bytes += f.size;
      }
    if (dryRun) return result;

    if (result.manifests.length) {
      await write({ ...index, manifests: index.manifests.filter((d) => kept.has(d.digest)) });
      await syncDirectory(layout.root);
    }
    const limit = pLimit(16);
    await Promise.all(garbage.map((name) => limit(() => unlinkQuietly(join(blobsDir!, name)))));
    await Promise.all(result.temporary.map((t) => limit(() => unlinkQuietly(join(ingest!, t.name)))));
    return result;
  });
}
