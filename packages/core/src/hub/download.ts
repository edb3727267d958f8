import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ModelshipError } from '../errors.js';
import type { HubClient } from './client.js';
import type { HubReference } from './reference.js';

export const MiB = 1024 * 1024;

/** How files are fetched: one resumable GET, or parallel ranges for large files. */
export interface RangeOptions {
  /** Files at least this large are fetched as `parallelRanges` ranges at once (default 256 MiB). */
  parallelThreshold: number;
  /** Size of each range of a large file (default 8 MiB). */
  partSize: number;
  /** Ranges of one large file in flight at once (default 4): the next one, and parts read ahead within the process's budget (8 parts). */
  parallelRanges: number;
  /** Attempts after a failure that made no progress (default 5); a read that delivered bytes starts the count again. */
  retries: number;
  /** First backoff between attempts; doubles (default 500 ms). */
  backoffMs: number;
}

export const DEFAULT_RANGE_OPTIONS: RangeOptions = {
  parallelThreshold: 256 * MiB,
  partSize: 8 * MiB,
  parallelRanges: 4,
  retries: 5,
  backoffMs: 500,
};

/** Where one file's bytes come from. */
export interface FileSource {
  client: HubClient;
  ref: HubReference;
  /** The `resolve/` URL the Blob reads (for error messages and the client's failure records). */
  url: string;
  blob: Blob;
  size: number;
}

/** The Range header @huggingface/hub's WebBlob sends for `slice(start, end)` of a whole-file Blob. */
function rangeHeader(start: number, end: number, size: number): string {
  return start === 0 && end === size ? '' : `bytes=${start}-${end - 1}`;
}

/**
 * Bytes [start, end) of the file. A read that fails (a reset, a stall, a 5xx after the client's
 * own retries) is resumed from the byte where it stopped with a new range request; a refusal
 * (4xx) or a wrong answer is final.
 */
export async function* rangeBytes(
  src: FileSource,
  start: number,
  end: number,
  o: RangeOptions,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  let pos = start;
  let failures = 0;
  while (pos < end) {
    const range = rangeHeader(pos, end, src.size);
    src.client.clearRange(src.url, range);
    try {
      for await (const chunk of src.blob.slice(pos, end).stream() as AsyncIterable<Uint8Array>) {
        if (signal?.aborted) return;
        const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (b.length > end - pos)
          throw new ModelshipError('NETWORK', `the Hub sent more than the ${end - start} bytes asked of ${src.url}`);
        pos += b.length;
        failures = 0;
        yield b;
      }
      if (pos < end) throw new Error(`the connection closed at byte ${pos} of ${end}`);
    } catch (e) {
      if (signal?.aborted) return;
      if (e instanceof ModelshipError && e.code !== 'NETWORK') throw e;
      const why = src.client.rangeError(src.ref, src.url, range, e);
      if (!src.client.retryable(src.url, range) || failures >= o.retries) throw why;
      failures++;
      await sleep(o.backoffMs * 2 ** (failures - 1));
    }
  }
}

/** Bytes [start, end) as the chunks the network delivered (no copy into one part-sized buffer). */
async function readPart(
  src: FileSource,
  start: number,
  end: number,
  o: RangeOptions,
  signal: AbortSignal,
): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const b of rangeBytes(src, start, end, o, signal)) chunks.push(b);
  return chunks;
}

/**
 * Parts fetched ahead of the one a file's consumer waits on, for all files of the process at
 * once: four files in parallel, each with `parallelRanges` parts in flight, held 16 parts of
 * 8 MiB and more (an import of 4 × 1 GiB peaked at 530 MB). A file's next part always starts;
 * the ones after it only while this budget lasts.
 */
const readAhead = { free: 8 };

/**
 * Bytes [start, size) as parallel ranges of `partSize`, up to `parallelRanges` in flight (read
 * ahead within the process's budget), handed on in order as they arrived: the next range
 * starts only when the consumer took an earlier one, so memory stays at a few parts whatever
 * the file size.
 */
async function* parallelBytes(src: FileSource, start: number, o: RangeOptions): AsyncGenerator<Buffer> {
  const ac = new AbortController();
  const parts: [number, number][] = [];
  for (let a = start; a < src.size; a += o.partSize) parts.push([a, Math.min(src.size, a + o.partSize)]);
  const inFlight = new Map<number, Promise<Buffer[]>>();
  /** Parts started on the read-ahead budget, and not yet handed on. */
  const ahead = new Set<number>();
  let started = 0;
  const begin = (): void => {
    const [a, b] = parts[started]!;
    const p = readPart(src, a, b, o, ac.signal);
    p.catch(() => undefined); // awaited in order below; an early failure must not be "unhandled"
    inFlight.set(started++, p);
  };
  try {
    for (let i = 0; i < parts.length; i++) {
      if (started === i) begin();
      while (started < parts.length && started < i + o.parallelRanges && readAhead.free > 0) {
        readAhead.free--;
        ahead.add(started);
        begin();
      }
      const chunks: (Buffer | undefined)[] = await inFlight.get(i)!;
      inFlight.delete(i);
      // Each chunk let go as it is handed on.
      for (let j = 0; j < chunks.length; j++) {
        const c = chunks[j]!;
        chunks[j] = undefined;
        yield c;
      }
      if (ahead.delete(i)) readAhead.free++;
    }
  } finally {
    ac.abort();
    readAhead.free += ahead.size;
  }
}

/** The digest the Hub gives for a file: the LFS sha256, or the git blob id of a small file. */
export type ExpectedDigest = { kind: 'sha256'; hex: string } | { kind: 'git-blob'; hex: string };

/** sha256 or git blob id over what flows by. */
export class FileHasher {
  private readonly hash;
  constructor(
    readonly expected: ExpectedDigest,
    size: number,
  ) {
    this.hash = createHash(expected.kind === 'sha256' ? 'sha256' : 'sha1');
    if (expected.kind === 'git-blob') this.hash.update(`blob ${size}\0`);
  }
  update(b: Buffer): void {
    this.hash.update(b);
  }
  matches(): { ok: boolean; got: string } {
    const got = this.hash.digest('hex');
    return { ok: got === this.expected.hex, got };
  }
}

export function mismatchError(what: string, expected: ExpectedDigest, got: string, bytes: number): ModelshipError {
  const named = expected.kind === 'sha256' ? 'LFS sha256' : 'git blob id';
  return new ModelshipError(
    'INVALID',
    `${what}: the Hub served ${bytes} bytes whose ${named} is ${got}, but its listing at this commit says ${expected.hex}`,
    {
      hint: 'the file changed under its commit, or something between here and the Hub altered it; nothing was pushed for it',
    },
  );
}

export interface FileStreamOptions {
  /** Bytes [0, length) are already on disk in `path` (read earlier for the metadata headers). */
  prefix?: { path: string; length: number };
  onBytes?: (n: number) => void;
}

/**
 * The whole file, verified: the last chunk is held back until the bytes hash to the Hub's
 * digest, so a consumer never sees the complete file when they do not (a registry or a layout
 * then has nothing to commit).
 */
export function fileStream(
  src: FileSource,
  expected: ExpectedDigest,
  what: string,
  o: RangeOptions,
  opts: FileStreamOptions = {},
): Readable {
  async function* verified(): AsyncGenerator<Buffer> {
    const hasher = new FileHasher(expected, src.size);
    let bytes = 0;
    let held: Buffer | undefined;
    const pass = (b: Buffer): Buffer | undefined => {
      hasher.update(b);
      bytes += b.length;
      opts.onBytes?.(b.length);
      const out = held;
      held = b;
      return out;
    };
    const start = opts.prefix?.length ?? 0;
    if (opts.prefix && start > 0) {
      for await (const b of createReadStream(opts.prefix.path, { start: 0, end: start - 1 }) as AsyncIterable<Buffer>) {
        const out = pass(b);
        if (out) yield out;
      }
    }
    const rest = src.size - start >= o.parallelThreshold && src.size >= o.parallelThreshold;
    const source = rest ? parallelBytes(src, start, o) : rangeBytes(src, start, src.size, o);
    for await (const b of source) {
      const out = pass(b);
      if (out) yield out;
    }
    const { ok, got } = hasher.matches();
    if (!ok || bytes !== src.size) throw mismatchError(what, expected, got, bytes);
    if (held) yield held;
  }
  return Readable.from(verified(), { objectMode: false, highWaterMark: MiB });
}
