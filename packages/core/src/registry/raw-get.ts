import { connect, type Socket } from 'node:net';
import { alignedBuffer } from '../aligned-buffer.js';

/**
 * A plain-HTTP/1.1 GET whose body lands in caller-owned buffers, for blob downloads from a
 * registry served over `http:` (docs/performance.md, "Pull"). undici and node:http hand every
 * socket read to JavaScript as a fresh 64 KiB buffer (undici copies it once more into its
 * parser); on this project's 2-core machine that caps a loopback download at about a third of
 * curl's speed before any hashing or writing. A socket with `onread` reads straight into the
 * tail of a large buffer instead, so a full buffer is one positional write.
 *
 * Written by hand because no maintained library offers this: it parses only what a blob GET
 * answers (a status line, headers, a `Content-Length` body). Anything else (a redirect, a 401,
 * chunked encoding, TLS) is handed back as `fallback`, and the caller goes through HttpClient
 * (auth challenges, redirects, retries) instead. Node's TLS sockets ignore `onread`, so
 * `https:` never comes here.
 */

/** Bytes of one receive buffer: a full one is written in one call. */
const BUFFER_SIZE = 1024 * 1024;
/** Writes in flight per connection before the socket waits: one buffer fills while these go out. */
const MAX_WRITES = 2;
/** A part-filled buffer is written once its connection has been quiet this long. */
const IDLE_FLUSH_MS = 200;
/** The status line and headers of a blob response fit in this many bytes. */
const MAX_HEAD = 64 * 1024;

/**
 * Receive buffers are shared memory: the download's hash worker (trailing-hash.ts) reads
 * them in place while they are written, instead of a copy or a read back from the file. They
 * are page-aligned, so a full one can be written with `O_DIRECT` (blob-file.ts).
 */
function receiveBuffer(): Buffer {
  return spare.pop() ?? alignedBuffer(BUFFER_SIZE);
}

/**
 * Free receive buffers, shared by every request: a pull makes a request per range, and
 * buffers left to the garbage collector piled up past 100 MB before it came for them.
 */
const spare: Buffer[] = [];
const MAX_SPARE = 16;

function recycle(buf: Buffer): void {
  if (spare.length < MAX_SPARE) spare.push(buf);
}

export interface RawGetOptions {
  url: URL;
  headers: Record<string, string>;
  /** Decides from the status and headers whether to take the body; false ends it as `fallback`. */
  accept(status: number, headers: ReadonlyMap<string, string>): boolean;
  /** Body bytes in order; `data` is valid until the returned promise settles. */
  write(data: Buffer): Promise<void>;
  /** No byte for this long ends the request with `stalled()`. */
  idleMs: number;
  stalled(): Error;
  signal: AbortSignal;
}

export type RawGetResult =
  | { kind: 'body'; status: number; headers: ReadonlyMap<string, string>; bytes: number }
  | { kind: 'fallback'; status: number };

function parseHead(text: string): { status: number; headers: Map<string, string> } | undefined {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return undefined;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    // A repeated Content-Length with different values is a smuggling shape: not ours to guess.
    if (headers.has(k) && k === 'content-length' && headers.get(k) !== v) return undefined;
    headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
  }
  return { status: Number(m[1]), headers };
}

/** Only an `http:` URL with a plain path and query: anything else goes through HttpClient. */
export function rawGetSupported(url: URL, headers: Record<string, string>): boolean {
  // Header values come from a token service too: one with a line break is undici's to refuse.
  return (
    url.protocol === 'http:' &&
    url.username === '' &&
    url.password === '' &&
    Object.entries(headers).every(([k, v]) => !/[\r\n]/.test(k) && !/[\r\n]/.test(v))
  );
}

export function rawGet(o: RawGetOptions): Promise<RawGetResult> {
  return new Promise<RawGetResult>((resolve, reject) => {
    const head = Buffer.allocUnsafe(MAX_HEAD);
    let headLen = 0;
    let parsed: { status: number; headers: Map<string, string> } | undefined;
    let length = 0;
    let received = 0;
    let current: Buffer = receiveBuffer();
    let filled = 0;
    /** Bytes of `current` already handed to a write (as a copy, by a timer). */
    let sent = 0;
    let writes = 0;
    let writing: Promise<void> = Promise.resolve();
    let settled = false;
    let paused = false;
    let timer: NodeJS.Timeout | undefined;
    let idle: NodeJS.Timeout | undefined;
    // Assigned once connect() below has run; the closures above only run after that.
    const sock: { s?: Socket } = {};

    const finish = (err: Error | undefined, result?: RawGetResult, keep = false): void => {
      if (settled) return;
      // A stall or a dropped connection keeps what arrived before it: the retry starts there.
      if (keep && parsed) flush(false);
      settled = true;
      clearTimeout(timer);
      clearTimeout(idle);
      o.signal.removeEventListener('abort', onAbort);
      sock.s?.destroy();
      // The socket reads into `current` no more; what a timer wrote from it was a copy.
      const last = current;
      // What was handed to write() is on disk (or failed) before the caller hears of it.
      writing.then(
        () => {
          recycle(last);
          if (err) reject(err);
          else resolve(result!);
        },
        (e: unknown) => reject(err ?? e),
      );
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(o.stalled(), undefined, true), o.idleMs);
      // A quiet connection still gets what it sent onto disk (and into the caller's record) soon.
      clearTimeout(idle);
      if (filled > sent && !paused) idle = setTimeout(() => flush(false), IDLE_FLUSH_MS);
    };
    const onAbort = (): void => finish(new Error('aborted'));
    o.signal.addEventListener('abort', onAbort, { once: true });

    /**
     * Writes what the current buffer holds beyond `sent`. From the read callback (`swap`), it
     * hands the buffer itself to the write and takes a free one to fill next: Node asks for
     * the next read's buffer right after the callback. From a timer (a quiet connection, a
     * stall) the socket still reads into the tail of this buffer, so the bytes go out as a
     * copy and the buffer stays. With MAX_WRITES in flight the socket waits (the callback
     * returns false) until one is done: a connection holds at most MAX_WRITES + 1 buffers.
     */
    const flush = (swap: boolean): void => {
      if (filled > sent) {
        const buf = current;
        const data = swap ? buf.subarray(sent, filled) : Buffer.from(buf.subarray(sent, filled));
        writes++;
        writing = writing.then(() => o.write(data));
        writing.then(
          () => {
            writes--;
            if (swap) recycle(buf);
            if (paused && !settled) {
              paused = false;
              arm();
              sock.s?.resume();
            }
          },
          (e: unknown) => finish(e as Error),
        );
        sent = filled;
      }
      if (swap) {
        current = receiveBuffer();
        filled = 0;
        sent = 0;
      }
    };

    const bodyBytes = (chunk: Buffer): void => {
      if (received + chunk.length > length) {
        finish(new Error(`more bytes than the Content-Length of ${length}`));
        return;
      }
      received += chunk.length;
      if (received === length) {
        flush(true);
        finish(undefined, { kind: 'body', status: parsed!.status, headers: parsed!.headers, bytes: received });
      }
    };

    const onHeadBytes = (n: number): void => {
      headLen += n;
      const end = head.subarray(0, headLen).indexOf('\r\n\r\n');
      if (end < 0) {
        if (headLen >= MAX_HEAD) finish(new Error('response headers too large'));
        return;
      }
      parsed = parseHead(head.subarray(0, end).toString('latin1'));
      if (!parsed) return finish(new Error('malformed HTTP response'));
      const cl = parsed.headers.get('content-length');
      if (
        !o.accept(parsed.status, parsed.headers) ||
        parsed.headers.has('transfer-encoding') ||
        cl === undefined ||
        !/^\d{1,15}$/.test(cl)
      )
        return finish(undefined, { kind: 'fallback', status: parsed.status });
      length = Number(cl);
      const rest = head.subarray(end + 4, headLen);
      if (rest.length > length) return finish(new Error(`more bytes than the Content-Length of ${length}`));
      rest.copy(current, 0);
      filled = rest.length;
      if (length === 0)
        return finish(undefined, { kind: 'body', status: parsed.status, headers: parsed.headers, bytes: 0 });
      bodyBytes(current.subarray(0, rest.length));
    };

    const socket = connect({
      host: o.url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(o.url.port || 80),
      onread: {
        // Each read goes into the free tail of the buffer being filled (the head first).
        buffer: () => (parsed ? current.subarray(filled) : head.subarray(headLen)),
        callback: (n: number) => {
          if (settled) return false;
          arm();
          if (!parsed) onHeadBytes(n);
          else {
            const chunk = current.subarray(filled, filled + n);
            filled += n;
            bodyBytes(chunk);
            // Only a full buffer is handed on: its length and file offset stay block-aligned
            // for a direct write (blob-file.ts); a short read at the tail costs one more read.
            if (!settled && filled === current.length) flush(true);
          }
          if (settled) return false;
          if (writes >= MAX_WRITES) {
            // Paused until a write is done; a slow disk is not a stalled registry.
            clearTimeout(timer);
            paused = true;
            return false;
          }
          return true;
        },
      },
    });
    sock.s = socket;
    socket.setNoDelay(true);
    arm();
    socket.once('connect', () => {
      const lines = [`GET ${o.url.pathname}${o.url.search} HTTP/1.1`, `host: ${o.url.host}`, 'connection: close'];
      for (const [k, v] of Object.entries(o.headers)) lines.push(`${k}: ${v}`);
      sock.s!.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
    socket.once('error', (e) => finish(e, undefined, true));
    socket.once('close', () => {
      if (!settled)
        finish(
          new Error(parsed ? `the response ended at byte ${received} of ${length}` : 'connection closed'),
          undefined,
          true,
        );
    });
  });
}
