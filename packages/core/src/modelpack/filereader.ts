import { open } from 'node:fs/promises';

/**
 * What the header parsers read through: positional reads, as `FileHandle` does. A file on disk
 * opens as its FileHandle; a file whose bytes are elsewhere (an import from the Hugging Face Hub
 * reads weight headers by HTTP range) brings its own.
 */
export interface ByteSource {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/** Opens the bytes of a file for the header parsers. */
export type OpenBytes = () => Promise<ByteSource>;

/** The default: the file on disk. */
export function openFileBytes(absPath: string): OpenBytes {
  return () => open(absPath, 'r');
}

/**
 * Sequential little-endian reads from the start of a file without loading it: header
 * parsers (GGUF) only ever touch the first megabytes of multi-gigabyte files. `limit` bounds
 * how far they may read so a corrupt length cannot make us scan the whole file.
 */
export class HeaderReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** File offset of buf[0]. */
  private base = 0;

  constructor(
    private readonly fh: ByteSource,
    private readonly size: number,
    private readonly limit: number,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.base + this.pos;
  }

  private async fill(n: number): Promise<void> {
    const start = this.offset;
    if (start + n > this.size) throw new Error(`${this.what}: truncated header (needs ${n} bytes at offset ${start})`);
    if (start + n > this.limit) throw new Error(`${this.what}: header larger than ${this.limit} bytes`);
    const want = Math.min(Math.max(n, 1 << 20), this.size - start);
    const rest = this.buf.subarray(this.pos);
    const chunk = Buffer.alloc(want - rest.length);
    const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, start + rest.length);
    this.buf = Buffer.concat([rest, chunk.subarray(0, bytesRead)]);
    this.base = start;
    this.pos = 0;
    if (this.buf.length < n) throw new Error(`${this.what}: truncated header`);
  }

  async bytes(n: number): Promise<Buffer> {
    if (this.buf.length - this.pos < n) await this.fill(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  async skip(n: number): Promise<void> {
    if (this.buf.length - this.pos >= n) {
      this.pos += n;
      return;
    }
    const target = this.offset + n;
    if (target > this.size) throw new Error(`${this.what}: truncated header`);
    if (target > this.limit) throw new Error(`${this.what}: header larger than ${this.limit} bytes`);
    this.base = target;
    this.buf = Buffer.alloc(0);
    this.pos = 0;
  }

  async u8(): Promise<number> {
    return (await this.bytes(1)).readUInt8(0);
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE(0);
  }

  /** A u64 that must fit a JS number (counts, lengths, dimensions). */
  async u64(): Promise<number> {
    const v = (await this.bytes(8)).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${this.what}: implausible value ${v} in header`);
    return Number(v);
  }
}
