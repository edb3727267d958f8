import type { Readable } from 'node:stream';
import type { GcOptions, GcResult } from './layout/gc.js';
import type { Descriptor } from './oci.js';
import type { Timings } from './timings.js';

/**
 * Where the bytes of a blob come from. `open` may be called more than once (retries), so it
 * must return a fresh stream each time. `path`, when set, names a local regular file that
 * holds exactly these bytes, which lets an OCI layout hard-link instead of copying.
 */
export interface BlobSource {
  open(): Readable | Promise<Readable>;
  path?: string;
  /**
   * The source can write itself into the local file `path` and verify it there
   * (BlobDownload): a store that keeps blobs as files uses this instead of `open`, so the
   * blob is hashed once, at its destination.
   */
  download?(path: string, options?: DownloadToFileOptions): Promise<DownloadedBlob>;
}

export interface DownloadToFileOptions {
  /** Running count of bytes received for this blob. */
  onProgress?: (bytes: number) => void;
  /** fsync the file before resolving. */
  fsync?: boolean;
  /**
   * Where the time goes: network while ranges are received, disk while writes and the sync
   * run, hashing while the download waits for its hash after the last byte.
   */
  timings?: Timings;
}

export interface DownloadedBlob {
  /** Bytes received over the wire. */
  fetched: number;
  /** Bytes an interrupted earlier download had written and this one kept (then hashed again). */
  kept: number;
}

/**
 * Capability: the store writes a blob straight into a local file, resumably: the file is
 * complete and hashes to `desc` when the promise resolves; after a failure it may hold a
 * partial download with a sidecar record (`<path>.json`) that a later call with the same
 * path continues from (registry/download.ts).
 */
export interface BlobDownload {
  download(desc: Descriptor, path: string, options?: DownloadToFileOptions): Promise<DownloadedBlob>;
}

export interface PushResult {
  /** Bytes were transferred (false when the store already had the content or it was mounted). */
  uploaded: boolean;
  /** The registry mounted the blob from another repository. */
  mounted?: boolean;
}

export interface IngestResult extends PushResult {
  descriptor: Descriptor;
}

export interface PushOptions {
  /** Repositories on the same registry that may hold the blob, tried as cross-repo mounts. */
  mountFrom?: string[];
  /**
   * Expected byte count of an `ingest` stream, when known: lets a registry upload carry a
   * Content-Length instead of a chunked body. A stream of another length fails the upload.
   */
  size?: number;
  /**
   * For `ingest`: the stream is the whole content of this local regular file (pack's raw
   * layers). A registry then uploads a large one in chunks and keeps its place under the
   * file's identity, so a killed run's next run continues the upload (docs/cli.md, "Resumable
   * pushes and registry limits"); other stores need not look at it.
   */
  path?: string;
  /**
   * With `path`: the caller needs nothing from `stream` but its bytes, so a store may read
   * `path` itself instead (a registry over plain HTTP: on a worker that hashes and sends,
   * registry/file-sender.ts) and destroy `stream` unread. The bytes it reads are told here
   * (the stream's own counters then see none).
   */
  fileRead?: (bytes: number) => void;
  /** Bytes-transferred callback for progress reporting. */
  onProgress?: (bytes: number) => void;
  /** Where the time goes: the store marks its network requests and disk writes (timings.ts). */
  timings?: Timings;
}

/** Timing kind of reading from `store`: a registry is network, anything else local disk. */
export function readKind(store: ReadOnlyStore): 'network' | 'disk' {
  return store.mountSource ? 'network' : 'disk';
}

/**
 * What readers need (verify, extract, discovery, attestation facts, a copy's source): nothing
 * here writes. Manifests and blobs are told apart by `desc.mediaType` (see manifest.ts).
 */
export interface ReadOnlyStore {
  /** Human-readable location (`./model-oci`, `localhost:5000/org/model`). */
  readonly location: string;

  exists(desc: Descriptor): Promise<boolean>;
  /** A stream of the content; it errors (code INVALID) when size or digest do not match. */
  fetch(desc: Descriptor): Promise<Readable>;
  /** Small content (manifests, configs) read fully; refuses more than `maxBytes` (default 4 MiB). */
  fetchBytes(desc: Descriptor, maxBytes?: number): Promise<Buffer>;
  /** A tag or digest to the manifest descriptor (mediaType, digest, size). */
  resolve(reference: string): Promise<Descriptor>;
  /** Manifests whose `subject` is `desc`, optionally filtered by artifactType (client-side when needed). */
  referrers(desc: Descriptor, artifactType?: string): Promise<Descriptor[]>;

  /**
   * Capability: the store is a repository on a registry, so a store on the same registry can
   * cross-repo mount its blobs instead of uploading them.
   */
  readonly mountSource?: MountSource;

  /**
   * Capability: every tag the store holds, in its own order (a registry's tags list, a
   * layout's index.json), each with its manifest when the store knows it without another request.
   */
  listTags?(): Promise<TagEntry[]>;

  /** Capability: blobs can be written straight into local files, resumably (BlobDownload). */
  readonly blobDownload?: BlobDownload;
}

/** A tag, and the manifest it names when the listing said so (a layout's index does; a registry's tags list does not). */
export interface TagEntry {
  tag: string;
  descriptor?: Descriptor;
}

export interface MountSource {
  /** `host[:port]` as the store was opened with. */
  registry: string;
  repository: string;
}

/** Capability: the store keeps each blob as a local file. */
export interface LocalBlobFiles {
  /** The directory the store writes into (pack never packs it). */
  readonly directory: string;
  /** The file that holds blob `desc` once it is stored (a path only; it may not exist yet). */
  blobFile(desc: Descriptor): string;
  /**
   * The filesystem device (st_dev) blobs are written to: a `BlobSource.path` on this device
   * is hard-linked rather than copied, so hashing it first in parallel saves a read.
   */
  linkDevice(): Promise<number>;
}

/**
 * The one interface every byte goes through. A manifest pushed with a `subject` must be
 * discoverable afterwards through `referrers(subject)`; how (referrers API, fallback tag
 * index, layout index.json) is the store's business. What only some stores can do is an
 * optional capability (`localFiles`, `mountSource`), tested by presence.
 */
export interface ContentStore extends ReadOnlyStore {
  /** Stores content whose descriptor is known; verifies digest and size of what was written. */
  push(desc: Descriptor, source: BlobSource | Buffer, options?: PushOptions): Promise<PushResult>;
  /** Stores a blob whose digest is not known yet, hashing while writing: one read of the source. */
  ingest(mediaType: string, stream: Readable, options?: PushOptions): Promise<IngestResult>;
  tag(desc: Descriptor, tag: string): Promise<void>;
  /** Releases connections / locks. */
  close(): Promise<void>;

  /** Capability: blobs are local files (see LocalBlobFiles). */
  readonly localFiles?: LocalBlobFiles;

  /**
   * Capability: throws (INPUT) for a layer of `size` bytes the store is known to refuse (a
   * registry's per-layer limit), with no request made: pack calls it before reading a file.
   */
  checkLayerSize?(layer: string, size: number): void;

  /** Capability: tags and manifests can be removed, and what nothing reaches collected (OCI layouts). */
  readonly deletion?: StoreDeletion;

  /**
   * Present on a store that writes nothing (DryRunStore, `--dry-run`): what would have been
   * written is logged here instead. A caller whose work has effects outside the store (a
   * signature uploaded to a transparency log) skips them when it is present.
   */
  readonly dryRun?: DryRunLog;
}

export interface StoreDeletion {
  /** Removes a tag; or, for a digest, the manifest with every tag of it. Referrers stay until collected. */
  remove(reference: string): Promise<RemovedReference>;
  /** Deletes the manifests and blobs no tag reaches (layout/gc.ts). */
  collectGarbage(options?: GcOptions): Promise<GcResult>;
}

export interface RemovedReference {
  /** The manifest the reference named. */
  digest: string;
  /** The tags removed. */
  tags: string[];
  /** The manifest still has a tag (another one than those removed). */
  stillTagged: boolean;
}

/** One push or ingest a dry run logged, in order; each digest once. */
export interface DryRunWrite {
  descriptor: Descriptor;
  /** A referrer is a manifest with a `subject` (a signature, an attestation). */
  kind: 'blob' | 'manifest' | 'referrer';
  /** The target has it already: a real run would skip it. */
  present: boolean;
  /** A real run would try to mount it from these repositories first. */
  mountFrom?: string[];
  /** For a manifest with a `subject` (a referrer): the subject's digest. */
  subject?: string;
}

export interface DryRunLog {
  writes: DryRunWrite[];
  /** Tags a real run would set, with the digest the tag names in the target now, if any. */
  tags: { tag: string; descriptor: Descriptor; current?: string }[];
}

/** Repositories of `src` that `dst` can cross-repo mount from: same registry, other repository. */
export function mountSourcesFor(src: ReadOnlyStore, dst: ReadOnlyStore): string[] {
  const from = src.mountSource;
  const to = dst.mountSource;
  if (from && to && from.registry === to.registry && from.repository !== to.repository) return [from.repository];
  return [];
}
