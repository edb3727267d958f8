import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { directIoFlag } from '../direct-io.js';
import { rawTarget } from './http.js';
import type { FileDigest } from '../hash-pool.js';

/**
 * One blob download's worker (registry/download.ts): it receives plain-HTTP GET bodies on its
 * own sockets, writes each buffer at its offset (with O_DIRECT when aligned) and hashes it
 * while it is still in this core's cache, so the bytes of a pull cross no thread. On this
 * project's two cores, hashing buffers another core had received cost half as much again as
 * hashing them hot, and the main thread's hand-offs were a second bottleneck
 * (docs/performance.md, "Transfers on the worker"). It also keeps the blob's one sha256 for everything else:
 * chunks the main thread writes (a body through HttpClient: TLS, redirects) are offered to it,
 * and bytes written ahead of the hash (other ranges, a killed run's kept bytes) are read back
 * from the file once `advance` says the prefix up to them is on disk.
 *
 * Written by hand because no maintained library offers this: undici and node:http hand
 * every socket read to JavaScript as a fresh 64 KiB buffer (undici copies it once more into its
 * parser), which on this machine capped a loopback download at a third of curl's speed before
 * any hashing; a socket with `onread` reads straight into the tail of a 1 MiB buffer instead.
 * It parses only what a blob GET answers: a status line, headers and a `Content-Length` body;
 * anything else (a 401, a redirect, chunked encoding) is handed back as `fallback`, and the
 * caller goes through HttpClient (auth challenges, redirects, retries). Node's TLS sockets
 * ignore `onread`, so `https:` never comes here. Inline
 * worker source, node builtins only, so an ncc bundle carries it.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
const { createHash } = require('node:crypto');
const BUF = 1024 * 1024;
const MAX_HEAD = 64 * 1024;
const IDLE_FLUSH_MS = 200;
const TELL_EVERY = 4 * 1024 * 1024;
// Receive buffers: page-aligned (a WebAssembly.Memory is whole mapped pages) for O_DIRECT.
const pool = [];
function takeBuffer() {
  if (pool.length) return pool.pop();
  const mem = new WebAssembly.Memory({ initial: (BUF / 65536) * 4, maximum: (BUF / 65536) * 4 });
  for (let i = 1; i < 4; i++) pool.push(Buffer.from(mem.buffer, i * BUF, BUF));
  return Buffer.from(mem.buffer, 0, BUF);
}
// For read-back only (most downloads never need it): made on first use.
let readBuf;
let job;
function close() {
  if (!job) return;
  for (const s of job.sockets.values()) s.destroy();
  try { fs.closeSync(job.fd); } catch {}
  if (job.dfd >= 0) try { fs.closeSync(job.dfd); } catch {}
  job = undefined;
}
function fail(e) {
  const j = job;
  if (!j || j.failed) return;
  j.failed = true;
  parentPort.postMessage({ error: String((e && e.message) || e) });
}
// Hashes what continues the hash from memory; bytes behind it are already in, bytes ahead wait for a read back.
function hashFrom(buf, offset) {
  const j = job;
  if (j.failed || offset > j.hashed || offset + buf.length <= j.hashed) return;
  j.hash.update(offset === j.hashed ? buf : buf.subarray(j.hashed - offset));
  j.hashed = offset + buf.length;
  done();
}
function done() {
  const j = job;
  if (j.failed || j.told || j.hashed !== j.size) return;
  j.told = true;
  parentPort.postMessage({ digest: j.hash.digest('hex') });
}
function readBack(to) {
  const j = job;
  if (j.hashed < to) readBuf ??= Buffer.allocUnsafe(BUF);
  while (!j.failed && j.hashed < to) {
    const n = fs.readSync(j.fd, readBuf, 0, Math.min(readBuf.length, to - j.hashed), j.hashed);
    if (n <= 0) throw new Error('the file ended at byte ' + j.hashed + ', before the written ' + to);
    j.hash.update(n === readBuf.length ? readBuf : readBuf.subarray(0, n));
    j.hashed += n;
  }
  done();
}
function writeAt(buf, pos) {
  const j = job;
  if (j.dfd >= 0 && pos % 4096 === 0 && buf.length % 4096 === 0 && buf.byteOffset % 4096 === 0) {
    try {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(j.dfd, buf, off, buf.length - off, pos + off);
      return;
    } catch (e) {
      if (!e || e.code !== 'EINVAL') throw e;
      // A filesystem that took O_DIRECT at open but refuses the write: buffered from now on.
      try { fs.closeSync(j.dfd); } catch {}
      j.dfd = -1;
    }
  }
  let off = 0;
  while (off < buf.length) off += fs.writeSync(j.fd, buf, off, buf.length - off, pos + off);
}
function parseHead(text) {
  const lines = text.split('\\r\\n');
  const m = /^HTTP\\/1\\.[01] (\\d{3})/.exec(lines[0] || '');
  if (!m) return undefined;
  const headers = new Map();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return undefined;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    // A repeated Content-Length with different values is a smuggling shape: not ours to guess.
    if (headers.has(k) && k === 'content-length' && headers.get(k) !== v) return undefined;
    headers.set(k, headers.has(k) ? headers.get(k) + ', ' + v : v);
  }
  return { status: Number(m[1]), headers };
}
// One GET of [at, end) into the file. Tells {id, at} after every write; ends with done,
// fallback (any answer but the expected one, for HttpClient) or error (with the bytes kept).
function get(m) {
  const j = job;
  const want = m.end - m.at;
  const head = Buffer.allocUnsafe(MAX_HEAD);
  let headLen = 0;
  let parsed;
  let received = 0;
  let cur = takeBuffer();
  let filled = 0;
  /** Bytes of cur already written (by an idle flush). */
  let sent = 0;
  /** File offset of cur[0]. */
  let base = m.at;
  let settled = false;
  let timer;
  let idle;
  let told = m.at;
  let toldAt = Date.now();
  const flush = () => {
    if (job !== j) return;
    if (filled > sent) {
      const piece = cur.subarray(sent, filled);
      writeAt(piece, base + sent);
      hashFrom(piece, base + sent);
      sent = filled;
      // Told every few MiB (a message per buffer cost a tenth of the pull's CPU), and at the end.
      const at = base + filled;
      const now = Date.now();
      if (at - told >= TELL_EVERY || now - toldAt >= 100) {
        parentPort.postMessage({ id: m.id, at, hashed: j.hashed });
        told = at;
        toldAt = now;
      }
    }
  };
  const finish = (msg, keep) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    clearTimeout(idle);
    j.sockets.delete(m.id);
    sock.destroy();
    pool.push(cur);
    // Stopped (the download is over): nobody listens for this request any more.
    if (job !== j) return;
    try {
      if (keep && parsed) flush();
    } catch (e) {
      msg = { error: String(e && e.message || e) };
    }
    parentPort.postMessage({ id: m.id, at: base + sent, hashed: j.hashed, ...msg });
  };
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => finish({ error: 'stalled', stalled: true }, true), m.idleMs);
    clearTimeout(idle);
    // A quiet connection still gets what it sent onto disk (and into the caller's record) soon.
    if (parsed && filled > sent) idle = setTimeout(() => { try { flush(); } catch (e) { finish({ error: String(e.message) }, false); } }, IDLE_FLUSH_MS);
  };
  const full = () => {
    flush();
    base += cur.length;
    filled = 0;
    sent = 0;
  };
  const body = (n) => {
    if (received + n > want) return finish({ error: 'more bytes than the Content-Length of ' + want }, false);
    received += n;
    filled += n;
    // Only a full buffer is written as it fills: its length and offset stay block-aligned.
    if (filled === cur.length) full();
    if (received === want) {
      flush();
      finish({ done: true }, false);
    }
  };
  const onHead = (n) => {
    headLen += n;
    const end = head.subarray(0, headLen).indexOf('\\r\\n\\r\\n');
    if (end < 0) {
      if (headLen >= MAX_HEAD) finish({ error: 'response headers too large' }, false);
      return;
    }
    parsed = parseHead(head.subarray(0, end).toString('latin1'));
    if (!parsed) return finish({ error: 'malformed HTTP response' }, false);
    const h = parsed.headers;
    const cl = h.get('content-length');
    const ok = m.whole
      ? parsed.status === 200 && cl === String(want)
      : parsed.status === 206 && cl === String(want) && (h.get('content-range') || '').startsWith('bytes ' + m.at + '-');
    if (!ok || h.has('transfer-encoding')) {
      const status = parsed.status;
      parsed = undefined;
      return finish({ fallback: status }, false);
    }
    const rest = head.subarray(end + 4, headLen);
    if (rest.length > want) return finish({ error: 'more bytes than the Content-Length of ' + want }, false);
    if (want === 0) return finish({ done: true }, false);
    rest.copy(cur, 0);
    body(rest.length);
  };
  const sock = net.connect({
    host: m.host,
    port: m.port,
    onread: {
      buffer: () => (parsed ? cur.subarray(filled) : head.subarray(headLen)),
      callback: (n) => {
        if (settled) return false;
        try {
          arm();
          if (!parsed) onHead(n);
          else body(n);
        } catch (e) {
          finish({ error: String(e && e.message || e) }, false);
        }
        return !settled;
      },
    },
  });
  j.sockets.set(m.id, sock);
  sock.setNoDelay(true);
  arm();
  sock.once('connect', () => {
    const lines = ['GET ' + m.target + ' HTTP/1.1', 'host: ' + m.hostHeader, 'connection: close'];
    for (const [k, v] of Object.entries(m.headers)) lines.push(k + ': ' + v);
    sock.write(lines.join('\\r\\n') + '\\r\\n\\r\\n');
  });
  sock.once('error', (e) => finish({ error: e.message, code: e.code }, true));
  sock.once('close', () => finish({ error: parsed ? 'the response ended at byte ' + received + ' of ' + want : 'connection closed' }, true));
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'start') {
      close();
      job = { fd: fs.openSync(m.path, 'r+'), dfd: -1, hash: createHash('sha256'), hashed: 0, size: m.size, failed: false, told: false, sockets: new Map() };
      if (m.direct) {
        try { job.dfd = fs.openSync(m.path, fs.constants.O_WRONLY | m.direct); } catch { job.dfd = -1; }
      }
      done();
    } else if (!job) {
      if (m.op === 'get') parentPort.postMessage({ id: m.id, at: m.at, error: 'no download' });
    } else if (m.op === 'chunk') {
      hashFrom(m.buf, m.offset);
      if (m.seq !== undefined) parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'read') {
      readBack(m.to);
    } else if (m.op === 'get') {
      get(m);
    } else if (m.op === 'abort') {
      const s = job.sockets.get(m.id);
      if (s) s.destroy(new Error('aborted'));
    } else if (m.op === 'stop') {
      close();
      parentPort.postMessage({ stopped: true });
    }
  } catch (e) {
    if (m.op === 'get') parentPort.postMessage({ id: m.id, at: m.at, error: String((e && e.message) || e) });
    else fail(e);
  }
});
`;

interface WorkerMessage {
  id?: number;
  hashed?: number;
  seq?: number;
  at?: number;
  done?: boolean;
  fallback?: number;
  error?: string;
  stalled?: boolean;
  code?: string;
  digest?: string;
  stopped?: boolean;
}

/**
 * `offer`'s copies go into shared slabs, at most MAX_SLABS (8 MiB) for all downloads of the
 * process, each back in the pool once its worker has hashed it (or its download is over).
 */
const SLAB = 512 * 1024;
const MAX_SLABS = 16;
const freeSlabs: Buffer[] = [];
let slabCount = 0;
function takeSlab(): Buffer | undefined {
  return (
    freeSlabs.pop() ?? (slabCount < MAX_SLABS ? (slabCount++, Buffer.from(new SharedArrayBuffer(SLAB))) : undefined)
  );
}

/** Idle workers, kept for the next download (unref'd: they never keep the process alive). */
const idle: Worker[] = [];

function acquire(): Worker {
  const w = idle.pop() ?? new Worker(WORKER_SOURCE, { eval: true });
  w.ref();
  return w;
}

function release(w: Worker): void {
  w.removeAllListeners('message');
  w.removeAllListeners('error');
  // Its descriptors are closed before it waits for the next download.
  w.postMessage({ op: 'stop' });
  w.unref();
  idle.push(w);
}

export interface ReceiveRequest {
  /** A plain-HTTP URL (http.ts's rawHttpSupported). */
  url: URL;
  headers: Record<string, string>;
  at: number;
  end: number;
  /** The whole blob without Range (expects 200), else `[at, end)` (expects 206). */
  whole: boolean;
  idleMs: number;
}

export type ReceiveResult = { kind: 'done' } | { kind: 'fallback'; status: number };

/** A GET that failed after `at` (the bytes before it are written and kept). */
export class ReceiveError extends Error {
  constructor(
    message: string,
    readonly at: number,
    readonly stalled: boolean,
  ) {
    super(message);
  }
}

/**
 * sha256 of a file written at positions by a download, on the download's worker; the worker
 * also receives plain-HTTP GETs itself (`receive`). Start it after the file exists at its
 * full length (PartialBlobFile.open).
 */
export class BlobReceiver {
  private seq = 0;
  private nextId = 0;
  private readonly acks = new Map<number, () => void>();
  private readonly gets = new Map<
    number,
    { onAt: (at: number) => void; resolve: (r: ReceiveResult) => void; reject: (e: Error) => void }
  >();
  private over = false;
  /** The worker sent the digest. */
  private hashed = false;
  private avail = 0;
  /** Where the worker's hash stood when it last said. */
  private workerHashed = 0;
  private readonly worker: Worker;
  private settle!: { resolve: (d: FileDigest) => void; reject: (e: unknown) => void };
  readonly result: Promise<FileDigest>;

  constructor(
    path: string,
    private readonly size: number,
  ) {
    this.result = new Promise<FileDigest>((res, rej) => (this.settle = { resolve: res, reject: rej }));
    // An abandoned hash rejects; nobody may be waiting for it then.
    this.result.catch(() => {});
    this.worker = acquire();
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(path, m));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.postMessage({ op: 'start', path: resolve(path), size, direct: directIoFlag(size) });
  }

  private onMessage(path: string, m: WorkerMessage): void {
    this.dispatch(path, m);
    if (this.hashed && !this.over && this.gets.size === 0) {
      this.end();
      release(this.worker);
    }
  }

  private dispatch(path: string, m: WorkerMessage): void {
    if (m.seq !== undefined) {
      this.acks.get(m.seq)?.();
      this.acks.delete(m.seq);
    } else if (m.id !== undefined) {
      if (m.hashed !== undefined && m.hashed > this.workerHashed) this.workerHashed = m.hashed;
      const g = this.gets.get(m.id);
      if (!g) return;
      if (m.at !== undefined) g.onAt(m.at);
      if (m.done) {
        this.gets.delete(m.id);
        g.resolve({ kind: 'done' });
      } else if (m.fallback !== undefined) {
        this.gets.delete(m.id);
        g.resolve({ kind: 'fallback', status: m.fallback });
      } else if (m.error !== undefined) {
        this.gets.delete(m.id);
        g.reject(new ReceiveError(m.code ? `${m.code}: ${m.error}` : m.error, m.at ?? 0, m.stalled === true));
      }
    } else if (m.digest !== undefined) {
      // Every byte is hashed; the GETs that wrote the last of them tell their end next.
      this.hashed = true;
      this.settle.resolve({ digest: `sha256:${m.digest}`, size: this.size });
    } else if (m.error !== undefined) this.fail(new Error(`hashing ${path}: ${m.error}`));
  }

  /**
   * GETs `[req.at, req.end)` on the worker, which writes and hashes it; `onAt` hears the end
   * of the bytes written so far after every write (and once more at the end). Rejects with a
   * ReceiveError (bytes up to its `at` are kept) when the connection fails or stalls, or when
   * `signal` aborts.
   */
  receive(req: ReceiveRequest, onAt: (at: number) => void, signal: AbortSignal): Promise<ReceiveResult> {
    if (this.over) return Promise.reject(new ReceiveError('the download is over', req.at, false));
    const id = this.nextId++;
    return new Promise<ReceiveResult>((res, rej) => {
      const onAbort = (): void => this.worker.postMessage({ op: 'abort', id });
      signal.addEventListener('abort', onAbort, { once: true });
      const clean = (): void => signal.removeEventListener('abort', onAbort);
      this.gets.set(id, {
        onAt,
        resolve: (r) => {
          clean();
          res(r);
        },
        reject: (e) => {
          clean();
          rej(e);
        },
      });
      this.worker.postMessage({
        op: 'get',
        id,
        ...rawTarget(req.url),
        headers: req.headers,
        at: req.at,
        end: req.end,
        whole: req.whole,
        idleMs: req.idleMs,
      });
    });
  }

  /**
   * `chunks` go back to back at `position` (offered before or while they are written on this
   * thread); the worker hashes what continues its hash. The promise settles when their memory
   * is free again (shared memory is read in place; anything else is copied).
   */
  offer(chunks: readonly Buffer[], position: number): Promise<void> | undefined {
    if (this.over) return undefined;
    const waits: Promise<void>[] = [];
    let at = position;
    // Other chunks are copied into shared slabs (takeSlab), each back in the pool when the
    // worker has hashed it. A copy per chunk, transferred, was freed only when the worker's
    // heap next collected, and a 4 GiB pull through undici peaked at 400 MB. With every slab
    // out, the rest is not offered: advance() has the worker read it back from the file.
    let slab: Buffer | undefined;
    let filled = 0;
    let from = 0;
    const post = (): void => {
      const s = slab!;
      const view = new Uint8Array(s.buffer, s.byteOffset, filled);
      const seq = this.seq++;
      this.acks.set(seq, () => freeSlabs.push(s));
      this.worker.postMessage({ op: 'chunk', buf: view, offset: from, seq });
      slab = undefined;
    };
    for (const c of chunks) {
      const offset = at;
      at += c.length;
      if (c.buffer instanceof SharedArrayBuffer) {
        if (slab) post();
        const seq = this.seq++;
        waits.push(new Promise<void>((res) => this.acks.set(seq, res)));
        // A plain view: a Buffer (a Uint8Array subclass) costs five times as much to post.
        this.worker.postMessage({ op: 'chunk', buf: new Uint8Array(c.buffer, c.byteOffset, c.length), offset, seq });
        continue;
      }
      for (let i = 0; i < c.length;) {
        if (!slab) {
          slab = takeSlab();
          if (!slab) return waits.length ? Promise.all(waits).then(() => {}) : undefined;
          filled = 0;
          from = offset + i;
        }
        const n = c.copy(slab, filled, i);
        filled += n;
        i += n;
        if (filled === slab.length) post();
      }
    }
    if (slab && filled > 0) post();
    return waits.length ? Promise.all(waits).then(() => {}) : undefined;
  }

  /** The first `bytes` bytes of the file are written (never decreases): the hash reads back what it lacks of them. */
  advance(bytes: number): void {
    if (this.over || bytes <= this.avail) return;
    this.avail = Math.min(bytes, this.size);
    // Bytes the worker wrote in order it has hashed already (most of a pull): nothing to read.
    if (this.avail > this.workerHashed) this.worker.postMessage({ op: 'read', to: this.avail });
  }

  /** The download gave up: the hash ends with an error. */
  abandon(): void {
    this.fail(new Error('hash abandoned'));
  }

  private end(): void {
    this.over = true;
    for (const ack of this.acks.values()) ack();
    this.acks.clear();
    for (const g of this.gets.values()) g.reject(new ReceiveError('the download is over', 0, false));
    this.gets.clear();
  }

  private fail(e: unknown): void {
    if (this.over) return;
    this.end();
    // Its state is unknown (a read in progress, sockets open): not reused.
    void this.worker.terminate();
    this.settle.reject(e);
  }
}
