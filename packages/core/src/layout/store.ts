import { promises as fsp } from 'node:fs';
import { join, relative, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { createFileAtomic } from '../atomic-file.js';
import { ModelshipError } from '../errors.js';
import { isManifestMediaType as isManifestType, summarizeManifest, type ManifestSummary } from '../manifest.js';
import { ANNOTATION_REF_NAME, OCI_INDEX, OCI_MANIFEST } from '../mediatypes.js';
import { isDigest, type Descriptor, type Index } from '../oci.js';
import type {
  BlobSource,
  ContentStore,
  IngestResult,
  LocalBlobFiles,
  PushOptions,
  PushResult,
  RemovedReference,
  StoreDeletion,
  TagEntry,
} from '../store.js';
import { DEFAULT_MAX_BYTES, LayoutBlobs } from './blobs.js';
import { errno, wrapFs } from './errors.js';
import { LayoutIndexFile } from './index-file.js';
import { layoutReferrers } from './referrers.js';
import { collectLayoutGarbage } from './gc.js';
import { REF_NAME_RE, applyTag, indexTags, removeManifestEntries, removeTag, taggedEntry } from './tags.js';

export interface OciLayoutOpenOptions {
  /** Create the layout when the directory is missing or empty. */
  create?: boolean;
  /**
   * fsync blobs and index.json before renaming them into place (default true), so a crash
   * never leaves a blob whose bytes do not match its name. Hard-linked blobs are never synced:
   * their bytes belong to the source file.
   */
  fsync?: boolean;
  /** How long to wait for `index.json.lock` (default 60 s). */
  lockTimeoutMs?: number;
}

const LAYOUT_VERSION = '1.0.0';

/**
 * An OCI image layout directory (image-spec v1.1 image-layout.md) as a content store.
 *
 * Invariants: a file under `blobs/` always hashes to its name (see blobs.ts); every pushed
 * manifest is listed in `index.json`, as oras-go does, so referrers are roots and found by
 * scanning the index (referrers.ts); `index.json` is rewritten atomically under a lock
 * (index-file.ts); tags are `ref.name` annotations of its entries (tags.ts).
 */
export class OciLayoutStore implements ContentStore {
  /** What it is, for display: callers dispatch on capabilities (store.ts), never on this. */
  readonly kind = 'oci-layout' as const;
  readonly location: string;
  private readonly blobs: LayoutBlobs;
  private readonly index: LayoutIndexFile;
  private readonly summaries = new Map<string, ManifestSummary | null>();
  /** The layout directory, resolved. */
  private readonly root: string;
  /** Capability: blobs are files under `blobs/sha256/` (hard links land there). */
  readonly localFiles: LocalBlobFiles;

  private constructor(dir: string, root: string, options: OciLayoutOpenOptions) {
    this.location = dir;
    this.root = root;
    const fsync = options.fsync ?? true;
    this.blobs = new LayoutBlobs(root, dir, fsync);
    const blobs = this.blobs;
    this.localFiles = {
      directory: dir,
      // Under the directory as the caller named it (relative stays relative), validated first.
      blobFile: (desc) => join(dir, relative(root, blobs.path(desc))),
      linkDevice: async () => (await fsp.stat(root)).dev,
    };
    this.index = new LayoutIndexFile(root, dir, fsync, options.lockTimeoutMs ?? 60_000);
  }

  static async open(dir: string, options: OciLayoutOpenOptions = {}): Promise<OciLayoutStore> {
    const root = resolvePath(dir);
    let entries: string[];
    try {
      const st = await fsp.stat(root);
      if (!st.isDirectory())
        throw new ModelshipError('INPUT', `${dir} is not a directory, so it cannot be an OCI layout`, {
          hint: 'name a directory (created if missing when packing or pulling into it)',
        });
      entries = await fsp.readdir(root);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw wrapFs(e, `cannot open OCI layout ${dir}`);
      if (!options.create)
        throw new ModelshipError('NOT_FOUND', `OCI layout ${dir} does not exist`, {
          hint: 'check the path, or pack/pull into it first to create it',
        });
      entries = [];
    }

    if (entries.includes('oci-layout')) {
      await OciLayoutStore.checkHeader(root, dir);
    } else if (entries.length === 0 && options.create) {
      await OciLayoutStore.initialize(root);
    } else {
      throw new ModelshipError('INPUT', `${dir} is not an OCI image layout (it has no oci-layout file)`, {
        hint:
          entries.length === 0
            ? 'the directory is empty; create the layout by packing or pulling into it'
            : 'name an empty or new directory for a new layout, or the directory that holds oci-layout and index.json',
      });
    }
    await fsp.mkdir(join(root, 'blobs', 'sha256'), { recursive: true }).catch((e: unknown) => {
      throw wrapFs(e, `cannot prepare OCI layout ${dir}`);
    });
    return new OciLayoutStore(dir, root, options);
  }

  private static async checkHeader(root: string, dir: string): Promise<void> {
    let header: unknown;
    try {
      header = JSON.parse(await fsp.readFile(join(root, 'oci-layout'), 'utf8'));
    } catch (e) {
      throw new ModelshipError('INVALID', `${dir}/oci-layout is unreadable or not JSON`, {
        cause: e,
        hint: `it must contain {"imageLayoutVersion":"${LAYOUT_VERSION}"}`,
      });
    }
    const version = (header as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof version !== 'string' || !version.startsWith('1.'))
      throw new ModelshipError('INVALID', `${dir}: unsupported OCI layout version ${JSON.stringify(version)}`, {
        hint: `modelship reads image layout ${LAYOUT_VERSION}`,
      });
  }

  private static async initialize(root: string): Promise<void> {
    try {
      await fsp.mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
      const index: Index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
      // index.json first: a directory with oci-layout but no index is not a layout yet.
      await createFileAtomic(join(root, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
      await createFileAtomic(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    } catch (e) {
      throw wrapFs(e, `cannot create OCI layout ${root}`);
    }
  }

  // ---- blobs ----------------------------------------------------------------------------

  exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.exists(desc);
  }

  fetch(desc: Descriptor): Promise<Readable> {
    return this.blobs.fetch(desc);
  }

  fetchBytes(desc: Descriptor, maxBytes: number = DEFAULT_MAX_BYTES): Promise<Buffer> {
    return this.blobs.fetchBytes(desc, maxBytes);
  }

  async push(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions = {}): Promise<PushResult> {
    const uploaded = await this.blobs.write(desc, source, options);
    if (isManifestType(desc.mediaType)) await this.addToIndex(desc, Buffer.isBuffer(source) ? source : undefined);
    return { uploaded };
  }

  async ingest(mediaType: string, stream: Readable, options: PushOptions = {}): Promise<IngestResult> {
    const result = await this.blobs.ingest(mediaType, stream, options);
    if (isManifestType(mediaType)) await this.addToIndex(result.descriptor, undefined);
    return result;
  }

  // ---- index.json ---------------------------------------------------------------------

  /** The current index.json; a missing one reads as empty (it is created on first write). */
  readIndex(): Promise<Index> {
    return this.index.read();
  }

  private async addToIndex(desc: Descriptor, bytes: Buffer | undefined): Promise<void> {
    const summary = bytes ? this.remember(desc.digest, bytes) : await this.summary(desc);
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    const artifactType = summary?.artifactType ?? desc.artifactType;
    if (artifactType) entry.artifactType = artifactType;
    // Most pushes of an existing manifest change nothing: check before taking the lock.
    if ((await this.readIndex()).manifests.some((d) => d.digest === desc.digest)) return;
    await this.index.update((index) => {
      if (index.manifests.some((d) => d.digest === desc.digest)) return false;
      index.manifests.push(entry);
      return true;
    });
  }

  private remember(digest: string, bytes: Buffer): ManifestSummary | undefined {
    const s = summarizeManifest(bytes);
    this.summaries.set(digest, s ?? null);
    return s;
  }

  /** Parsed manifest or index, cached: a digest's content never changes. Undefined when absent or not JSON. */
  private async summary(desc: Descriptor): Promise<ManifestSummary | undefined> {
    const known = this.summaries.get(desc.digest);
    if (known !== undefined) return known ?? undefined;
    if (desc.size > DEFAULT_MAX_BYTES) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.fetchBytes(desc);
    } catch (e) {
      // A layout may lack blobs that index.json references (image-layout.md).
      if (e instanceof ModelshipError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
    return this.remember(desc.digest, bytes);
  }

  /** Every tag in index.json, in index order. */
  async tags(): Promise<string[]> {
    return indexTags(await this.readIndex());
  }

  /** Every tag with its manifest, from one read of index.json. */
  async listTags(): Promise<TagEntry[]> {
    const index = await this.readIndex();
    return indexTags(index).map((tag) => {
      const d = taggedEntry(index, tag)!;
      return { tag, descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size } };
    });
  }

  async resolve(reference: string): Promise<Descriptor> {
    const index = await this.readIndex();
    const plain = (d: Descriptor): Descriptor => {
      const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
      if (d.artifactType) out.artifactType = d.artifactType;
      return out;
    };
    if (isDigest(reference)) {
      const entry = index.manifests.find((d) => d.digest === reference);
      if (entry) return plain(entry);
      const sniffed = await this.sniff(reference);
      if (sniffed) return sniffed;
      throw new ModelshipError('NOT_FOUND', `manifest ${reference} not found in OCI layout ${this.location}`, {
        hint: 'push or pull it into the layout first',
      });
    }
    this.checkTagName(reference);
    const last = taggedEntry(index, reference);
    if (last) return plain(last);
    throw this.tagNotFound(reference, indexTags(index));
  }

  private checkTagName(reference: string): void {
    if (!REF_NAME_RE.test(reference))
      throw new ModelshipError('USAGE', `"${reference}" is neither a tag nor a sha256 digest`, {
        hint: 'tags are letters, digits and . _ - : @ + /; digests are sha256:<64 hex>',
      });
  }

  private tagNotFound(tag: string, tags: string[]): ModelshipError {
    const shown = tags.slice(0, 20).join(', ') + (tags.length > 20 ? `, … (${tags.length} in all)` : '');
    return new ModelshipError('NOT_FOUND', `tag "${tag}" not found in OCI layout ${this.location}`, {
      hint: tags.length
        ? `available tags: ${shown}`
        : 'the layout has no tags; refer to a manifest by digest or tag it first',
    });
  }

  /** A manifest blob that index.json does not list: type it from its own mediaType field. */
  private async sniff(digest: string): Promise<Descriptor | undefined> {
    let size: number;
    try {
      size = (await fsp.stat(this.blobs.path({ digest }))).size;
    } catch {
      return undefined;
    }
    if (size > DEFAULT_MAX_BYTES) return undefined;
    const s = await this.summary({ mediaType: OCI_MANIFEST, digest, size });
    if (!s?.mediaType || !isManifestType(s.mediaType)) return undefined;
    return { mediaType: s.mediaType, digest, size };
  }

  // ---- removal ------------------------------------------------------------------------

  /** Capability: removing tags and manifests, then collecting what no tag reaches (gc.ts). */
  readonly deletion: StoreDeletion = {
    remove: (reference) => this.remove(reference),
    collectGarbage: (options) =>
      collectLayoutGarbage(
        {
          root: this.root,
          location: this.location,
          index: this.index,
          fetchBytes: (d) => this.fetchBytes(d),
          summary: (d) => this.summary(d),
        },
        options,
      ),
  };

  private async remove(reference: string): Promise<RemovedReference> {
    let removed: { digest: string; tags: string[] } | undefined;
    let stillTagged = false;
    if (isDigest(reference)) {
      await this.index.update((index) => {
        const tags = removeManifestEntries(index, reference);
        removed = tags && { digest: reference, tags };
        return removed !== undefined;
      });
      if (!removed)
        throw new ModelshipError('NOT_FOUND', `manifest ${reference} is not listed in OCI layout ${this.location}`, {
          hint: 'list the layout’s tags and digests, and name one of them',
        });
    } else {
      this.checkTagName(reference);
      let tags: string[] = [];
      await this.index.update((index) => {
        const digest = removeTag(index, reference);
        if (digest === undefined) {
          tags = indexTags(index);
          return false;
        }
        removed = { digest, tags: [reference] };
        stillTagged = index.manifests.some((d) => d.digest === digest && d.annotations?.[ANNOTATION_REF_NAME]);
        return true;
      });
      if (!removed) throw this.tagNotFound(reference, tags);
    }
    return { ...removed, stillTagged };
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    this.blobs.checkDescriptor(desc);
    if (!REF_NAME_RE.test(tag))
      throw new ModelshipError('USAGE', `"${tag}" is not a valid tag`, {
        hint: 'use letters, digits and . _ - : @ + / (e.g. v1.0, latest)',
      });
    if (!(await this.exists(desc)))
      throw new ModelshipError(
        'NOT_FOUND',
        `cannot tag ${desc.digest} as "${tag}": it is not in OCI layout ${this.location}`,
        {
          hint: 'push the manifest before tagging it',
        },
      );
    const summary = await this.summary(desc);
    const artifactType = summary?.artifactType ?? desc.artifactType;
    await this.index.update((index) => applyTag(index, desc, tag, artifactType));
  }

  // ---- referrers ----------------------------------------------------------------------

  /**
   * Manifests in this layout whose `subject` is `desc`. Candidates are every manifest listed in
   * index.json plus the entries of indexes that list referrers for `desc` in the image-spec#1171
   * shape or under the `sha256-<hex>` fallback tag (regclient); see referrers.ts.
   */
  async referrers(desc: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    this.blobs.path(desc);
    return layoutReferrers(
      await this.readIndex(),
      desc,
      artifactType,
      (d) => this.summary(d),
      `OCI layout ${this.location} (referrers of ${desc.digest})`,
    );
  }

  async close(): Promise<void> {
    await this.index.settle();
    this.summaries.clear();
  }
}
