import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCb } from 'node:stream';
import { sha256Digest, HashingStream, VerifyingStream } from '../digest.js';
import { ModelshipError } from '../errors.js';
import { digestHex, isDigest, type Descriptor } from '../oci.js';
import type { BlobSource, IngestResult, PushOptions } from '../store.js';
import type { Timings } from '../timings.js';
import { errno, wrapFs, wrapWrite } from './errors.js';

export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
/** Link failures that mean "cannot link here", not "something is wrong": fall back to copying. */
const LINK_FALLBACK_CODES = new Set(['EXDEV', 'EPERM', 'EACCES', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

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
  constructor(
    private readonly fh: fsp.FileHandle,
    private readonly timings?: Timings,
  ) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const end = this.timings?.begin('disk');
    this.writeAll(chunk)
      .finally(end)
      .then(() => cb(), cb);
  }
  private async writeAll(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) off += (await this.fh.write(chunk, off, chunk.length - off)).bytesWritten;
  }
}

/**
 * The `blobs/sha256/<hex>` files of a layout. A file there always hashes to its name: content
 * is written to `ingest/` and renamed into place only after verification, or hard-linked from
 * a file whose digest the caller computed.
 */
export class LayoutBlobs {
  constructor(
    private readonly root: string,
    /** The layout as the user named it, for messages. */
    private readonly location: string,
    private readonly fsync: boolean,
  ) {}

  /** Validates before building a path, so a digest can never point outside `blobs/`. */
  path(desc: Pick<Descriptor, 'digest'>): string {
    if (typeof desc.digest !== 'string' || !isDigest(desc.digest))
      throw new ModelshipError('INVALID', `malformed digest ${JSON.stringify(desc.digest)}`, {
        hint: 'digests look like sha256:<64 lowercase hex>',
      });
    return join(this.root, 'blobs', 'sha256', digestHex(desc.digest));
  }

  checkDescriptor(desc: Descriptor): string {
    const path = this.path(desc);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0)
      throw new ModelshipError('INVALID', `descriptor ${desc.digest} has an invalid size ${String(desc.size)}`);
    return path;
  }

  what(digest: string): string {
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
  private async writeTemp(source: Readable, transforms: Transform[], what: string, timings?: Timings): Promise<string> {
    const tmp = this.tempPath();
    let fh: fsp.FileHandle | undefined;
    try {
      await fsp.mkdir(join(this.root, 'ingest'), { recursive: true });
      fh = await fsp.open(tmp, 'wx');
      await pipeline([source, ...transforms, new FileSink(fh, timings)]);
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

  /** Stores `source` as `desc` unless present; true when bytes were written or linked. */
  async write(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions = {}): Promise<boolean> {
    const blobPath = this.checkDescriptor(desc);
    const what = this.what(desc.digest);
    if (await this.exists(desc)) return false;
    if (Buffer.isBuffer(source)) await this.pushBuffer(desc, source, blobPath);
    else if (source.path === undefined && source.download) {
      await this.downloadInto(desc, source, blobPath, options);
    } else if (!(source.path !== undefined && (await this.tryLink(desc, source.path, blobPath)))) {
      const verifier = new VerifyingStream(desc.digest, desc.size, `content pushed as ${desc.digest}`);
      const transforms: Transform[] = [verifier];
      if (options.onProgress) transforms.push(new ProgressCounter(options.onProgress));
      const tmp = await this.writeTemp(await source.open(), transforms, what, options.timings);
      await this.commit(tmp, blobPath, what);
    }
    // A hard link moves no bytes, so it reports no progress: pack counts progress as bytes read.
    return true;
  }

  /**
   * The source writes the blob into `ingest/<hex>.partial` and verifies it there (a registry
   * download: hashed once, on a worker); only a verified file is renamed into `blobs/`. The
   * stable name lets a re-run after an interrupted pull keep what was written.
   */
  private async downloadInto(
    desc: Descriptor,
    source: BlobSource,
    blobPath: string,
    options: PushOptions,
  ): Promise<void> {
    const what = this.what(desc.digest);
    const partial = join(this.root, 'ingest', `${digestHex(desc.digest)}.partial`);
    try {
      await fsp.mkdir(join(this.root, 'ingest'), { recursive: true });
    } catch (e) {
      throw wrapWrite(e, what, this.location);
    }
    await source.download!(partial, {
      fsync: this.fsync,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    await this.commit(partial, blobPath, what);
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

  /** Stores a stream whose digest is not known yet, hashing while writing. */
  async ingest(mediaType: string, stream: Readable, options: PushOptions = {}): Promise<IngestResult> {
    const hasher = new HashingStream();
    const transforms: Transform[] = [hasher];
    if (options.onProgress) transforms.push(new ProgressCounter(options.onProgress));
    const tmp = await this.writeTemp(
      stream,
      transforms,
      `content ingested into OCI layout ${this.location}`,
      options.timings,
    );
    const descriptor: Descriptor = { mediaType, digest: hasher.digest(), size: hasher.bytes };
    let uploaded = true;
    try {
      if (await this.exists(descriptor)) uploaded = false;
      else await this.commit(tmp, this.path(descriptor), this.what(descriptor.digest));
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => {});
    }
    return { descriptor, uploaded };
  }
}
