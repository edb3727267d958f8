import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { missingRanges, normalizeRanges, PartialBlobFile, type ByteRange } from '../blob-file.js';
import { ModelshipError } from '../errors.js';
import { withFileLock } from '../file-lock.js';
import type { Descriptor } from '../oci.js';
import type { DownloadToFileOptions } from '../store.js';
import type { FairSlots } from './fair-slots.js';
import { backoffDelay, header, rawHttpSupported, type HttpClient, type HttpResponse } from './http.js';
import { BlobReceiver, ReceiveError } from './blob-receiver.js';

/** Blobs this big or bigger are fetched as parallel `Range` GETs (distribution serves them). */
export const DEFAULT_RANGE_THRESHOLD = 256 * 1024 * 1024;
export const DEFAULT_RANGE_SIZE = 64 * 1024 * 1024;
/** Ranges of one blob in flight at once. */
export const DEFAULT_RANGE_CONCURRENCY = 4;
/** A range that delivers no byte for this long is aborted and asked for again. */
export const DEFAULT_STALL_MS = 30_000;
/** Bytes gathered from the socket before one positional write (writev, no copy). */
const WRITE_BATCH = 1024 * 1024;
/** Bytes written between two background flushes when the caller wants the file synced. */
const SYNC_EVERY = 64 * 1024 * 1024;
/** Bytes written between two saves of the partial file's record (blob-file.ts). */
const RECORD_EVERY = 16 * 1024 * 1024;
/** A partial batch is written once its connection has been quiet this long. */
const IDLE_FLUSH_MS = 200;

export interface DownloadTuning {
  rangeThreshold?: number;
  rangeSize?: number;
  rangeConcurrency?: number;
  stallMs?: number;
}

function envNumber(name: string): number | undefined {
  const v = Number(process.env[name]);
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/**
 * The tuning in effect: explicit values, else MODELSHIP_RANGE_THRESHOLD, MODELSHIP_RANGE_SIZE,
 * MODELSHIP_RANGE_CONCURRENCY, MODELSHIP_RANGE_STALL_MS (bytes / ms; tests shrink them), else
 * the defaults above.
 */
export function downloadTuning(t: DownloadTuning = {}): Required<DownloadTuning> {
  return {
    rangeThreshold: t.rangeThreshold ?? envNumber('MODELSHIP_RANGE_THRESHOLD') ?? DEFAULT_RANGE_THRESHOLD,
    rangeSize: t.rangeSize ?? envNumber('MODELSHIP_RANGE_SIZE') ?? DEFAULT_RANGE_SIZE,
    rangeConcurrency: t.rangeConcurrency ?? envNumber('MODELSHIP_RANGE_CONCURRENCY') ?? DEFAULT_RANGE_CONCURRENCY,
    stallMs: t.stallMs ?? envNumber('MODELSHIP_RANGE_STALL_MS') ?? DEFAULT_STALL_MS,
  };
}

export interface DownloadContext {
  http: HttpClient;
  url: URL;
  scopes: readonly string[];
  /** `blob sha256:… from host/repo`, for messages. */
  what: string;
  retries: number;
  backoffMs: number;
  failure(res: HttpResponse, what: string): Promise<ModelshipError>;
  /** Shared by every download of the store: the GETs in flight at once. */
  slots: FairSlots;
  tuning: Required<DownloadTuning>;
  /**
   * Bodies over plain HTTP are received by the download's worker (blob-receiver.ts) unless this is false:
   * MODELSHIP_RAW_GET=0 turns it off, and a registry that redirects blob GETs (to object
   * storage, whose answers go through HttpClient) turns it off for the store after the first.
   */
  raw?: { enabled: boolean };
}

export interface DownloadResult {
  /** Bytes received from the registry. */
  fetched: number;
  /** Bytes a previous run had written, kept (and hashed again). */
  kept: number;
}

/** The registry answered a range request with the whole blob: fetch it in one piece. */
class RangeIgnored extends Error {}

/** One piece of the file to fetch, written front to back: [start, at) is on disk. */
interface Task {
  start: number;
  end: number;
  at: number;
}

/**
 * Downloads blob `desc` into the file `path`, verified: it resolves only when the file holds
 * exactly the blob's bytes. Pieces are written at their offsets as they arrive (several
 * `Range` GETs in flight for a big blob, the store's connections shared fairly between its
 * downloads: fair-slots.ts). The download's worker (blob-receiver.ts) receives plain-HTTP
 * bodies itself and hashes them as it writes them; bodies that come through HttpClient are
 * offered to it, and bytes written ahead of the hash are read back from the file, so the one
 * hash of the blob overlaps the download. Written
 * ranges are recorded beside the file (`<path>.json`, blob-file.ts) while it downloads; a failed or killed download leaves both
 * for the next run, which fetches only the rest and hashes kept and new bytes alike. A digest
 * mismatch removes both (INVALID). Two processes downloading into one path take turns
 * (`<path>.lock`).
 */
export async function downloadBlob(
  ctx: DownloadContext,
  desc: Descriptor,
  path: string,
  options: DownloadToFileOptions = {},
): Promise<DownloadResult> {
  return withFileLock(
    `${path}.lock`,
    async () => {
      let result = await attempt(ctx, desc, path, options, true);
      // Kept bytes that were not the blob's (a foreign or lying record): once more, from nothing.
      if (result === 'kept-mismatch') result = await attempt(ctx, desc, path, options, false);
      if (result === 'kept-mismatch') throw new ModelshipError('INTERNAL', `${ctx.what}: unreachable`);
      return result;
    },
    { what: `download of ${ctx.what}`, timeoutMs: 24 * 3600_000 },
  );
}

async function attempt(
  ctx: DownloadContext,
  desc: Descriptor,
  path: string,
  options: DownloadToFileOptions,
  resume: boolean,
): Promise<DownloadResult | 'kept-mismatch'> {
  if (!resume) {
    await rm(`${path}.json`, { force: true });
    await rm(path, { force: true });
  }
  const file = await PartialBlobFile.open(path, desc);
  const kept = file.keptBytes;
  let ranged = desc.size >= ctx.tuning.rangeThreshold;
  let fetched = 0;
  let tasks: Task[] = [];
  const plan = (done: readonly ByteRange[]): void => {
    tasks = [];
    for (const gap of missingRanges(done, desc.size)) {
      const step = ranged ? ctx.tuning.rangeSize : gap.end - gap.start;
      for (let s = gap.start; s < gap.end; s += step) tasks.push({ start: s, end: Math.min(gap.end, s + step), at: s });
    }
  };
  plan(file.kept);
  const written = (): ByteRange[] => [...file.kept, ...tasks.map((t) => ({ start: t.start, end: t.at }))];
  const hash = new BlobReceiver(path, desc.size);
  file.onChunks = (chunks, at) => hash.offer(chunks, at);
  // The hash may read what is written without a gap from offset 0.
  const advance = (): void => {
    const merged = normalizeRanges(written(), desc.size);
    hash.advance(merged[0]?.start === 0 ? merged[0].end : 0);
  };
  advance();
  // With fsync asked for, the page cache is flushed as the download goes (one flush at a
  // time, in the background), so the final sync finds little left to write.
  let unsynced = 0;
  let unrecorded = 0;
  let syncing: Promise<void> | undefined;
  const onBytes = (n: number): void => {
    fetched += n;
    options.onProgress?.(fetched);
    // The record trails the writes by at most RECORD_EVERY bytes or the record's 500 ms: at
    // loopback speed half a second is hundreds of MiB a killed run would fetch again.
    unrecorded += n;
    const force = unrecorded >= RECORD_EVERY;
    if (force) unrecorded = 0;
    void file.save(written(), force);
    unsynced += n;
    if (options.fsync && !syncing && unsynced >= SYNC_EVERY) {
      unsynced = 0;
      syncing = file.sync().then(
        () => void (syncing = undefined),
        () => void (syncing = undefined),
      );
    }
  };
  const abort = new AbortController();
  const timings = options.timings;
  const receive = (run: () => Promise<void>): Promise<void> => (timings ? timings.time('network', run) : run());
  if (timings) file.timings = timings;
  try {
    try {
      await receive(() => runTasks(ctx, desc, file, hash, tasks, ranged, abort.signal, onBytes, advance));
    } catch (e) {
      if (!(e instanceof RangeIgnored)) throw e;
      // Start over in one piece, without Range: only what was written in full order counts.
      ranged = false;
      file.kept.splice(0);
      plan([]);
      await receive(() => runTasks(ctx, desc, file, hash, tasks, false, abort.signal, onBytes, advance));
    }
    advance();
    const got = await (timings ? timings.time('hashing', () => hash.result) : hash.result);
    if (got.digest !== desc.digest || got.size !== desc.size) {
      await file.abandon(undefined);
      if (kept > 0) return 'kept-mismatch';
      throw new ModelshipError('INVALID', `${ctx.what}: digest mismatch: got ${got.digest}, expected ${desc.digest}`, {
        hint: 'the content does not match its descriptor; it may have been tampered with',
      });
    }
    await syncing;
    if (options.fsync) await (timings ? timings.time('disk', () => file.sync()) : file.sync());
    await file.finish();
    return { fetched, kept };
  } catch (e) {
    abort.abort();
    hash.abandon();
    // Not a verification failure: keep what is written for the next run.
    await file.abandon(written()).catch(() => {});
    throw e;
  }
}

async function runTasks(
  ctx: DownloadContext,
  desc: Descriptor,
  file: PartialBlobFile,
  receiver: BlobReceiver,
  tasks: Task[],
  ranged: boolean,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  advance: () => void,
): Promise<void> {
  const lane = pLimit(ranged ? ctx.tuning.rangeConcurrency : 1);
  let failed = false;
  const owner = {};
  await Promise.all(
    tasks.map((t) =>
      lane(() =>
        ctx.slots.run(owner, async () => {
          if (failed || signal.aborted) return;
          try {
            await fetchTask(ctx, desc, file, receiver, t, signal, onBytes, advance);
          } catch (e) {
            failed = true;
            throw e;
          }
        }),
      ),
    ),
  );
}

function stalled(ctx: DownloadContext, t: Task): ModelshipError {
  return new ModelshipError(
    'NETWORK',
    `${ctx.what}: no bytes for ${ctx.tuning.stallMs} ms in range ${t.at}-${t.end - 1}`,
    { hint: 'the registry or the network stalled; re-run to resume (written ranges are kept)' },
  );
}

/**
 * After a failed attempt at `t` that had got it from `before` to `t.at`: throws when another
 * is not worth it (a verification failure, retries used up since the last progress), else
 * waits the backoff and returns the new failure count.
 */
async function afterFailure(
  ctx: DownloadContext,
  t: Task,
  e: unknown,
  before: number,
  failures: number,
): Promise<number> {
  if (e instanceof ModelshipError && e.code === 'INVALID') throw e;
  const count = t.at > before ? 0 : failures;
  if (count >= ctx.retries) {
    if (e instanceof ModelshipError) throw e;
    throw new ModelshipError('NETWORK', `${ctx.what}: ${(e as Error).message}`, {
      cause: e,
      hint: 're-run to resume (written ranges are kept)',
    });
  }
  await sleep(backoffDelay(count, ctx.backoffMs));
  return count + 1;
}

/** Fetches `[t.at, t.end)` into the file, resuming from `t.at` after a stall or a dropped connection. */
async function fetchTask(
  ctx: DownloadContext,
  desc: Descriptor,
  file: PartialBlobFile,
  receiver: BlobReceiver,
  t: Task,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  advance: () => void,
): Promise<void> {
  let failures = 0;
  for (;;) {
    if (signal.aborted) return;
    const whole = t.at === 0 && t.end === desc.size;
    if (ctx.raw?.enabled !== false && process.env['MODELSHIP_RAW_GET'] !== '0') {
      const before = t.at;
      let outcome: 'done' | 'fallback';
      try {
        outcome = await rawTask(ctx, receiver, t, whole, signal, onBytes, advance);
      } catch (e) {
        if (signal.aborted) return;
        failures = await afterFailure(ctx, t, e, before, failures);
        continue;
      }
      if (outcome === 'done') {
        if (t.at === t.end) return;
        continue;
      }
      // Anything but the plain answer (a 401 to answer, a redirect, an error to explain): HttpClient.
    }
    const res = await ctx.http.send({
      method: 'GET',
      url: ctx.url,
      headers: whole ? {} : { range: `bytes=${t.at}-${t.end - 1}` },
      scopes: ctx.scopes,
      followRedirects: true,
    });
    if (res.status === 200 && !whole) {
      await res.body.dump().catch(() => {});
      throw new RangeIgnored();
    }
    if (res.status !== 200 && res.status !== 206) {
      const err = await ctx.failure(res, `fetch ${ctx.what}`);
      if (err.code === 'NOT_FOUND')
        throw new ModelshipError('NOT_FOUND', `${ctx.what.replace(' from ', ' not found in ')}`, {
          cause: err,
          hint: 'push it first, or check the repository name',
        });
      throw err;
    }
    if (res.status === 206) {
      const cr = header(res, 'content-range') ?? '';
      if (!cr.startsWith(`bytes ${t.at}-`)) {
        await res.body.dump().catch(() => {});
        throw new ModelshipError('INVALID', `${ctx.what}: asked for bytes ${t.at}-, got Content-Range "${cr}"`, {
          hint: 'the registry (or a proxy in front of it) answers ranges wrongly',
        });
      }
    }
    const before = t.at;
    try {
      await readBody(ctx, file, t, res, signal, onBytes, advance);
      if (t.at === t.end) return;
      throw new ModelshipError('NETWORK', `${ctx.what}: the response ended at byte ${t.at} of ${t.end}`);
    } catch (e) {
      if (signal.aborted) return;
      failures = await afterFailure(ctx, t, e, before, failures);
    }
  }
}

/**
 * One attempt at `[t.at, t.end)` on the download's worker (blob-receiver.ts: it receives,
 * writes and hashes the body). `fallback` when the answer is not the expected 200/206 with
 * the exact length (the caller then asks through HttpClient, which answers auth challenges,
 * follows redirects and explains errors).
 */
async function rawTask(
  ctx: DownloadContext,
  receiver: BlobReceiver,
  t: Task,
  whole: boolean,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  advance: () => void,
): Promise<'done' | 'fallback'> {
  const headers = await ctx.http.headersFor(ctx.url, ctx.scopes, whole ? {} : { range: `bytes=${t.at}-${t.end - 1}` });
  if (!headers || !rawHttpSupported(ctx.url, headers)) {
    if (ctx.raw) ctx.raw.enabled = false;
    return 'fallback';
  }
  const onAt = (at: number): void => {
    if (at <= t.at) return;
    const n = at - t.at;
    t.at = at;
    advance();
    onBytes(n);
  };
  let r;
  try {
    r = await receiver.receive(
      { url: ctx.url, headers, at: t.at, end: t.end, whole, idleMs: ctx.tuning.stallMs },
      onAt,
      signal,
    );
  } catch (e) {
    if (e instanceof ReceiveError && e.stalled) throw stalled(ctx, t);
    throw e;
  }
  if (r.kind === 'fallback') {
    if (r.status >= 300 && r.status < 400 && ctx.raw) ctx.raw.enabled = false;
    return 'fallback';
  }
  return 'done';
}

async function readBody(
  ctx: DownloadContext,
  file: PartialBlobFile,
  t: Task,
  res: HttpResponse,
  signal: AbortSignal,
  onBytes: (n: number) => void,
  advance: () => void,
): Promise<void> {
  const body = res.body;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => body.destroy(stalled(ctx, t)), ctx.tuning.stallMs);
  };
  const onAbort = (): void => void body.destroy(new Error('aborted'));
  signal.addEventListener('abort', onAbort, { once: true });
  let batch: Buffer[] = [];
  let batched = 0;
  // Where the next batch goes: batches are written one after another, at their own offsets.
  let next = t.at;
  let writing: Promise<void> = Promise.resolve();
  let idle: NodeJS.Timeout | undefined;
  const flush = (): Promise<void> => {
    clearTimeout(idle);
    if (!batched) return writing;
    const bufs = batch;
    const n = batched;
    const at = next;
    batch = [];
    batched = 0;
    next += n;
    writing = writing.then(async () => {
      await file.write(bufs, at);
      t.at = at + n;
      // A slow disk is not a stalled registry.
      arm();
      advance();
      onBytes(n);
    });
    return writing;
  };
  try {
    arm();
    for await (const chunk of body as AsyncIterable<Buffer>) {
      arm();
      if (next + batched + chunk.length > t.end)
        throw new ModelshipError('INVALID', `${ctx.what}: more bytes than the ${t.end - t.start} asked for`, {
          hint: 'the content does not match its descriptor; it may have been tampered with',
        });
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= WRITE_BATCH) await flush();
      else {
        // A quiet connection still gets what it sent onto disk (and into the record) soon.
        clearTimeout(idle);
        idle = setTimeout(() => void flush().catch(() => {}), IDLE_FLUSH_MS);
      }
    }
    await flush();
  } catch (e) {
    // What arrived before the failure is good to keep.
    await flush().catch(() => {});
    body.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
    clearTimeout(idle);
    signal.removeEventListener('abort', onAbort);
  }
}
