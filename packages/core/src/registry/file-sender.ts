import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { rawTarget } from './http.js';

/**
 * Chunked upload of a local file from a worker thread: the worker reads the file, hashes each
 * buffer while it is still in its core's cache, and writes it to a plain-HTTP socket it owns,
 * reusing a few buffers (each goes back to the free list when its socket write is done). On
 * this project's two cores a `pack --push` was bound by its main thread (the file's reads
 * through a stream, sha256 of data another core had read, and major collections that 4 GiB of
 * short-lived 1 MiB buffers set off): docs/performance.md, "Transfers on the worker". The main thread keeps
 * everything else (sessions, records, retries, errors): upload.ts.
 *
 * Written by hand for the reason blob-receiver.ts gives: the request is one PATCH with a
 * Content-Length body and the answer is a status line, headers and a small body. TLS, and
 * Locations on another origin, stay on HttpClient (registry-store.ts decides).
 *
 * Inline worker source, node builtins only, so an ncc bundle carries it.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const net = require('node:net');
const { createHash } = require('node:crypto');
const BUF = workerData.bufferSize;
const MAX_HEAD = 64 * 1024;
const MAX_BODY = 64 * 1024;
// A file's buffers go back here when it is done, for the next file this worker gets.
const sets = [];
function bufferSet() {
  if (sets.length) return sets.pop();
  return Array.from({ length: workerData.buffers }, () => Buffer.allocUnsafeSlow(BUF));
}
// One file being uploaded (several share a worker: one worker per core, not per file).
function openJob(jobId, path, size) {
const post = (o) => parentPort.postMessage({ job: jobId, ...o });
const free = bufferSet();
// Buffered reads: with O_DIRECT the bytes came in by DMA and were hashed from memory, not
// cache, and each read waited on the device (the worker's other file waited with it); by
// hand a 4 GiB push took 13.0-13.6 s buffered against 13.9-14.1 s direct (docs/performance.md).
const fd = fs.openSync(path, 'r');
const hash = createHash('sha256');
/** Bytes of the file hashed so far, in order from 0. */
let hashed = 0;
let reported = 0;
let lastReport = 0;
let waiter;
const fileError = (message) => Object.assign(new Error(message), { kind: 'file' });
function progress(force) {
  const now = Date.now();
  if (hashed > reported && (force || now - lastReport >= 100)) {
    post({ progress: hashed });
    reported = hashed;
    lastReport = now;
  }
}
// Reads [pos, pos + n) into buf (short only at the end of the file); hashes the part at or past the hash's place.
function readAt(buf, pos, n) {
  let got = 0;
  while (got < n) {
    const r = fs.readSync(fd, buf, got, n - got, pos + got);
    if (r === 0) break;
    got += r;
  }
  if (got < n) throw fileError('ended at ' + (pos + got) + ' bytes');
  const view = buf.subarray(0, n);
  if (pos + n > hashed) {
    if (pos > hashed) throw fileError('read at ' + pos + ' past the hash at ' + hashed);
    hash.update(pos === hashed ? view : view.subarray(hashed - pos));
    hashed = pos + n;
  }
  return view;
}
function hashTo(to) {
  const buf = free[0];
  while (hashed < to) readAt(buf, hashed, Math.min(BUF, to - hashed));
  progress(true);
}
function prefix() {
  return 'sha256:' + hash.copy().digest('hex');
}
function parseHead(text) {
  const lines = text.split('\\r\\n');
  const m = /^HTTP\\/1\\.[01] (\\d{3})/.exec(lines[0] || '');
  if (!m) return undefined;
  const headers = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return undefined;
    headers.push([l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()]);
  }
  return { status: Number(m[1]), headers };
}
function patch(m) {
  return new Promise((resolvePatch, rejectPatch) => {
    let settled = false;
    /** Buffers the socket holds (given back by their write callbacks). */
    const lent = new Set();
    let head = Buffer.alloc(0);
    let parsed;
    let bodyLen = -1;
    let body = [];
    let bodyBytes = 0;
    let sent = 0;
    const sock = net.connect({ host: m.host, port: m.port });
    sock.setNoDelay(true);
    sock.setTimeout(m.timeoutMs);
    // The answer (or the failure) is told only once every buffer handed to the socket is back.
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      let guard;
      const tell = () => {
        clearTimeout(guard);
        waiter = undefined;
        err ? rejectPatch(err) : resolvePatch(result);
      };
      if (lent.size === 0) return tell();
      waiter = () => { if (lent.size === 0) tell(); };
      // A destroyed socket calls back every write; should one never come, its buffer is
      // replaced, not reused (libuv may still read it).
      guard = setTimeout(() => {
        for (const b of lent) free.push(Buffer.allocUnsafeSlow(BUF));
        lent.clear();
        tell();
      }, 5000);
    };
    const answered = () =>
      done(undefined, {
        status: parsed.status,
        headers: parsed.headers,
        body: Buffer.concat(body),
        sent,
        hashed,
        prefix: hashed === m.offset + m.len ? prefix() : undefined,
      });
    sock.on('data', (d) => {
      if (settled) return;
      if (!parsed) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\\r\\n\\r\\n');
        if (end < 0) {
          if (head.length > MAX_HEAD) done(Object.assign(new Error('response headers too large'), { kind: 'net' }));
          return;
        }
        parsed = parseHead(head.subarray(0, end).toString('latin1'));
        if (!parsed) return done(Object.assign(new Error('malformed HTTP response'), { kind: 'net' }));
        const cl = parsed.headers.find(([k]) => k === 'content-length');
        bodyLen = cl && /^\\d{1,15}$/.test(cl[1]) ? Number(cl[1]) : -1;
        d = head.subarray(end + 4);
      }
      if (bodyBytes < MAX_BODY) body.push(d.subarray(0, MAX_BODY - bodyBytes));
      bodyBytes += d.length;
      // An answer's body only explains an error: past MAX_BODY the rest is not waited for
      // (a registry that kept sending would otherwise hold the upload for good).
      if ((bodyLen >= 0 && bodyBytes >= bodyLen) || bodyBytes >= MAX_BODY) answered();
    });
    sock.on('end', () => {
      if (parsed) answered();
      else done(Object.assign(new Error('the registry closed the connection after ' + sent + ' of ' + m.len + ' bytes'), { kind: 'net', code: 'ECONNRESET' }));
    });
    sock.on('timeout', () => done(Object.assign(new Error('no answer for ' + m.timeoutMs / 1000 + ' s'), { kind: 'net', code: 'UND_ERR_BODY_TIMEOUT' })));
    sock.on('error', (e) => done(Object.assign(new Error(e.message), { kind: 'net', code: e.code })));
    sock.on('close', () => done(Object.assign(new Error('the connection closed after ' + sent + ' of ' + m.len + ' bytes'), { kind: 'net', code: 'ECONNRESET' })));
    sock.once('connect', () => {
      const lines = [m.method + ' ' + m.target + ' HTTP/1.1', 'host: ' + m.hostHeader, 'connection: close', 'content-length: ' + m.len];
      for (const [k, v] of Object.entries(m.headers)) lines.push(k + ': ' + v);
      sock.write(lines.join('\\r\\n') + '\\r\\n\\r\\n');
      pump();
    });
    // Fills free buffers from the file and hands them to the socket; a buffer comes back to
    // the free list when libuv is done with it (the write callback), never earlier.
    const pump = () => {
      try {
        while (!settled && sent < m.len && free.length) {
          const buf = free.pop();
          const n = Math.min(BUF, m.len - sent);
          const view = readAt(buf, m.offset + sent, n);
          sent += n;
          lent.add(buf);
          sock.write(view, () => {
            if (lent.delete(buf)) free.push(buf);
            if (waiter) waiter();
            // Through the event loop, not straight on: a write the kernel took at once calls
            // back on the next tick, and pumping from there would read an early answer (a
            // 401, a 413) only after the whole body had gone.
            else if (!settled) setImmediate(pump);
          });
          progress(false);
        }
      } catch (e) {
        done(e);
      }
    };
  });
}
let queue = Promise.resolve();
function run(m) {
  queue = queue.then(async () => {
    try {
      if (m.op === 'hash') {
        hashTo(m.to);
        post({ id: m.id, hashed, prefix: prefix() });
      } else if (m.op === 'patch') {
        const r = await patch(m);
        progress(true);
        post({ id: m.id, ...r });
      } else if (m.op === 'end') {
        hashTo(size);
        // The file must end where its size said.
        const more = fs.readSync(fd, free[0], 0, 1, size);
        if (more > 0) throw fileError('grew past its size');
        post({ id: m.id, hashed, digest: 'sha256:' + hash.digest('hex') });
      }
    } catch (e) {
      post({ id: m.id, error: { message: String((e && e.message) || e), kind: (e && e.kind) || 'file', code: e && e.code } });
    }
  });
}
function close() {
  // After what is queued: a patch in flight gives its buffers back before the set is reused.
  queue = queue.then(() => {
    try { fs.closeSync(fd); } catch {}
    if (free.length === workerData.buffers) sets.push(free);
  });
}
return { run, close };
}
const jobs = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'open') {
    try {
      jobs.set(m.job, openJob(m.job, m.path, m.size));
    } catch (e) {
      parentPort.postMessage({ job: m.job, failed: { message: String((e && e.message) || e), kind: 'file', code: e && e.code } });
    }
  } else if (m.op === 'close') {
    jobs.get(m.job)?.close();
    jobs.delete(m.job);
  } else {
    const j = jobs.get(m.job);
    if (j) j.run(m);
    else parentPort.postMessage({ job: m.job, id: m.id, error: { message: 'the file is not open', kind: 'file' } });
  }
});
`;

/** Buffers per sender: one fills while the others are in the socket. */
const BUFFERS = 4;
const BUFFER_SIZE = 1024 * 1024;
export interface SenderResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
  /** Bytes of the body handed to the socket. */
  sent: number;
  /** sha256 of the file's first `offset + len` bytes, when the hash stands exactly there. */
  prefix?: string;
}

export interface PatchRequest {
  url: URL;
  method: 'PATCH';
  /** Request headers (credentials included); content-length is added. */
  headers: Record<string, string>;
  offset: number;
  len: number;
  timeoutMs: number;
}

/** A failure of the sender: `file` (the file changed or cannot be read) or `net` (the connection). */
export class SenderError extends Error {
  constructor(
    message: string,
    readonly kind: 'file' | 'net',
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Reply {
  job: number;
  id?: number;
  progress?: number;
  hashed?: number;
  prefix?: string;
  digest?: string;
  status?: number;
  headers?: [string, string][];
  body?: Uint8Array;
  sent?: number;
  error?: { message: string; kind: 'file' | 'net'; code?: string };
  /** The file could not be opened: every call of the job fails. */
  failed?: { message: string; kind: 'file' | 'net'; code?: string };
}

/**
 * The upload workers, one per core at most: a worker serves every file given to it (its own
 * sockets, one file's reads and hashing at a time), so four parallel uploads on two cores cost
 * two threads, not four (each holds a V8 isolate: about 9 MB). Idle workers are unref'd.
 */
interface PooledWorker {
  worker: Worker;
  jobs: Map<number, (m: Reply) => void>;
}
const pool: PooledWorker[] = [];
let nextJob = 0;

function poolSize(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

function spawnWorker(): PooledWorker {
  const w: PooledWorker = {
    worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { bufferSize: BUFFER_SIZE, buffers: BUFFERS } }),
    jobs: new Map(),
  };
  w.worker.on('message', (m: Reply) => w.jobs.get(m.job)?.(m));
  const gone = (e: Error): void => {
    const at = pool.indexOf(w);
    if (at >= 0) pool.splice(at, 1);
    const failed = { message: e.message, kind: 'file' as const };
    for (const [job, tell] of w.jobs) tell({ job, failed });
    w.jobs.clear();
  };
  w.worker.on('error', gone);
  w.worker.on('exit', () => gone(new Error('the upload worker exited')));
  w.worker.unref();
  pool.push(w);
  return w;
}

/** The worker with the fewest files, a new one while there are fewer than poolSize(). */
function assign(): PooledWorker {
  const idle = pool.find((w) => w.jobs.size === 0);
  if (idle) return idle;
  if (pool.length < poolSize()) return spawnWorker();
  return pool.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
}

/**
 * One file on a pooled worker: `hashTo` hashes a prefix without sending it (a resumed
 * upload's bytes the registry holds), `patch` sends `[offset, offset + len)` (bytes before the
 * hash's place are sent again without being hashed twice), `end` checks the file ends at its
 * size and gives the digest. Calls are answered in order; `close` frees the file's place.
 */
export class FileSender {
  private readonly w: PooledWorker;
  private readonly job = nextJob++;
  private next = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;
  private closed = false;
  /** Bytes hashed (in order from the start). */
  hashed = 0;

  constructor(path: string, size: number, onProgress?: (hashed: number) => void) {
    this.w = assign();
    if (this.w.jobs.size === 0) this.w.worker.ref();
    this.w.jobs.set(this.job, (m) => {
      if (m.failed) return this.fail(new SenderError(m.failed.message, m.failed.kind, m.failed.code));
      if (m.progress !== undefined) {
        this.hashed = Math.max(this.hashed, m.progress);
        onProgress?.(this.hashed);
        return;
      }
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id!);
      if (m.hashed !== undefined) this.hashed = Math.max(this.hashed, m.hashed);
      if (m.error) p.reject(new SenderError(m.error.message, m.error.kind, m.error.code));
      else p.resolve(m);
    });
    this.w.worker.postMessage({ op: 'open', job: this.job, path: resolve(path), size });
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  private call(msg: Record<string, unknown>): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closed) return Promise.reject(new SenderError('the file is closed', 'file'));
    const id = this.next++;
    return new Promise<Reply>((res, rej) => {
      this.pending.set(id, { resolve: res, reject: rej });
      this.w.worker.postMessage({ ...msg, job: this.job, id });
    });
  }

  /** Hashes the file up to `to` (from where the hash stands); the digest of that prefix. */
  async hashTo(to: number): Promise<string> {
    return (await this.call({ op: 'hash', to })).prefix!;
  }

  async patch(req: PatchRequest): Promise<SenderResponse> {
    const r = await this.call({
      op: 'patch',
      method: req.method,
      ...rawTarget(req.url),
      headers: req.headers,
      offset: req.offset,
      len: req.len,
      timeoutMs: req.timeoutMs,
    });
    return {
      status: r.status!,
      headers: r.headers ?? [],
      body: Buffer.from(r.body ?? new Uint8Array(0)),
      sent: r.sent ?? 0,
      ...(r.prefix ? { prefix: r.prefix } : {}),
    };
  }

  /** Hashes the rest, checks that the file ends at its size; the file's digest. */
  async end(): Promise<string> {
    return (await this.call({ op: 'end' })).digest!;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fail(new SenderError('the file is closed', 'file'));
    this.w.jobs.delete(this.job);
    this.w.worker.postMessage({ op: 'close', job: this.job });
    if (this.w.jobs.size === 0) this.w.worker.unref();
  }
}
