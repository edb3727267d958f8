import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TransformCallback } from 'node:stream';
import { HashingStream } from '../digest.js';
import { ModelshipError } from '../errors.js';
import type { Descriptor } from '../oci.js';
import type { PushResult } from '../store.js';
import {
  backoffDelay,
  header,
  isRefusedTarget,
  rawHttpSupported,
  resolveLocation,
  type HttpClient,
  type HttpResponse,
} from './http.js';
import { FileSender, SenderError, type SenderResponse } from './file-sender.js';
import { registryLimits } from './limits.js';
import { sameFile, type FileIdentity, type FileUploadKey, type UploadSessions } from './upload-session.js';

export type UploadStrategy = 'auto' | 'monolithic' | 'chunked' | 'stream';

export const MiB = 1024 * 1024;
/** KitOps' chunk size for Docker Hub; also our default for explicit `chunked`. */
export const DEFAULT_CHUNK_SIZE = 100 * MiB;
/** Slow S3-backed commits: the final PUT may take minutes to answer. */
const COMMIT_TIMEOUT = 15 * 60_000;

/** Registries that only take POST + monolithic PUT (GHCR 416s PATCHes > 4 MiB; GAR refuses chunking). */
export function isMonolithicOnly(host: string): boolean {
  const h = host.toLowerCase().replace(/:\d+$/, '');
  return h === 'ghcr.io' || h.endsWith('.pkg.dev') || h === 'gcr.io' || h.endsWith('gcr.io');
}

/**
 * Blobs of at least this many chunks go up chunked (and resumable) under `auto`: an
 * interruption then costs at most an eighth of the blob. Smaller ones go monolithic, the
 * fastest request shape (docs/cli.md, "Resumable pushes and registry limits").
 */
export const RESUMABLE_MIN_CHUNKS = 8;

/** The strategy for a blob of known size. */
export function chooseStrategy(
  host: string,
  requested: UploadStrategy,
  size: number,
  chunkSize: number = DEFAULT_CHUNK_SIZE,
): Exclude<UploadStrategy, 'auto'> {
  if (requested !== 'auto') return requested;
  if (isMonolithicOnly(host)) return 'monolithic';
  const limits = registryLimits(host);
  if (limits?.maxMonolithic !== undefined && size > limits.maxMonolithic) return 'chunked';
  // Quay's chunked uploads and ECR's upload status are not to be relied on (see limits.ts).
  if (limits?.noResume || limits?.maxMonolithic !== undefined) return 'monolithic';
  return size >= RESUMABLE_MIN_CHUNKS * chunkSize ? 'chunked' : 'monolithic';
}

/** Parses MODELSHIP_UPLOAD_CHUNK_SIZE: bytes, or a number with K/M/G (binary: 4M, 4MiB = 4194304). */
export function parseChunkSize(value: string, what = 'MODELSHIP_UPLOAD_CHUNK_SIZE'): number {
  const m = /^\s*(\d+)\s*(?:([kmg])(?:i?b)?|b)?\s*$/i.exec(value);
  const n = m ? Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] ?? ' ').toLowerCase()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new ModelshipError('USAGE', `${what}="${value}" is not a chunk size`, {
      hint: 'give a byte count, or a number with K, M or G (binary units), e.g. 100M',
    });
  return n;
}

/** How `ingest` (digest unknown) uploads: one streamed PATCH, or spool to disk then push. */
export function ingestMode(host: string, requested: UploadStrategy): 'stream' | 'spool' {
  if (requested === 'monolithic' || requested === 'chunked') return 'spool';
  if (requested === 'stream') return 'stream';
  return isMonolithicOnly(host) ? 'spool' : 'stream';
}

export interface UploadContext {
  http: HttpClient;
  repository: string;
  /** `repository:<name>:pull,push` */
  pushScopes: readonly string[];
  retries: number;
  backoffMs: number;
  failure(res: HttpResponse, what: string, scopes: readonly string[]): Promise<ModelshipError>;
  blobExists(digest: string): Promise<boolean>;
  /** Where chunked uploads keep their place across runs; absent: no resume across runs. */
  sessions?: UploadSessions;
  /** Told once when a kept upload session could not be continued. */
  warn?: (message: string) => void;
}

/** Hashes, counts and reports progress of what flows to the registry. */
class ProgressHashingStream extends HashingStream {
  flushed = false;
  private settle!: { resolve: () => void; reject: (e: Error) => void };
  /**
   * Settles once every byte written has been hashed. Not 'finish': undici destroys a request
   * body right after its readable 'end', which can pre-empt 'finish' for good.
   */
  readonly hashed = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));

  constructor(
    private readonly onProgress: ((bytes: number) => void) | undefined,
    private readonly base = 0,
    /** false: count only (the registry checks `?digest=` itself). */
    private readonly hashing = true,
  ) {
    super();
    this.hashed.catch(() => undefined);
    this.once('close', () => {
      if (!this.flushed) this.settle.reject(new Error(`upload body closed after ${this.bytes} bytes`));
    });
  }

  override _flush(cb: TransformCallback): void {
    this.flushed = true;
    this.settle.resolve();
    cb();
  }
  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    if (this.hashing) super._transform(chunk, enc, cb);
    else {
      this.bytes += chunk.length;
      cb(null, chunk);
    }
    this.onProgress?.(this.base + this.bytes);
  }
}

/** Errors after which a fresh session (new POST) may succeed. */
const restartable = new WeakSet<Error>();
function markRestartable<E extends Error>(e: E): E {
  restartable.add(e);
  return e;
}
function isRestartable(e: unknown): boolean {
  // A refused Location (HTTPS → plain HTTP) would only be refused again.
  return e instanceof ModelshipError && ((e.code === 'NETWORK' && !isRefusedTarget(e)) || restartable.has(e));
}

function blobsPath(repository: string): string {
  return `/v2/${repository}/blobs/uploads/`;
}

/** Appends `digest` to an opaque upload Location without rebuilding it (it may carry `_state`). */
export function withDigest(location: URL, digest: string): URL {
  const href = location.href.replace(/#.*$/, '');
  return new URL(`${href}${location.search ? '&' : '?'}digest=${encodeURIComponent(digest)}`);
}

/**
 * The session's next URL. Any origin the registry names is taken (as containerd does), but
 * HttpClient.send sends credentials to the registry's own origin only and refuses a switch
 * from HTTPS to plain HTTP before a byte goes out.
 */
function nextLocation(res: HttpResponse, current: URL): URL {
  const loc = header(res, 'location');
  return loc ? resolveLocation(loc, res.url, `registry ${res.url.host} moved the upload`) : current;
}

export interface Session {
  location: URL;
  minChunk: number;
  /** Bytes the registry acknowledged on this session (chunked uploads). */
  offset: number;
}

async function startSession(ctx: UploadContext, what: string): Promise<Session> {
  const res = await ctx.http.send({
    method: 'POST',
    url: ctx.http.url(blobsPath(ctx.repository)),
    headers: { 'content-length': '0' },
    body: Buffer.alloc(0),
    scopes: ctx.pushScopes,
  });
  if (res.status !== 202) throw await ctx.failure(res, `${what}: start upload`, ctx.pushScopes);
  await res.body.dump();
  const loc = header(res, 'location');
  if (!loc)
    throw new ModelshipError(
      'NETWORK',
      `${what}: registry ${ctx.http.host} started an upload without a Location header`,
    );
  const min = Number(header(res, 'oci-chunk-min-length') ?? 0);
  return { location: nextLocation(res, res.url), minChunk: Number.isFinite(min) && min > 0 ? min : 0, offset: 0 };
}

/**
 * Where a session stands per the registry: the upload status GET (distribution-spec
 * "Resumable Push"), answered with the committed `Range` and a fresh Location. A string is
 * why the session cannot be continued. distribution 2.8 refuses the status of a session whose
 * stored bytes went past its Location's offset (a PATCH cut off mid-body left part of its body
 * behind); 3.x answers with the real offset (docs/cli.md, "Resumable pushes and registry limits").
 */
async function uploadStatus(ctx: UploadContext, s: Session, size: number): Promise<Session | string> {
  const res = await ctx.http.send({ method: 'GET', url: s.location, scopes: ctx.pushScopes });
  await res.body.dump();
  if (res.status !== 204 && res.status !== 200) return `it answered ${res.status}`;
  const m = /^\s*(?:bytes=)?0-(\d+)\s*$/.exec(header(res, 'range') ?? '');
  if (!m) return 'it sent no Range';
  const end = Number(m[1]);
  // `0-0` is written for 0 bytes and for 1: take 0 (a PATCH at a wrong offset is refused, never merged).
  const offset = end === 0 ? 0 : end + 1;
  if (!Number.isSafeInteger(offset) || offset > size) return `it claims ${offset} bytes of ${size}`;
  return { location: nextLocation(res, s.location), minChunk: s.minChunk, offset };
}

/** Cancels an abandoned session; failures don't matter (the registry expires it anyway). */
async function cancelSession(ctx: UploadContext, location: URL): Promise<void> {
  try {
    const res = await ctx.http.send({ method: 'DELETE', url: location, scopes: ctx.pushScopes });
    await res.body.dump();
  } catch {
    // ignored on purpose
  }
}

async function expectStatus(ctx: UploadContext, res: HttpResponse, ok: readonly number[], what: string): Promise<void> {
  if (ok.includes(res.status)) {
    await res.body.dump();
    return;
  }
  if (res.authRefreshed) {
    await res.body.dump();
    throw markRestartable(new ModelshipError('AUTH', `${what}: token expired mid-upload`));
  }
  const err = await ctx.failure(res, what, ctx.pushScopes);
  // A lost session (stale `_state`, completed or expired upload) is fixed by a new POST.
  if (res.status === 404 || res.status === 416) markRestartable(err);
  throw err;
}

async function commit(ctx: UploadContext, location: URL, digest: string, what: string): Promise<void> {
  const res = await ctx.http.send({
    method: 'PUT',
    url: withDigest(location, digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
    body: Buffer.alloc(0),
    scopes: ctx.pushScopes,
    headersTimeout: COMMIT_TIMEOUT,
  });
  await expectStatus(ctx, res, [201], `${what}: commit`);
}

function mismatch(desc: Descriptor, got: string, bytes: number, what: string): ModelshipError {
  return new ModelshipError(
    'INVALID',
    `${what}: the source produced ${bytes} bytes hashing to ${got}, but the descriptor says ${desc.size} bytes ${desc.digest}`,
    {
      hint: 'the file changed since it was hashed, or the descriptor is wrong; re-pack and push again',
    },
  );
}

/**
 * POST + one PUT with the whole body. Nothing is hashed on the way: the registry refuses a
 * body that does not hash to `?digest=` (distribution-spec "Pushing blobs"), and on a
 * machine with few cores a second SHA-256 beside the registry's own costs push time
 * (docs/cli.md, "Resumable pushes and registry limits"). Only when the registry says 400 is the source hashed again, to tell
 * a changed file from another refusal.
 */
async function monolithic(
  ctx: UploadContext,
  s: Session,
  desc: Descriptor,
  source: Readable,
  onProgress: ((n: number) => void) | undefined,
  what: string,
  rehash: () => Promise<{ digest: string; size: number }>,
): Promise<void> {
  const hasher = new ProgressHashingStream(onProgress, 0, false);
  source.on('error', (e) => hasher.destroy(e));
  const res = await ctx.http.send({
    method: 'PUT',
    url: withDigest(s.location, desc.digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
    body: source.pipe(hasher),
    scopes: ctx.pushScopes,
    headersTimeout: COMMIT_TIMEOUT,
  });
  if (res.status === 400) {
    const got = await rehash().catch(() => undefined);
    if (got && (got.digest !== desc.digest || got.size !== desc.size)) {
      await res.body.dump();
      throw mismatch(desc, got.digest, got.size, what);
    }
  }
  await expectStatus(ctx, res, [201], `${what}: upload`);
}

export interface Slicer {
  /** The next `length` bytes as their own stream. */
  next(length: number): Readable;
  /** True when the source has nothing left (call after the last slice was consumed). */
  exhausted(): Promise<boolean>;
}

/**
 * Cuts a stream into consecutive sub-streams of given lengths, pulling on demand so at most
 * one source chunk is held in memory whatever the blob size.
 */
function slicer(source: Readable): Slicer {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let rest: Buffer | undefined;
  return {
    next: (length: number) =>
      Readable.from(
        (async function* () {
          let left = length;
          while (left > 0) {
            let buf = rest;
            rest = undefined;
            if (!buf) {
              const r = await it.next();
              if (r.done)
                throw new ModelshipError('INVALID', `the source ended ${left} bytes short of the declared size`);
              buf = r.value;
            }
            if (buf.length > left) {
              rest = buf.subarray(left);
              buf = buf.subarray(0, left);
            }
            left -= buf.length;
            yield buf;
          }
        })(),
        { objectMode: false },
      ),
    exhausted: async () => {
      if (rest && rest.length) return false;
      for (;;) {
        const r = await it.next();
        if (r.done) return true;
        if (r.value.length) {
          rest = r.value;
          return false;
        }
      }
    },
  };
}

async function chunked(
  ctx: UploadContext,
  s: Session,
  desc: Descriptor,
  source: Readable,
  chunkSize: number,
  onProgress: ((n: number) => void) | undefined,
  what: string,
  onAck?: (s: Session) => Promise<void>,
): Promise<void> {
  const hasher = new ProgressHashingStream(onProgress);
  source.on('error', (e) => hasher.destroy(e));
  source.pipe(hasher);
  const slices = slicer(hasher);
  // What the registry already holds is hashed from the local file, not sent again.
  if (s.offset > 0) for await (const chunk of slices.next(s.offset)) void chunk;
  const size = Math.max(chunkSize, s.minChunk, registryLimits(ctx.http.host)?.minChunk ?? 0);
  let location = s.location;
  let offset = s.offset;
  while (offset < desc.size) {
    const len = Math.min(size, desc.size - offset);
    const res = await ctx.http.send({
      method: 'PATCH',
      url: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(len),
        // No `bytes ` prefix: that is the distribution-spec form, unlike HTTP's Content-Range.
        'content-range': `${offset}-${offset + len - 1}`,
      },
      body: slices.next(len),
      scopes: ctx.pushScopes,
    });
    // ECR answers 201 to a PATCH; everyone else 202.
    const nl = nextLocation(res, location);
    await expectStatus(ctx, res, [202, 201], `${what}: chunk at ${offset}`);
    location = nl;
    offset += len;
    s.location = location;
    s.offset = offset;
    await onAck?.(s);
  }
  // Everything was read: the size must match and the source must be exhausted.
  if (!(await slices.exhausted())) throw mismatch(desc, 'more bytes than declared', offset, what);
  const got = hasher.digest();
  // Checked before the commit so a wrong digest never lands under the descriptor's name.
  if (got !== desc.digest) throw mismatch(desc, got, hasher.bytes, what);
  await commit(ctx, location, desc.digest, what);
}

/** One PATCH with the whole body and no Content-Range (docker's "stream" upload). Returns the digest and size sent. */
export async function streamPatch(
  ctx: UploadContext,
  s: Session,
  source: Readable,
  size: number | undefined,
  onProgress: ((n: number) => void) | undefined,
  what: string,
): Promise<{ digest: string; size: number }> {
  const hasher = new ProgressHashingStream(onProgress);
  source.on('error', (e) => hasher.destroy(e));
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (size !== undefined) headers['content-length'] = String(size);
  const res = await ctx.http.send({
    method: 'PATCH',
    url: s.location,
    headers,
    body: source.pipe(hasher),
    scopes: ctx.pushScopes,
  });
  const nl = nextLocation(res, s.location);
  await expectStatus(ctx, res, [202, 201], `${what}: upload`);
  s.location = nl;
  if (!hasher.flushed) {
    // The registry can answer once Content-Length bytes arrived, before the source reported
    // its end. Waiting for 'finish' here hung for good whenever undici destroyed the body
    // first (the process then exited mid-push with code 13). Drain what is left ourselves;
    // if the body was closed early, the bytes hashed are exactly the bytes sent only when
    // they add up to the declared size.
    hasher.resume();
    await hasher.hashed.catch((e: unknown) => {
      if (size === undefined || hasher.bytes !== size) throw e;
      // The body was cut at the declared size: release the source (a file descriptor).
      source.destroy();
    });
  }
  return { digest: hasher.digest(), size: hasher.bytes };
}

/**
 * Uploads a stream of unknown digest in one read: POST, one PATCH hashing as it goes, then
 * the commit PUT with the digest we computed. A stream cannot be replayed, so a failure here
 * is final for this call (the caller re-runs).
 */
export async function ingestStream(
  ctx: UploadContext,
  stream: Readable,
  onProgress: ((n: number) => void) | undefined,
  what: string,
  size?: number,
): Promise<{ digest: string; size: number }> {
  const session = await startSession(ctx, what);
  try {
    const sent = await streamPatch(ctx, session, stream, size, onProgress, what);
    try {
      await commit(ctx, session.location, sent.digest, what);
    } catch (e) {
      // A timed-out commit may still have landed.
      if (!(await ctx.blobExists(sent.digest).catch(() => false))) throw e;
    }
    return sent;
  } catch (e) {
    stream.destroy();
    await cancelSession(ctx, session.location);
    if (e instanceof ModelshipError && e.code !== 'NETWORK') throw e;
    throw new ModelshipError('NETWORK', `${what} failed: ${(e as Error).message}`, {
      cause: e,
      hint: 'a stream can be read only once; re-run the command to retry (finished blobs are skipped)',
    });
  }
}

/** The local file's identity (resolved path and stat), or undefined when it cannot be read. */
async function fileIdentity(path: string): Promise<FileIdentity | undefined> {
  try {
    const real = await realpath(path);
    const st = await stat(real);
    if (!st.isFile()) return undefined;
    return { path: real, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev };
  } catch {
    return undefined;
  }
}

interface KeptFileSession {
  session: Session;
  /** Where the record says the upload stood, and the digest of the file's bytes up to there. */
  recorded: number;
  prefixDigest: string;
}

/**
 * The session an earlier run left for this file. A record of another identity (the file was
 * changed since) is deleted and its session cancelled without a word; one the registry
 * refuses is said once, as for a blob of known digest (keptSession), and forgotten.
 */
async function keptFileSession(
  ctx: UploadContext,
  sessions: UploadSessions,
  key: FileUploadKey,
  identity: FileIdentity,
  what: string,
): Promise<KeptFileSession | undefined> {
  const rec = await sessions.loadFile(key);
  if (!rec) return undefined;
  let location: URL | undefined;
  try {
    location = resolveLocation(rec.location, ctx.http.baseUrl, `${what}: the kept upload`);
  } catch {
    location = undefined;
  }
  if (!sameFile(rec.file, identity)) {
    await sessions.remove(key);
    if (location) await cancelSession(ctx, location);
    return undefined;
  }
  let why: string;
  if (!location) why = 'its Location is not one this registry may hand out';
  else {
    try {
      const st = await uploadStatus(ctx, { location, minChunk: 0, offset: rec.offset }, identity.size);
      if (typeof st !== 'string') return { session: st, recorded: rec.offset, prefixDigest: rec.prefixDigest };
      why = st;
    } catch (e) {
      why = e instanceof ModelshipError ? e.message : String(e);
    }
  }
  await sessions.remove(key);
  ctx.warn?.(refusedSession(what, rec.offset, rec.file.size, why));
  return undefined;
}

function digestOf(hash: Hash): string {
  return `sha256:${hash.copy().digest('hex')}`;
}

export interface IngestFileOptions {
  /** The local regular file `stream` reads from start to end. */
  path: string;
  /** Its size (the stream must end there). */
  size: number;
  chunkSize: number;
  onProgress?: ((bytes: number) => void) | undefined;
}

/**
 * Where ingestFile's bytes come from and where they are hashed: the caller's stream on this
 * thread (streamSource), or the file itself on a worker that sends as it hashes
 * (senderSource). Both hash each byte once, in order, and read back from the file only what a
 * retried PATCH sends again.
 */
interface ChunkSource {
  /** Bytes hashed so far, in order from the start. */
  hashed(): number;
  /** Hashes up to `n` without sending it; the digest of that prefix. */
  skipTo(n: number): Promise<string>;
  /** One PATCH of `[offset, offset + len)`; `prefix` is the digest of the bytes hashed when they end at `offset + len`. */
  patch(s: Session, offset: number, len: number): Promise<{ res: HttpResponse; prefix?: string }>;
  /** Checks that the file ends at its size; its digest. */
  end(): Promise<string>;
  /** The source's own failure (the file changed or could not be read): never retried. */
  failure(): Error | undefined;
  close(): void;
}

function changedError(what: string, path: string, size: number, got: string): ModelshipError {
  return new ModelshipError(
    'CONFLICT',
    `${what}: ${path} ${got}, not ${size}: it changed while it was being uploaded`,
    {
      hint: 'wait until the file is fully written, then re-run',
    },
  );
}

function patchHeaders(offset: number, len: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(len),
    'content-range': `${offset}-${offset + len - 1}`,
  };
}

/** The caller's stream, hashed on this thread as it goes out. */
function streamSource(ctx: UploadContext, stream: Readable, opts: IngestFileOptions, what: string): ChunkSource {
  const { size, path } = opts;
  const hash = createHash('sha256');
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let rest: Buffer | undefined;
  /** Bytes taken from the stream (and hashed). */
  let pulled = 0;
  let sourceError: Error | undefined;
  const changed = (got: string): ModelshipError => changedError(what, path, size, got);
  const pull = async (max: number): Promise<Buffer> => {
    let buf = rest;
    rest = undefined;
    if (!buf) {
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (e) {
        throw (sourceError = e as Error);
      }
      if (r.done) throw (sourceError = changed(`ended at ${pulled} bytes`));
      buf = r.value;
    }
    if (buf.length > max) {
      rest = buf.subarray(max);
      buf = buf.subarray(0, max);
    }
    hash.update(buf);
    pulled += buf.length;
    opts.onProgress?.(pulled);
    return buf;
  };
  const replay = async function* (from: number, to: number): AsyncGenerator<Buffer> {
    let got = 0;
    for await (const b of createReadStream(path, {
      start: from,
      end: to - 1,
      highWaterMark: MiB,
    }) as AsyncIterable<Buffer>) {
      got += b.length;
      yield b;
    }
    if (got !== to - from) throw (sourceError = changed(`read back ${from + got} bytes`));
  };
  const body = async function* (offset: number, len: number): AsyncGenerator<Buffer> {
    const end = offset + len;
    if (offset < pulled) yield* replay(offset, Math.min(end, pulled));
    while (pulled < end) yield await pull(end - pulled);
  };
  return {
    hashed: () => pulled,
    skipTo: async (n) => {
      while (pulled < n) await pull(n - pulled);
      return digestOf(hash);
    },
    patch: async (s, offset, len) => {
      const res = await ctx.http.send({
        method: 'PATCH',
        url: s.location,
        headers: patchHeaders(offset, len),
        body: Readable.from(body(offset, len), { objectMode: false }),
        scopes: ctx.pushScopes,
      });
      // After a replay the stream is ahead: the digest kept is of exactly the bytes acknowledged.
      return pulled === offset + len ? { res, prefix: digestOf(hash) } : { res };
    },
    end: async () => {
      const more = rest?.length ? true : await it.next().then((r) => !r.done && r.value.length > 0);
      if (more) throw changed('grew past its size');
      return `sha256:${hash.digest('hex')}`;
    },
    failure: () => sourceError,
    close: () => stream.destroy(),
  };
}

/** A response body already read (a FileSender's answer), for the callers of HttpResponse. */
function bufferedBody(bytes: Buffer): HttpResponse['body'] {
  const body = Readable.from([bytes]) as Readable & Record<string, unknown>;
  body['dump'] = async (): Promise<void> => {
    body.destroy();
  };
  body['text'] = async (): Promise<string> => bytes.toString('utf8');
  return body as unknown as HttpResponse['body'];
}

/**
 * The file read, hashed and sent by a FileSender worker (plain HTTP to the registry's own
 * origin). A Location elsewhere goes through HttpClient with the body read from the file, and
 * the hash catches up on the worker: a second read of those bytes only.
 */
function senderSource(ctx: UploadContext, opts: IngestFileOptions, what: string): ChunkSource {
  const { size, path } = opts;
  const sender = new FileSender(path, size, opts.onProgress);
  let sourceError: Error | undefined;
  const translate = (e: unknown, url: URL): Error => {
    if (!(e instanceof SenderError)) return e as Error;
    if (e.kind === 'file')
      return (sourceError = /^(ended at|grew past)/.test(e.message)
        ? changedError(what, path, size, e.message)
        : new ModelshipError('INPUT', `${what}: cannot read ${path}: ${e.message}`, {
            hint: 'check that the file is readable and unchanged, then re-run',
          }));
    return new ModelshipError(
      'NETWORK',
      `PATCH ${url.origin}${url.pathname} failed: ${e.code ? `${e.code}: ` : ''}${e.message}`,
      {
        cause: e,
        hint: `the connection to ${url.host} failed after retries; re-run to resume (finished blobs are skipped)`,
      },
    );
  };
  return {
    hashed: () => sender.hashed,
    skipTo: (n) => sender.hashTo(n).catch((e: unknown) => Promise.reject(translate(e, ctx.http.baseUrl))),
    patch: async (s, offset, len) => {
      const url = s.location;
      const extra = patchHeaders(offset, len);
      delete extra['content-length'];
      const headers = await ctx.http.headersFor(url, ctx.pushScopes, extra);
      if (!headers || !rawHttpSupported(url, headers)) {
        const res = await ctx.http.send({
          method: 'PATCH',
          url,
          headers: patchHeaders(offset, len),
          body: createReadStream(path, { start: offset, end: offset + len - 1, highWaterMark: MiB }),
          scopes: ctx.pushScopes,
        });
        const prefix = await sender.hashTo(offset + len).catch((e: unknown) => Promise.reject(translate(e, url)));
        return { res, prefix };
      }
      let r: SenderResponse;
      try {
        r = await sender.patch({ method: 'PATCH', url, headers, offset, len, timeoutMs: ctx.http.timeoutMs });
      } catch (e) {
        throw translate(e, url);
      }
      const h: Record<string, string | string[] | undefined> = {};
      for (const [k, v] of r.headers) {
        const was = h[k];
        h[k] = was === undefined ? v : Array.isArray(was) ? [...was, v] : [was, v];
      }
      const res: HttpResponse = { status: r.status, headers: h, body: bufferedBody(r.body), url };
      if (r.status === 401) {
        const challenges = r.headers.filter(([k]) => k === 'www-authenticate').map(([, v]) => v);
        res.authRefreshed = await ctx.http.challenged(challenges, ctx.pushScopes, headers['authorization']);
      }
      return r.prefix ? { res, prefix: r.prefix } : { res };
    },
    end: () => sender.end().catch((e: unknown) => Promise.reject(translate(e, ctx.http.baseUrl))),
    failure: () => sourceError,
    close: () => sender.close(),
  };
}

/**
 * Uploads a local file of unknown digest in chunked PATCHes, hashing what goes out as it goes
 * out: one read of the file's content (`stream`, or with `stream` undefined the file itself,
 * read on a worker that hashes and sends it: senderSource). After each acknowledged chunk the
 * session's place is kept under the file's identity (realpath, size, mtime, inode, device; the
 * digest is not known until the end), so a killed run's next run of the same file continues
 * it: the first `offset` bytes are read and hashed again without being sent, checked against
 * the digest kept of them, and the rest is PATCHed from the registry's `Range` end. Within a
 * run, a dropped PATCH continues from the upload status, or else on a fresh session; bytes
 * hashed since the last acknowledgement are then read again from the file (positional reads)
 * while the registry checks the whole at the commit's `?digest=`.
 */
export async function ingestFile(
  ctx: UploadContext,
  stream: Readable | undefined,
  opts: IngestFileOptions,
  what: string,
): Promise<{ digest: string; size: number }> {
  const { size, path } = opts;
  const identity = await fileIdentity(path);
  const key: FileUploadKey | undefined =
    identity && identity.size === size
      ? { registry: ctx.http.host, repository: ctx.repository, path: identity.path }
      : undefined;
  const kept = key && !registryLimits(ctx.http.host)?.noResume ? ctx.sessions : undefined;
  const source = stream ? streamSource(ctx, stream, opts, what) : senderSource(ctx, opts, what);

  const resumed = kept && key && identity ? await keptFileSession(ctx, kept, key, identity, what) : undefined;
  let session: Session | undefined = resumed?.session;
  try {
    if (resumed) {
      const check = Math.min(resumed.recorded, resumed.session.offset);
      const prefix = await source.skipTo(check);
      if (check === resumed.recorded && prefix !== resumed.prefixDigest) {
        // Same identity, other bytes (rewritten in place with its mtime kept): start over.
        ctx.warn?.(
          `${what}: ${path} is not what an earlier run left uploaded at ${resumed.recorded} bytes; uploading it from the start`,
        );
        await cancelSession(ctx, resumed.session.location);
        await kept?.remove(key!);
        session = undefined;
      } else await source.skipTo(resumed.session.offset);
    }
    let s: Session = (session ??= await startSession(ctx, what));
    const chunk = Math.max(opts.chunkSize, s.minChunk, registryLimits(ctx.http.host)?.minChunk ?? 0);
    for (let attempt = 0; s.offset < size;) {
      const offset = s.offset;
      const len = Math.min(chunk, size - offset);
      try {
        const { res, prefix } = await source.patch(s, offset, len);
        const nl = nextLocation(res, s.location);
        await expectStatus(ctx, res, [202, 201], `${what}: chunk at ${offset}`);
        s.location = nl;
        s.offset = offset + len;
        if (kept && key && identity && prefix !== undefined)
          await kept.saveFile({
            registry: key.registry,
            repository: key.repository,
            file: identity,
            location: nl.href,
            offset: s.offset,
            prefixDigest: prefix,
          });
      } catch (e) {
        const failed = source.failure();
        if (failed) throw failed;
        if (!isRestartable(e) || attempt++ >= ctx.retries) throw e;
        const st: Session | string = await uploadStatus(ctx, s, size).catch(() => 'unreachable');
        if (typeof st !== 'string' && st.offset <= source.hashed()) session = s = { ...st, minChunk: s.minChunk };
        else {
          await cancelSession(ctx, s.location);
          if (key) await kept?.remove(key);
          session = s = await startSession(ctx, what);
        }
        await sleep(backoffDelay(attempt - 1, ctx.backoffMs));
      }
    }
    // The file must end where its size said.
    const digest = await source.end();
    try {
      await commit(ctx, s.location, digest, what);
    } catch (e) {
      // A timed-out commit may still have landed.
      if (!(await ctx.blobExists(digest).catch(() => false))) throw e;
    }
    if (key) await kept?.remove(key);
    return { digest, size };
  } catch (e) {
    stream?.destroy();
    // A session with acknowledged chunks stays, with its record, for the next run.
    const keep = kept !== undefined && session !== undefined && session.offset > 0 && !source.failure();
    if (session && !keep) await cancelSession(ctx, session.location);
    if (key && !keep) await kept?.remove(key);
    if (e instanceof ModelshipError && e.code !== 'NETWORK') throw e;
    throw new ModelshipError('NETWORK', `${what} failed: ${(e as Error).message}`, {
      cause: e,
      hint: keep
        ? `re-run the command: the upload continues from byte ${session!.offset}`
        : 're-run the command to retry (finished blobs are skipped)',
    });
  } finally {
    source.close();
  }
}

export interface UploadOptions {
  strategy: UploadStrategy;
  chunkSize: number;
  onProgress?: (bytes: number) => void;
}

/**
 * The session an earlier run left for this blob, when the registry still knows it; a refused
 * one is said once (without its Location: it may carry a signed token) and forgotten.
 */
async function keptSession(
  ctx: UploadContext,
  sessions: UploadSessions,
  desc: Descriptor,
  what: string,
): Promise<Session | undefined> {
  const key = { registry: ctx.http.host, repository: ctx.repository, digest: desc.digest };
  const rec = await sessions.load(key);
  if (!rec) return undefined;
  let why: string;
  if (rec.size !== desc.size) why = `it was for ${rec.size} bytes, not ${desc.size}`;
  else {
    try {
      const location = resolveLocation(rec.location, ctx.http.baseUrl, `${what}: the kept upload`);
      const st = await uploadStatus(ctx, { location, minChunk: 0, offset: rec.offset }, desc.size);
      if (typeof st !== 'string') return st;
      why = st;
    } catch (e) {
      why = e instanceof ModelshipError ? e.message : String(e);
    }
  }
  await sessions.remove(key);
  ctx.warn?.(refusedSession(what, rec.offset, rec.size, why));
  return undefined;
}

function refusedSession(what: string, offset: number, size: number, why: string): string {
  return `${what}: the registry no longer takes the upload an earlier run left at ${offset} of ${size} bytes (${why}); uploading the blob from the start`;
}

/**
 * Uploads a blob of known digest. Chunked uploads record each acknowledged chunk (ctx.sessions)
 * and continue where the registry stands: after a dropped connection from the upload status,
 * on the next run from the kept session. Otherwise each attempt opens a fresh session and a
 * fresh source stream; after a failure we HEAD the digest (a timed-out commit may have landed)
 * and start over with a new POST: a Location the registry does not vouch for is never reused.
 */
export async function uploadBlob(
  ctx: UploadContext,
  desc: Descriptor,
  open: () => Promise<Readable>,
  opts: UploadOptions,
): Promise<PushResult> {
  const what = `push blob ${desc.digest} to ${ctx.http.host}/${ctx.repository}`;
  const strategy = chooseStrategy(ctx.http.host, opts.strategy, desc.size, opts.chunkSize);
  const key = { registry: ctx.http.host, repository: ctx.repository, digest: desc.digest };
  const resumable = strategy === 'chunked' && !registryLimits(ctx.http.host)?.noResume;
  const kept = resumable ? ctx.sessions : undefined;
  const onAck = kept
    ? (s: Session): Promise<void> => kept.save({ ...key, size: desc.size, location: s.location.href, offset: s.offset })
    : undefined;
  const rehash = async (): Promise<{ digest: string; size: number }> => {
    const h = new HashingStream();
    await pipeline(await open(), h, new Writable({ write: (_c, _e, cb) => cb() }));
    return { digest: h.digest(), size: h.bytes };
  };
  let resume = kept ? await keptSession(ctx, kept, desc, what) : undefined;
  for (let attempt = 0; ; attempt++) {
    let session: Session | undefined;
    let source: Readable | undefined;
    const resumed = resume !== undefined;
    try {
      session = resume ?? (await startSession(ctx, what));
      resume = undefined;
      source = await open();
      if (strategy === 'monolithic') await monolithic(ctx, session, desc, source, opts.onProgress, what, rehash);
      else if (strategy === 'chunked')
        await chunked(ctx, session, desc, source, opts.chunkSize, opts.onProgress, what, onAck);
      else {
        const sent = await streamPatch(ctx, session, source, desc.size, opts.onProgress, what);
        if (sent.digest !== desc.digest || sent.size !== desc.size) throw mismatch(desc, sent.digest, sent.size, what);
        await commit(ctx, session.location, desc.digest, what);
      }
      await kept?.remove(key);
      return { uploaded: true };
    } catch (e) {
      source?.destroy();
      // A continued session the registry turns down (bytes it kept differ, stale state) is
      // fixed by a new one.
      const restart = isRestartable(e) || (resumed && e instanceof ModelshipError && e.code !== 'INVALID');
      if (!restart || attempt >= ctx.retries) {
        // A session with acknowledged chunks stays (with its record) for the next run.
        if (session && !(kept && session.offset > 0)) await cancelSession(ctx, session.location);
        throw e;
      }
      if (await ctx.blobExists(desc.digest).catch(() => false)) {
        await kept?.remove(key);
        return { uploaded: true };
      }
      if (resumable && session && session.offset > 0) {
        const st = await uploadStatus(ctx, session, desc.size).catch(() => 'unreachable');
        if (typeof st !== 'string') resume = st;
      }
      if (!resume && session) {
        await cancelSession(ctx, session.location);
        await kept?.remove(key);
      }
      await sleep(backoffDelay(attempt, ctx.backoffMs));
    }
  }
}

/** Cross-repository mount: true when the registry linked the blob without a byte sent. */
export async function tryMount(ctx: UploadContext, digest: string, from: string): Promise<boolean> {
  const scopes = [...ctx.pushScopes, `repository:${from}:pull`];
  const url = ctx.http.url(
    `${blobsPath(ctx.repository)}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
  );
  let res: HttpResponse;
  try {
    res = await ctx.http.send({
      method: 'POST',
      url,
      headers: { 'content-length': '0' },
      body: Buffer.alloc(0),
      scopes,
    });
  } catch {
    return false; // a failed mount only costs us the upload we were going to do anyway
  }
  if (res.status === 201) {
    await res.body.dump();
    return true;
  }
  const loc = header(res, 'location');
  await res.body.dump();
  // 202 opened a session we won't use; Harbor says 401 for unknown sources: just upload.
  if (res.status === 202 && loc) {
    try {
      await cancelSession(ctx, nextLocation(res, res.url));
    } catch {
      // a malformed Location: the registry expires the session anyway
    }
  }
  return false;
}
