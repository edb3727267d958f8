/**
 * A one-pass zip walker (PKWARE APPNOTE 6.3: local headers, central directory, zip64 end
 * records). Loaders (PyTorch's miniz, Python's zipfile for NumPy) find members through the
 * central directory at the end of the file, while a single read meets the local headers first;
 * so the walker scans members as their local headers announce them and then checks that the
 * central directory names exactly those headers, at those offsets, with those sizes. A central
 * directory that points anywhere else (a member hidden inside another one's data, or past the
 * end-of-archive record) is a `container` finding: what the loader would read is not what was
 * scanned.
 *
 * Hand-written rather than yauzl or a similar library: they seek (central directory first),
 * and a scan that rides pack's one sequential read cannot. Deflated members are inflated with
 * fflate's streaming `Inflate` (synchronous, so it fits the push driver); only members that are
 * scanned are inflated, the rest are skipped by their compressed size.
 */
import { Inflate } from 'fflate';
import { FormatError, readExact, skip, sub, type Parser, type Sink } from './driver.js';
import type { ScanReport } from './report.js';

const LFH = 0x04034b50;
const CDH = 0x02014b50;
const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const MAX32 = 0xffffffff;
const MAX_ENTRIES = 200_000;

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  size: number;
}

export interface ZipOptions {
  report: ScanReport;
  /** A sink for a member's (uncompressed) bytes, or undefined to skip it. */
  open(entry: ZipEntry): Sink | undefined;
  /** Bytes in the zip, when known: trailing data is then found even if the reader skipped it. */
  size?: number;
  /** Called once every member has been walked and the central directory checked. */
  done?(entries: ZipEntry[]): void;
}

interface Local extends ZipEntry {
  offset: number;
  matched: boolean;
}

function container(report: ScanReport, message: string, offset: number): void {
  report.finding({ kind: 'container', severity: 'dangerous', offset, message });
}

/** Reads the zip64 extended-information extra field for the fields that are 0xFFFFFFFF. */
function zip64(extra: Buffer, want: { size?: boolean; csize?: boolean; offset?: boolean }): number[] {
  for (let i = 0; i + 4 <= extra.length;) {
    const id = extra.readUInt16LE(i);
    const len = extra.readUInt16LE(i + 2);
    if (id === 0x0001) {
      const out: number[] = [];
      let p = i + 4;
      for (const k of ['size', 'csize', 'offset'] as const) {
        if (!want[k]) continue;
        if (p + 8 > i + 4 + len) throw new FormatError('zip64 extra field too short');
        const v = extra.readBigUInt64LE(p);
        if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('zip64 size out of range');
        out.push(Number(v));
        p += 8;
      }
      return out;
    }
    i += 4 + len;
  }
  throw new FormatError('zip64 sizes without a zip64 extra field');
}

function entryName(raw: Buffer, flags: number): string {
  // Bit 11: UTF-8; otherwise CP437, which agrees with Latin-1 on the ASCII names models use.
  return raw.toString(flags & 0x800 ? 'utf8' : 'latin1');
}

export function* zipParser(o: ZipOptions): Parser {
  const { report } = o;
  const locals = new Map<number, Local>();
  let offset = 0;
  let sig: number;
  // Local file headers, each followed by the member's data.
  for (;;) {
    const s = yield* readExact(4, 'zip record');
    sig = s.readUInt32LE(0);
    if (sig !== LFH) break;
    const at = offset;
    const h = yield* readExact(26, 'zip local header');
    const flags = h.readUInt16LE(2);
    const method = h.readUInt16LE(4);
    let csize = h.readUInt32LE(14);
    let size = h.readUInt32LE(18);
    const rawName = yield* readExact(h.readUInt16LE(22), 'zip member name');
    const name = entryName(rawName, flags);
    const extra = yield* readExact(h.readUInt16LE(24), 'zip extra field');
    offset += 30 + rawName.length + extra.length;
    if (csize === MAX32 || size === MAX32) {
      // The local zip64 field holds both sizes, uncompressed first.
      const [u, c] = zip64(extra, { size: true, csize: true });
      size = u!;
      csize = c!;
    }
    if (flags & 0x1) {
      report.unknown(`zip member ${name} is encrypted`);
      return;
    }
    if (flags & 0x8) {
      // Sizes after the data: the member's end cannot be found without the central directory.
      report.unknown(`zip member ${name} has a data descriptor (sizes after the data); not scanned`);
      return;
    }
    if (locals.size >= MAX_ENTRIES) {
      report.unknown(`zip with more than ${MAX_ENTRIES} members`);
      return;
    }
    const entry: Local = { name, method, compressedSize: csize, size, offset: at, matched: false };
    locals.set(at, entry);
    const sink = o.open(entry);
    let got: number;
    if (!sink) got = yield* skip(csize);
    else if (method === 0) got = yield* sub(csize, sink);
    else if (method === 8) got = yield* sub(csize, new InflateSink(sink, size, name, report));
    else {
      report.unknown(`zip member ${name} uses compression method ${method}; not scanned`);
      got = yield* skip(csize);
    }
    if (got < csize) throw new FormatError(`zip member ${name} is truncated`);
    offset += csize;
  }

  // The central directory: every entry must be a local header walked above.
  const cdStart = offset;
  let cdEntries = 0;
  while (sig === CDH) {
    const at = offset;
    const h = yield* readExact(42, 'zip central directory');
    const flags = h.readUInt16LE(4);
    const method = h.readUInt16LE(6);
    let csize = h.readUInt32LE(16);
    let size = h.readUInt32LE(20);
    const nlen = h.readUInt16LE(24);
    const xlen = h.readUInt16LE(26);
    const clen = h.readUInt16LE(28);
    let lho = h.readUInt32LE(38);
    const name = entryName(yield* readExact(nlen, 'zip central directory name'), flags);
    const extra = yield* readExact(xlen, 'zip central directory extra field');
    yield* skip(clen);
    offset += 46 + nlen + xlen + clen;
    if (size === MAX32 || csize === MAX32 || lho === MAX32) {
      const want = { size: size === MAX32, csize: csize === MAX32, offset: lho === MAX32 };
      const v = zip64(extra, want);
      if (want.size) size = v.shift()!;
      if (want.csize) csize = v.shift()!;
      if (want.offset) lho = v.shift()!;
    }
    cdEntries++;
    const local = locals.get(lho);
    if (!local || local.name !== name || local.compressedSize !== csize || local.method !== method)
      container(
        report,
        `central directory entry ${name} (local header at offset ${lho}) is not a member this scan read; a loader would read bytes that were not scanned`,
        at,
      );
    else local.matched = true;
    const s = yield* readExact(4, 'zip record');
    sig = s.readUInt32LE(0);
  }

  const cdEnd = offset;
  // End records: zip64 end of central directory and its locator (optional), then the end record.
  if (sig === EOCD64) {
    const n = (yield* readExact(8, 'zip64 end record')).readBigUInt64LE(0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError('zip64 end record too large');
    yield* skip(Number(n));
    offset += 12 + Number(n);
    sig = (yield* readExact(4, 'zip record')).readUInt32LE(0);
  }
  if (sig === EOCD64_LOCATOR) {
    yield* readExact(16, 'zip64 end locator');
    offset += 20;
    sig = (yield* readExact(4, 'zip record')).readUInt32LE(0);
  }
  if (sig !== EOCD) {
    report.unknown(`unexpected bytes at offset ${offset} of the zip (not a zip record)`);
    return;
  }
  const endAt = offset;
  const e = yield* readExact(18, 'zip end record');
  const declaredEntries = e.readUInt16LE(6);
  const cdSize = e.readUInt32LE(8);
  const cdOffset = e.readUInt32LE(12);
  const commentLen = e.readUInt16LE(16);
  yield* skip(commentLen);
  offset += 22 + commentLen;
  // Loaders locate the central directory from these fields (Python's zipfile shifts every
  // member offset by any difference): they must point where the directory really is.
  if (
    (cdOffset !== MAX32 && cdOffset !== cdStart) ||
    (cdSize !== MAX32 && cdSize !== cdEnd - cdStart) ||
    (declaredEntries !== 0xffff && declaredEntries !== (cdEntries & 0xffff))
  )
    container(report, 'the end-of-archive record does not describe the central directory that was read', endAt);
  for (const l of locals.values())
    if (!l.matched) report.note(`zip member ${l.name} is not in the central directory (loaders do not see it)`);
  // Anything after the end record could hold a second directory that loaders prefer (they
  // search for the last end record).
  const trailing = o.size !== undefined ? o.size - offset : yield* skip(Number.MAX_SAFE_INTEGER);
  if (trailing > 0)
    container(
      report,
      `${trailing} bytes after the end-of-archive record (a loader may read another directory there)`,
      offset,
    );
  o.done?.([...locals.values()]);
}

/** Inflates a deflated member into `target`, never past its declared size. */
class InflateSink implements Sink {
  private readonly inflate: Inflate;
  private out = 0;
  /** Compressed bytes received. */
  private pos = 0;
  private stopped = false;

  constructor(
    private readonly target: Sink,
    private readonly size: number,
    private readonly name: string,
    private readonly report: ScanReport,
  ) {
    this.inflate = new Inflate((data) => {
      if (this.stopped) return;
      this.out += data.length;
      if (this.out > this.size) {
        this.stopped = true;
        container(this.report, `zip member ${this.name} inflates to more than its declared ${this.size} bytes`, 0);
        return;
      }
      this.target.write(Buffer.from(data.buffer, data.byteOffset, data.length), this.out - data.length);
    });
  }

  write(chunk: Buffer): void {
    this.pos += chunk.length;
    if (this.stopped || this.target.needFrom() === Infinity) return;
    try {
      this.inflate.push(chunk);
    } catch (e) {
      this.stopped = true;
      this.report.unknown(`zip member ${this.name}: invalid deflate data (${(e as Error).message})`);
    }
  }

  end(): void {
    if (!this.stopped && this.target.needFrom() !== Infinity) {
      try {
        this.inflate.push(new Uint8Array(0), true);
      } catch (e) {
        this.report.unknown(`zip member ${this.name}: invalid deflate data (${(e as Error).message})`);
      }
    }
    this.target.end(this.out);
  }

  needFrom(): number {
    // Deflate needs every compressed byte, until the member's scanner has seen enough.
    return this.stopped || this.target.needFrom() === Infinity ? Infinity : this.pos;
  }
}
