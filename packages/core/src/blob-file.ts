import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from './atomic-file.js';
import type { Timings } from './timings.js';
import type { Descriptor } from './oci.js';

/** `[start, end)` byte offsets. */
export interface ByteRange {
  start: number;
  end: number;
}

/** The sidecar record of a partial blob file: which ranges are written (docs/performance.md). */
interface PartialRecord {
  version: 1;
  digest: string;
  size: number;
  done: [number, number][];
}

/** Sorted, merged, inside `[0, size)`; anything malformed dropped. */
export function normalizeRanges(ranges: readonly ByteRange[], size: number): ByteRange[] {
  const sorted = ranges
    .filter((r) => Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start >= 0 && r.end > r.start)
    .map((r) => ({ start: r.start, end: Math.min(r.end, size) }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** What of `[0, size)` the ranges do not cover, in order. */
export function missingRanges(done: readonly ByteRange[], size: number): ByteRange[] {
  const out: ByteRange[] = [];
  let at = 0;
  for (const r of normalizeRanges(done, size)) {
    if (r.start > at) out.push({ start: at, end: r.start });
    at = Math.max(at, r.end);
  }
  if (at < size) out.push({ start: at, end: size });
  return out;
}

/**
 * A blob file being written at positions (download.ts), with a sidecar record
 * (`<path>.json`) of the ranges already written, so a re-run after a killed process keeps
 * them. The record is only a hint: a record for another digest or size, or a file of the
 * wrong length, is ignored, and whatever it says is kept is hashed again with the rest before
 * the file is used. It is written atomically (temp file and rename).
 */
export class PartialBlobFile {
  private saving: Promise<void> = Promise.resolve();
  private lastSave = 0;
  private pending: readonly ByteRange[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly path: string,
    readonly recordPath: string,
    readonly desc: Descriptor,
    private fh: fsp.FileHandle | undefined,
    /** Ranges a previous run wrote, kept. */
    readonly kept: ByteRange[],
  ) {}

  static async open(path: string, desc: Descriptor, recordPath = `${path}.json`): Promise<PartialBlobFile> {
    let kept: ByteRange[] = [];
    let fh: fsp.FileHandle | undefined;
    try {
      const rec = JSON.parse(await fsp.readFile(recordPath, 'utf8')) as Partial<PartialRecord> | null;
      if (rec?.version === 1 && rec.digest === desc.digest && rec.size === desc.size && Array.isArray(rec.done)) {
        const st = await fsp.lstat(path);
        if (st.isFile() && st.size === desc.size) {
          kept = normalizeRanges(
            rec.done.filter((r) => Array.isArray(r)).map((r) => ({ start: Number(r[0]), end: Number(r[1]) })),
            desc.size,
          );
          fh = await fsp.open(path, 'r+');
        }
      }
    } catch {
      // No record, an unreadable one, or no file to go with it: start afresh (a real
      // filesystem problem shows again when the file is created below).
      await fh?.close().catch(() => {});
      fh = undefined;
    }
    if (!fh) {
      await fsp.rm(recordPath, { force: true });
      fh = await fsp.open(path, 'w');
      kept = [];
    }
    // Full length up front (sparse): ranges land anywhere, and a length check tells a record
    // from an earlier run whether the file is the one it describes.
    await fh.truncate(desc.size);
    return new PartialBlobFile(path, recordPath, desc, fh, kept);
  }

  /** Bytes the kept ranges cover. */
  get keptBytes(): number {
    return this.kept.reduce((n, r) => n + r.end - r.start, 0);
  }

  /** Set by the download: writes count as disk time. */
  timings: Timings | undefined;
  /**
   * Set by the download (its hash, registry/blob-receiver.ts): shown every write as it starts; the
   * write settles once both the write and the promise this returns are done.
   */
  onChunks: ((chunks: readonly Buffer[], position: number) => Promise<void> | undefined) | undefined;

  /** Writes `chunks` back to back at `position`, all of them. */
  async write(chunks: Buffer[], position: number): Promise<void> {
    const seen = this.onChunks?.(chunks, position);
    const end = this.timings?.begin('disk');
    try {
      await writeAllTo(this.fh!, chunks, position);
    } finally {
      end?.();
      await seen;
    }
  }

  /**
   * Records `done` (every range written so far) in the sidecar, at most every `minIntervalMs`
   * unless `force` (a throttled call is saved by a timer instead, so the record trails the
   * writes by at most that long); saves run one after another.
   */
  save(done: readonly ByteRange[], force = false, minIntervalMs = 500): Promise<void> {
    // Finished or abandoned: the record is gone and stays gone.
    if (!this.fh) return this.saving;
    const now = Date.now();
    if (!force && now - this.lastSave < minIntervalMs) {
      this.pending = done;
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        if (this.pending && this.fh) void this.save(this.pending, true);
      }, minIntervalMs).unref();
      return this.saving;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.lastSave = now;
    const rec: PartialRecord = {
      version: 1,
      digest: this.desc.digest,
      size: this.desc.size,
      done: normalizeRanges(done, this.desc.size).map((r) => [r.start, r.end]),
    };
    this.saving = this.saving.then(() => writeFileAtomic(this.recordPath, JSON.stringify(rec)).catch(() => {}));
    return this.saving;
  }

  async sync(): Promise<void> {
    await this.fh?.sync();
  }

  /** The file is complete and verified: closes it and drops the record. */
  async finish(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.saving;
    await this.close();
    await fsp.rm(this.recordPath, { force: true });
  }

  /** Keeps what is written for a re-run (`done` recorded), or removes the file and record. */
  async abandon(keep: readonly ByteRange[] | undefined): Promise<void> {
    if (keep) await this.save(keep, true);
    await this.saving;
    await this.close();
    if (!keep) {
      await fsp.rm(this.recordPath, { force: true });
      await fsp.rm(this.path, { force: true });
    }
  }

  private async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => {});
  }
}

async function writeAllTo(fh: fsp.FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let bufs = chunks;
  let pos = position;
  while (bufs.length) {
    const { bytesWritten } = await fh.writev(bufs, pos);
    pos += bytesWritten;
    let left = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of bufs) {
      if (left >= b.length) left -= b.length;
      else {
        rest.push(left ? b.subarray(left) : b);
        left = 0;
      }
    }
    bufs = rest;
  }
}
