import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FileDigest } from './hash-pool.js';

/**
 * The worker of a TrailingHash: one sha256 at a time, fed in order with in-memory chunks
 * (`chunk`: a view of shared memory, acknowledged so its buffer can be reused, or a
 * transferred copy) and with ranges to read back from the file (`read`). Inline, node
 * builtins only, so an ncc bundle carries it.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
let hash;
let fd = -1;
let failed = false;
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
function close() {
  if (fd >= 0) fs.closeSync(fd);
  fd = -1;
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'start') {
      hash = createHash('sha256');
      failed = false;
      fd = fs.openSync(m.path, 'r');
    } else if (m.op === 'chunk') {
      if (!failed) hash.update(m.buf);
      if (m.seq !== undefined) parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'read') {
      if (failed) return;
      for (let p = m.from; p < m.to; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, m.to - p), p);
        if (n <= 0) throw new Error('the file ended at byte ' + p + ', before the written ' + m.to);
        hash.update(n === buf.length ? buf : buf.subarray(0, n));
        p += n;
      }
    } else if (m.op === 'end') {
      close();
      if (!failed) parentPort.postMessage({ digest: hash.digest('hex') });
      hash = undefined;
    }
  } catch (e) {
    close();
    failed = true;
    parentPort.postMessage({ error: String(e && e.message || e) });
  }
});
`;

interface WorkerMessage {
  seq?: number;
  digest?: string;
  error?: string;
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
  w.unref();
  idle.push(w);
}

/**
 * sha256 of a file written at positions by a download (registry/download.ts), trailing the
 * writes on a worker thread. Chunks offered exactly where the hash stands are hashed from
 * memory, so a blob that arrives in order is never read back: on this project's two cores the
 * CPU a page-cache re-read costs is what a loopback pull runs short of (docs/performance.md,
 * "Pull"). Bytes written ahead of it (other ranges, bytes an earlier run kept) are read back
 * from the file once `advance` says the prefix up to them is on disk.
 *
 * Chunks in a SharedArrayBuffer (raw-get.ts's receive buffers) are hashed in place: the
 * promise `offer` returns settles once the worker is done with them. Others are copied.
 */
export class TrailingHash {
  /** Bytes handed to the worker, in order. */
  private pos = 0;
  /** Leading bytes known to be on disk. */
  private avail = 0;
  private seq = 0;
  private readonly acks = new Map<number, () => void>();
  private over = false;
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
    this.worker.on('message', (m: WorkerMessage) => {
      if (m.seq !== undefined) {
        this.acks.get(m.seq)?.();
        this.acks.delete(m.seq);
      } else if (m.digest !== undefined) {
        this.end();
        release(this.worker);
        this.settle.resolve({ digest: `sha256:${m.digest}`, size: this.size });
      } else if (m.error !== undefined) this.fail(new Error(`hashing ${path}: ${m.error}`));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.postMessage({ op: 'start', path: resolve(path) });
    if (size === 0) this.worker.postMessage({ op: 'end' });
  }

  /**
   * `chunks` go back to back at `position` (offered before or while they are written). Hashed
   * from memory if they continue the hash; the promise settles when their memory is free again.
   */
  offer(chunks: readonly Buffer[], position: number): Promise<void> | undefined {
    if (this.over || position > this.pos) return undefined;
    const waits: Promise<void>[] = [];
    let at = position;
    for (const c of chunks) {
      const from = Math.max(0, this.pos - at);
      at += c.length;
      if (from >= c.length) continue;
      const piece = from ? c.subarray(from) : c;
      if (piece.buffer instanceof SharedArrayBuffer) {
        const seq = this.seq++;
        waits.push(new Promise<void>((res) => this.acks.set(seq, res)));
        // A plain view: a Buffer (a Uint8Array subclass) costs five times as much to post.
        this.worker.postMessage({
          op: 'chunk',
          buf: new Uint8Array(piece.buffer, piece.byteOffset, piece.length),
          seq,
        });
      } else {
        const copy = new Uint8Array(piece);
        this.worker.postMessage({ op: 'chunk', buf: copy }, [copy.buffer]);
      }
      this.pos += piece.length;
    }
    if (this.pos === this.size) this.worker.postMessage({ op: 'end' });
    return waits.length ? Promise.all(waits).then(() => {}) : undefined;
  }

  /** The first `bytes` bytes of the file are written (never decreases). */
  advance(bytes: number): void {
    if (bytes > this.avail) this.avail = Math.min(bytes, this.size);
    if (this.over || this.pos >= this.avail) return;
    this.worker.postMessage({ op: 'read', from: this.pos, to: this.avail });
    this.pos = this.avail;
    if (this.pos === this.size) this.worker.postMessage({ op: 'end' });
  }

  /** The writer gave up: the hash ends with an error. */
  abandon(): void {
    this.fail(new Error('hash abandoned'));
  }

  private end(): void {
    this.over = true;
    for (const ack of this.acks.values()) ack();
    this.acks.clear();
  }

  private fail(e: unknown): void {
    if (this.over) return;
    this.end();
    // Its state is unknown (a read in progress, chunks queued): not reused.
    void this.worker.terminate();
    this.settle.reject(e);
  }
}
