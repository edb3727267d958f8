import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCb } from 'node:stream';
import { createFileAtomic, writeFileAtomic } from './atomic-file.js';
import { sha256Digest, HashingStream, VerifyingStream } from './digest.js';
import { ModelshipError, toModelshipError } from './errors.js';
import { withFileLock } from './file-lock.js';
import {
  ANNOTATION_REF_NAME,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V2,
  MANIFEST_MEDIA_TYPES,
  OCI_INDEX,
  OCI_MANIFEST,
} from './mediatypes.js';
import { digestHex, isDigest, referrersFallbackTag, type Descriptor, type Index } from './oci.js';
import { checkReferrerCount } from './registry/referrers.js';
import type { BlobSource, ContentStore, IngestResult, PushOptions, PushResult } from './store.js';

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

/** image-spec#1171 proposal: an index blob holding one subject's referrers, listed in index.json. */
export const ANNOTATION_REFERRER_SUBJECT = 'org.opencontainers.image.referrer.subject';

const LAYOUT_VERSION = '1.0.0';
const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
/**
 * cosign's layout annotation (sigstore/cosign pkg/oci/layout/index.go): `cosign verify
 * --local-image DIR` verifies the index.json entry annotated `kind:
 * dev.cosignproject.cosign/image` (pkg/cosign/verify.go getLocalBundleDescriptors) and finds
 * its bundles by scanning blobs/ for referrers of that digest; `cosign save` writes
 * `…/imageIndex` for an index. modelship puts it on the artifact it tagged last, so the
 * layout has one cosign target. Referrer entries get no `…/sigs` / `…/atts` kind: those
 * name cosign's legacy signature images, and would make cosign read a bundle as one.
 * Other readers (oras, skopeo, modctl, containerd) ignore annotations they do not know.
 */
export const ANNOTATION_COSIGN_KIND = 'kind';
export const COSIGN_KIND_IMAGE = 'dev.cosignproject.cosign/image';
export const COSIGN_KIND_IMAGE_INDEX = 'dev.cosignproject.cosign/imageIndex';

const FALLBACK_TAG_RE = /^sha256-[0-9a-f]{64}$/;

function cosignKind(mediaType: string): string | undefined {
  if (mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST_V2) return COSIGN_KIND_IMAGE;
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) return COSIGN_KIND_IMAGE_INDEX;
  return undefined;
}

/** image-spec annotations.md grammar for `org.opencontainers.image.ref.name`. */
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;
/** Link failures that mean "cannot link here", not "something is wrong": fall back to copying. */
const LINK_FALLBACK_CODES = new Set(['EXDEV', 'EPERM', 'EACCES', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** What referrers() needs from a manifest or index, parsed once per store (content never changes). */
interface ManifestSummary {
  mediaType: string | undefined;
  /** The manifest's own artifactType field. */
  artifactType: string | undefined;
  /** What a referrers response reports: artifactType, else (image manifests) config.mediaType. */
  effectiveArtifactType: string | undefined;
  subject: string | undefined;
  annotations: Record<string, string> | undefined;
  /** For indexes: their entries (the #1171 and fallback-tag shapes list referrers there). */
  manifests: Descriptor[];
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function isManifestType(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mediaType);
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v)) if (typeof s === 'string') out[k] = s;
  return out;
}

function asDescriptor(v: unknown): Descriptor | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number') return undefined;
  return v as Descriptor;
}

function summarize(bytes: Buffer): ManifestSummary | undefined {
  let m: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    m = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const config = asDescriptor(m.config);
  const subject = asDescriptor(m.subject);
  const mediaType = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const artifactType = typeof m.artifactType === 'string' ? m.artifactType : undefined;
  // image-spec: an image manifest without artifactType is typed by its config media type.
  const effectiveArtifactType = artifactType ?? (mediaType !== OCI_INDEX && config ? config.mediaType : undefined);
  const manifests = Array.isArray(m.manifests)
    ? m.manifests.map(asDescriptor).filter((d): d is Descriptor => d !== undefined)
    : [];
  return {
    mediaType,
    artifactType,
    effectiveArtifactType,
    subject: subject?.digest,
    annotations: stringRecord(m.annotations),
    manifests,
  };
}

/** Reports running byte counts to `onProgress` as data flows through. */
class ProgressCounter extends Transform {
  private bytes = 0;
  constructor(private readonly onProgress: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onProgress(this.bytes);
    cb(null, chunk);
  }
}

/** Writes into an open file handle it does not own (the caller syncs and closes it). */
class FileSink extends Writable {
  constructor(private readonly fh: fsp.FileHandle) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writeAll(chunk).then(() => cb(), cb);
  }
  private async writeAll(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) off += (await this.fh.write(chunk, off, chunk.length - off)).bytesWritten;
  }
}

/**
 * An OCI image layout directory (image-spec v1.1 image-layout.md) as a content store.
 *
 * Invariants: a file under `blobs/` always hashes to its name (content is written to
 * `ingest/` and renamed into place only after verification, or hard-linked from a file whose
 * digest the caller computed); every pushed manifest is listed in `index.json`, as oras-go
 * does, so referrers are roots and found by scanning the index; `index.json` is rewritten
 * atomically under `index.json.lock`, so concurrent writers (processes or instances) never lose
 * each other's entries.
 */
export class OciLayoutStore implements ContentStore {
  readonly kind = 'oci-layout' as const;
  readonly location: string;
  private readonly root: string;
  private readonly fsync: boolean;
  private readonly lockTimeoutMs: number;
  private readonly summaries = new Map<string, ManifestSummary | null>();
  /** Serializes this instance's index updates so it does not contend with itself on the lock file. */
  private indexQueue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, root: string, options: OciLayoutOpenOptions) {
    this.location = dir;
    this.root = root;
    this.fsync = options.fsync ?? true;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 60_000;
  }

  static async open(dir: string, options: OciLayoutOpenOptions = {}): Promise<OciLayoutStore> {
    const root = resolvePath(dir);
    let entries: string[];
    try {
      const st = await fsp.stat(root);
      if (!st.isDirectory())
        throw new ModelshipError('INPUT', `${dir} is not a directory, so it cannot be an OCI layout`, {
          hint: 'name a directory (created if missing with --create / when packing)',
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

  /** Validates before building a path, so a digest can never point outside `blobs/`. */
  private blobPath(desc: Pick<Descriptor, 'digest'>): string {
    if (typeof desc.digest !== 'string' || !isDigest(desc.digest))
      throw new ModelshipError('INVALID', `malformed digest ${JSON.stringify(desc.digest)}`, {
        hint: 'digests look like sha256:<64 lowercase hex>',
      });
    return join(this.root, 'blobs', 'sha256', digestHex(desc.digest));
  }

  private checkDescriptor(desc: Descriptor): string {
    const path = this.blobPath(desc);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0)
      throw new ModelshipError('INVALID', `descriptor ${desc.digest} has an invalid size ${String(desc.size)}`);
    return path;
  }

  private what(digest: string): string {
    return `blob ${digest} in OCI layout ${this.location}`;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    const path = this.checkDescriptor(desc);
    try {
      const st = await fsp.stat(path);
      return st.isFile() && st.size === desc.size;
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw wrapFs(e, `cannot check ${this.what(desc.digest)}`);
    }
  }

  private async openBlob(desc: Descriptor): Promise<fsp.FileHandle> {
    const path = this.checkDescriptor(desc);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, 'r');
    } catch (e) {
      if (errno(e) === 'ENOENT')
        throw new ModelshipError('NOT_FOUND', `${this.what(desc.digest)} not found`, {
          cause: e,
          hint: 'push or pull the artifact into the layout first',
        });
      throw wrapFs(e, `cannot read ${this.what(desc.digest)}`);
    }
    const { size } = await fh.stat();
    if (size !== desc.size) {
      await fh.close();
      throw new ModelshipError('INVALID', `${this.what(desc.digest)} is ${size} bytes, expected ${desc.size}`, {
        hint: 'the layout is corrupt or was modified; re-pull or re-pack the artifact',
      });
    }
    return fh;
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const fh = await this.openBlob(desc);
    const verifier = new VerifyingStream(desc.digest, desc.size, this.what(desc.digest));
    // The callback form leaves the verifier readable to the caller; errors reach it via destroy.
    return pipelineCb(fh.createReadStream({ highWaterMark: READ_CHUNK }), verifier, () => {});
  }

  async fetchBytes(desc: Descriptor, maxBytes: number = DEFAULT_MAX_BYTES): Promise<Buffer> {
    this.checkDescriptor(desc);
    if (desc.size > maxBytes)
      throw new ModelshipError(
        'INVALID',
        `${this.what(desc.digest)} is ${desc.size} bytes, more than the ${maxBytes} read into memory`,
        {
          hint: 'manifests and configs are small; this descriptor probably names a layer',
        },
      );
    const fh = await this.openBlob(desc);
    let bytes: Buffer;
    try {
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
    const got = sha256Digest(bytes);
    if (bytes.length !== desc.size || got !== desc.digest)
      throw new ModelshipError('INVALID', `${this.what(desc.digest)}: digest mismatch: got ${got}`, {
        hint: 'the content does not match its descriptor; it may have been tampered with',
      });
    return bytes;
  }

  private tempPath(): string {
    return join(this.root, 'ingest', `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /**
   * Streams `source` through `transforms` into a fresh temp file under `ingest/`, optionally
   * fsyncs it, and returns its path. The temp file is gone if anything fails.
   */
  private async writeTemp(source: Readable, transforms: Transform[], what: string): Promise<string> {
    const tmp = this.tempPath();
    let fh: fsp.FileHandle | undefined;
    try {
      await fsp.mkdir(join(this.root, 'ingest'), { recursive: true });
      fh = await fsp.open(tmp, 'wx');
      await pipeline([source, ...transforms, new FileSink(fh)]);
      if (this.fsync) await fh.sync();
      await fh.close();
      fh = undefined;
      return tmp;
    } catch (e) {
      await fh?.close().catch(() => {});
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw wrapWrite(e, what, this.location);
    }
  }

  /** Moves a verified temp file to its blob path (replacing a corrupt one); cleans up on failure. */
  private async commit(tmp: string, blobPath: string, what: string): Promise<void> {
    try {
      await fsp.rename(tmp, blobPath);
    } catch (e) {
      throw wrapWrite(e, what, this.location);
    } finally {
      // rename(2) is a no-op when both names already link the same inode, leaving tmp behind.
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
  }

  async push(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions = {}): Promise<PushResult> {
    const blobPath = this.checkDescriptor(desc);
    const what = this.what(desc.digest);
    let uploaded = false;
    if (!(await this.exists(desc))) {
      if (Buffer.isBuffer(source)) await this.pushBuffer(desc, source, blobPath);
      else if (!(source.path !== undefined && (await this.tryLink(desc, source.path, blobPath)))) {
        const verifier = new VerifyingStream(desc.digest, desc.size, `content pushed as ${desc.digest}`);
        const transforms: Transform[] = [verifier];
        if (options.onProgress) transforms.push(new ProgressCounter(options.onProgress));
        const tmp = await this.writeTemp(await source.open(), transforms, what);
        await this.commit(tmp, blobPath, what);
      }
      // A hard link moves no bytes, so it reports no progress: pack counts progress as bytes read.
      uploaded = true;
    }
    if (isManifestType(desc.mediaType)) await this.addToIndex(desc, Buffer.isBuffer(source) ? source : undefined);
    return { uploaded };
  }

  private async pushBuffer(desc: Descriptor, bytes: Buffer, blobPath: string): Promise<void> {
    const got = sha256Digest(bytes);
    if (bytes.length !== desc.size || got !== desc.digest)
      throw new ModelshipError(
        'INVALID',
        `content pushed as ${desc.digest} (${desc.size} bytes) is ${got} (${bytes.length} bytes)`,
        { hint: 'the descriptor does not describe these bytes; nothing was written' },
      );
    const tmp = await this.writeTemp(Readable.from([bytes]), [], this.what(desc.digest));
    await this.commit(tmp, blobPath, this.what(desc.digest));
  }

  /**
   * Hard-links a local file into `blobs/` when it is on the same filesystem: no copy for
   * multi-GiB weights. The digest is the caller's (it hashed the file); the size is checked
   * here. Returns false when linking is impossible and the caller should copy instead.
   * Note the blob then shares the file's inode: editing the source in place corrupts the blob,
   * which fetch() detects (INVALID).
   */
  private async tryLink(desc: Descriptor, sourcePath: string, blobPath: string): Promise<boolean> {
    let real: string;
    try {
      // link(2) does not follow symlinks; linking one would store a (dangling) symlink.
      real = await fsp.realpath(sourcePath);
      const st = await fsp.stat(real);
      if (!st.isFile()) throw new ModelshipError('INPUT', `${sourcePath} is not a regular file`);
      if (st.size !== desc.size)
        throw new ModelshipError(
          'INVALID',
          `${sourcePath} is ${st.size} bytes but is pushed as ${desc.digest} of ${desc.size} bytes`,
          {
            hint: 'the file changed after it was hashed; re-run',
          },
        );
    } catch (e) {
      if (e instanceof ModelshipError) throw e;
      throw wrapFs(e, `cannot read ${sourcePath}`);
    }
    const tmp = this.tempPath();
    try {
      await fsp.mkdir(join(this.root, 'ingest'), { recursive: true });
      await fsp.link(real, tmp);
    } catch (e) {
      if (LINK_FALLBACK_CODES.has(errno(e) ?? '')) return false;
      throw wrapWrite(e, this.what(desc.digest), this.location);
    }
    await this.commit(tmp, blobPath, this.what(desc.digest));
    return true;
  }

  async ingest(mediaType: string, stream: Readable, options: PushOptions = {}): Promise<IngestResult> {
    const hasher = new HashingStream();
    const transforms: Transform[] = [hasher];
    if (options.onProgress) transforms.push(new ProgressCounter(options.onProgress));
    const tmp = await this.writeTemp(stream, transforms, `content ingested into OCI layout ${this.location}`);
    const descriptor: Descriptor = { mediaType, digest: hasher.digest(), size: hasher.bytes };
    let uploaded = true;
    try {
      if (await this.exists(descriptor)) uploaded = false;
      else await this.commit(tmp, this.blobPath(descriptor), this.what(descriptor.digest));
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
    if (isManifestType(mediaType)) await this.addToIndex(descriptor, undefined);
    return { descriptor, uploaded };
  }

  // ---- index.json ---------------------------------------------------------------------

  private get indexPath(): string {
    return join(this.root, 'index.json');
  }

  /** The current index.json; a missing one reads as empty (it is created on first write). */
  async readIndex(): Promise<Index> {
    let text: string;
    try {
      text = await fsp.readFile(this.indexPath, 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
      throw wrapFs(e, `cannot read ${this.location}/index.json`);
    }
    let index: Index;
    try {
      index = JSON.parse(text) as Index;
    } catch (e) {
      throw new ModelshipError('INVALID', `${this.location}/index.json is not valid JSON`, {
        cause: e,
        hint: 'restore it from a backup, or re-pack / re-pull into a new layout',
      });
    }
    if (!index || typeof index !== 'object' || !Array.isArray(index.manifests))
      throw new ModelshipError(
        'INVALID',
        `${this.location}/index.json is not an OCI image index (no manifests array)`,
        {
          hint: 'restore it from a backup, or re-pack / re-pull into a new layout',
        },
      );
    // Unknown media types must not cause errors (image-layout.md); malformed entries are skipped.
    index.manifests = index.manifests.filter((d) => asDescriptor(d) !== undefined && isDigest(d.digest));
    return index;
  }

  /**
   * Read-modify-write of index.json under `index.json.lock`; `change` returns false when it
   * changed nothing, which skips the write.
   */
  private updateIndex(change: (index: Index) => boolean): Promise<void> {
    const run = async (): Promise<void> => {
      await withFileLock(
        `${this.indexPath}.lock`,
        async () => {
          const index = await this.readIndex();
          if (!change(index)) return;
          index.schemaVersion = 2;
          index.mediaType = OCI_INDEX;
          try {
            await writeFileAtomic(this.indexPath, `${JSON.stringify(index, null, 2)}\n`, { fsync: this.fsync });
          } catch (e) {
            throw wrapWrite(e, `${this.location}/index.json`, this.location);
          }
        },
        { what: `OCI layout ${this.location}`, timeoutMs: this.lockTimeoutMs },
      );
    };
    const next = this.indexQueue.then(run, run);
    this.indexQueue = next.catch(() => {});
    return next;
  }

  private async addToIndex(desc: Descriptor, bytes: Buffer | undefined): Promise<void> {
    const summary = bytes ? this.remember(desc.digest, bytes) : await this.summary(desc);
    const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    const artifactType = summary?.artifactType ?? desc.artifactType;
    if (artifactType) entry.artifactType = artifactType;
    // Most pushes of an existing manifest change nothing: check before taking the lock.
    if ((await this.readIndex()).manifests.some((d) => d.digest === desc.digest)) return;
    await this.updateIndex((index) => {
      if (index.manifests.some((d) => d.digest === desc.digest)) return false;
      index.manifests.push(entry);
      return true;
    });
  }

  private remember(digest: string, bytes: Buffer): ManifestSummary | undefined {
    const s = summarize(bytes);
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
    const index = await this.readIndex();
    const out: string[] = [];
    for (const d of index.manifests) {
      const t = d.annotations?.[ANNOTATION_REF_NAME];
      if (t !== undefined && !out.includes(t)) out.push(t);
    }
    return out;
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
    if (!REF_NAME_RE.test(reference))
      throw new ModelshipError('USAGE', `"${reference}" is neither a tag nor a sha256 digest`, {
        hint: 'tags are letters, digits and . _ - : @ + /; digests are sha256:<64 hex>',
      });
    const matches = index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] === reference);
    const last = matches[matches.length - 1];
    if (last) return plain(last);
    const tags = await this.tags();
    const shown = tags.slice(0, 20).join(', ') + (tags.length > 20 ? `, … (${tags.length} in all)` : '');
    throw new ModelshipError('NOT_FOUND', `tag "${reference}" not found in OCI layout ${this.location}`, {
      hint: tags.length
        ? `available tags: ${shown}`
        : 'the layout has no tags; refer to a manifest by digest or tag it first',
    });
  }

  /** A manifest blob that index.json does not list: type it from its own mediaType field. */
  private async sniff(digest: string): Promise<Descriptor | undefined> {
    let size: number;
    try {
      size = (await fsp.stat(this.blobPath({ digest }))).size;
    } catch {
      return undefined;
    }
    if (size > DEFAULT_MAX_BYTES) return undefined;
    const s = await this.summary({ mediaType: OCI_MANIFEST, digest, size });
    if (!s?.mediaType || !isManifestType(s.mediaType)) return undefined;
    return { mediaType: s.mediaType, digest, size };
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    this.checkDescriptor(desc);
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
    await this.updateIndex((index) => {
      const before = JSON.stringify(index.manifests);
      // Move the tag: strip it from every other entry, which stays as an untagged root.
      for (const d of index.manifests) {
        if (d.digest === desc.digest || d.annotations?.[ANNOTATION_REF_NAME] !== tag) continue;
        const { [ANNOTATION_REF_NAME]: _removed, ...rest } = d.annotations;
        if (Object.keys(rest).length) d.annotations = rest;
        else delete d.annotations;
      }
      const mine = index.manifests.filter((d) => d.digest === desc.digest);
      if (!mine.some((d) => d.annotations?.[ANNOTATION_REF_NAME] === tag)) {
        const untagged = mine.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === undefined);
        if (untagged) untagged.annotations = { ...untagged.annotations, [ANNOTATION_REF_NAME]: tag };
        else {
          const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
          const artifactType = mine[0]?.artifactType ?? summary?.artifactType ?? desc.artifactType;
          if (artifactType) entry.artifactType = artifactType;
          entry.annotations = { [ANNOTATION_REF_NAME]: tag };
          index.manifests.push(entry);
        }
      }
      // A referrers fallback tag (sha256-<hex>) names a list of referrers, not an artifact.
      const kind = FALLBACK_TAG_RE.test(tag) ? undefined : cosignKind(desc.mediaType);
      if (kind) markCosignTarget(index.manifests, desc.digest, kind);
      index.manifests = dropRedundantUntagged(index.manifests);
      return JSON.stringify(index.manifests) !== before;
    });
  }

  // ---- referrers ----------------------------------------------------------------------

  /**
   * Manifests in this layout whose `subject` is `desc`. Candidates are every manifest listed in
   * index.json plus the entries of indexes that list referrers for `desc` in the image-spec#1171
   * shape or under the `sha256-<hex>` fallback tag (regclient); each candidate is read and its
   * subject checked, so a stale list is never trusted.
   */
  async referrers(desc: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    this.blobPath(desc);
    const index = await this.readIndex();
    const fallbackTag = referrersFallbackTag(desc.digest);
    const candidates: Descriptor[] = [];
    const seen = new Set<string>();
    const add = (d: Descriptor): void => {
      if (!seen.has(d.digest) && isDigest(d.digest) && isManifestType(d.mediaType)) {
        seen.add(d.digest);
        candidates.push(d);
      }
    };
    for (const d of index.manifests) {
      add(d);
      const listsReferrers =
        d.mediaType === OCI_INDEX &&
        (d.annotations?.[ANNOTATION_REFERRER_SUBJECT] === desc.digest ||
          d.annotations?.[ANNOTATION_REF_NAME] === fallbackTag);
      if (listsReferrers) for (const r of (await this.summary(d))?.manifests ?? []) add(r);
    }
    const out: Descriptor[] = [];
    for (const c of candidates) {
      if (c.digest === desc.digest) continue;
      const s = await this.summary(c);
      if (!s || s.subject !== desc.digest) continue;
      if (artifactType !== undefined && s.effectiveArtifactType !== artifactType) continue;
      const r: Descriptor = { mediaType: s.mediaType ?? c.mediaType, digest: c.digest, size: c.size };
      if (s.effectiveArtifactType) r.artifactType = s.effectiveArtifactType;
      if (s.annotations && Object.keys(s.annotations).length) r.annotations = s.annotations;
      out.push(r);
      // A layout from elsewhere is as untrusted as a registry: the same cap, checked as found.
      checkReferrerCount(out.length, `OCI layout ${this.location} (referrers of ${desc.digest})`);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.indexQueue;
    this.summaries.clear();
  }
}

/** Moves cosign's `kind` to the tagged entries of `digest`, off every other artifact. */
function markCosignTarget(manifests: Descriptor[], digest: string, kind: string): void {
  for (const d of manifests) {
    const current = d.annotations?.[ANNOTATION_COSIGN_KIND];
    if (d.digest === digest) {
      if (d.annotations?.[ANNOTATION_REF_NAME] !== undefined && current !== kind)
        d.annotations = { ...d.annotations, [ANNOTATION_COSIGN_KIND]: kind };
    } else if (d.annotations && (current === COSIGN_KIND_IMAGE || current === COSIGN_KIND_IMAGE_INDEX)) {
      const { [ANNOTATION_COSIGN_KIND]: _removed, ...rest } = d.annotations;
      if (Object.keys(rest).length) d.annotations = rest;
      else delete d.annotations;
    }
  }
}

/** Untagged duplicates add nothing once the same digest is listed elsewhere. */
function dropRedundantUntagged(manifests: Descriptor[]): Descriptor[] {
  const tagged = new Set(
    manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== undefined).map((d) => d.digest),
  );
  const keptUntagged = new Set<string>();
  return manifests.filter((d) => {
    if (d.annotations?.[ANNOTATION_REF_NAME] !== undefined) return true;
    if (tagged.has(d.digest) || keptUntagged.has(d.digest)) return false;
    keptUntagged.add(d.digest);
    return true;
  });
}

function wrapFs(e: unknown, context: string): ModelshipError {
  if (e instanceof ModelshipError) return e;
  const err = toModelshipError(e, 'INPUT');
  return new ModelshipError(err.code, `${context}: ${err.message}`, { cause: e, hint: err.hint });
}

/** Write-side failures: ENOSPC is the one users can act on, so it gets its own message. */
function wrapWrite(e: unknown, what: string, layout: string): ModelshipError {
  if (e instanceof ModelshipError) return e;
  if (errno(e) === 'ENOSPC')
    return new ModelshipError('INPUT', `disk full while writing ${what}`, {
      cause: e,
      hint: `free space on the disk holding ${layout} and re-run; blobs already written are kept and skipped`,
    });
  return wrapFs(e, `cannot write ${what}`);
}
