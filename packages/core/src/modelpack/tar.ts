import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { GZIP_LEVEL, zstdCompress } from '../compression.js';
import { ModelshipError } from '../errors.js';
import type { LayerEncoding } from '../mediatypes.js';
import { normalizedMode } from './annotations.js';
import type { ModelFile } from './types.js';

/**
 * One-file tar layers with reproducible headers: ustar, mtime 0, uid/gid 0, empty
 * uname/gname, mode 0644/0755, name = the file path. Paths that do not fit ustar (long or
 * non-ASCII) and files of 8 GiB or more get a PAX header (and a base-256 size field for
 * readers that ignore PAX), as Go's archive/tar does.
 */
const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777; // 11 octal digits: 8 GiB - 1

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** ustar name/prefix for `path`, or undefined when it needs a PAX path record. */
function splitUstarName(path: string): { name: string; prefix: string } | undefined {
  if (!isAscii(path)) return undefined;
  if (path.length <= 100) return { name: path, prefix: '' };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (prefix.length <= 155 && name.length > 0 && name.length <= 100) return { name, prefix };
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function writeString(buf: Buffer, off: number, len: number, s: string): void {
  buf.write(s, off, Math.min(len, Buffer.byteLength(s)), 'utf8');
}

function writeOctal(buf: Buffer, off: number, len: number, v: number): void {
  buf.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
}

function writeSize(buf: Buffer, off: number, size: number): void {
  if (size <= MAX_OCTAL_SIZE) return writeOctal(buf, off, 12, size);
  // GNU base-256: high bit of the first byte set, big-endian value in the rest.
  let v = BigInt(size);
  for (let i = off + 11; i > off; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[off] = 0x80;
}

function header(fields: { name: string; prefix: string; mode: number; size: number; typeflag: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeString(b, 0, 100, fields.name);
  writeOctal(b, 100, 8, fields.mode);
  writeOctal(b, 108, 8, 0); // uid
  writeOctal(b, 116, 8, 0); // gid
  writeSize(b, 124, fields.size);
  writeOctal(b, 136, 12, 0); // mtime
  b.fill(0x20, 148, 156); // checksum placeholder: spaces
  b.write(fields.typeflag, 156, 1, 'ascii');
  b.write('ustar\0', 257, 6, 'ascii');
  b.write('00', 263, 2, 'ascii');
  // uname/gname stay empty
  writeOctal(b, 329, 8, 0); // devmajor
  writeOctal(b, 337, 8, 0); // devminor
  writeString(b, 345, 155, fields.prefix);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

/** Everything before the file's bytes: an optional PAX entry, then the file's header. */
export function tarHeaderBytes(file: Pick<ModelFile, 'path' | 'size' | 'mode'>): Buffer {
  const split = splitUstarName(file.path);
  const records: string[] = [];
  if (!split) records.push(paxRecord('path', file.path));
  if (file.size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(file.size)));
  const base = file.path.slice(file.path.lastIndexOf('/') + 1);
  const fallbackName = split ?? { name: base.replace(/[^\x20-\x7e]/g, '_').slice(-100), prefix: '' };
  const main = header({ ...fallbackName, mode: normalizedMode(file.mode), size: file.size, typeflag: '0' });
  if (records.length === 0) return main;
  const data = Buffer.from(records.join(''), 'utf8');
  const paxName = `PaxHeaders.0/${base.replace(/[^\x20-\x7e]/g, '_')}`.slice(0, 100);
  const paxHeader = header({ name: paxName, prefix: '', mode: 0o644, size: data.length, typeflag: 'x' });
  return Buffer.concat([paxHeader, data, Buffer.alloc(pad(data.length)), main]);
}

/** Size of the uncompressed one-file tar: headers, data padded to 512, two zero end blocks. */
export function layerTarSize(file: Pick<ModelFile, 'path' | 'size' | 'mode'>): number {
  return tarHeaderBytes(file).length + file.size + pad(file.size) + 2 * BLOCK;
}

/** Whether a layer needs its own diffId: compressed layers' blob digest is not the tar's digest. */
export function diffIdNeeded(encoding: LayerEncoding): boolean {
  return encoding === 'tar+gzip' || encoding === 'tar+zstd';
}

interface TarHooks {
  /** Called with the number of file bytes read (and the chunk), for progress reporting and scanning. */
  onData(n: number, chunk: Buffer): void;
  /** Receives every byte of the uncompressed tar (the diffId). */
  hash: Hash;
}

function tarStream(file: ModelFile, hooks: TarHooks): Readable {
  async function* generate(): AsyncGenerator<Buffer> {
    const head = tarHeaderBytes(file);
    hooks.hash.update(head);
    yield head;
    let n = 0;
    for await (const chunk of createReadStream(file.absPath, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > file.size) break;
      hooks.hash.update(chunk);
      hooks.onData(chunk.length, chunk);
      yield chunk;
    }
    if (n !== file.size)
      throw new ModelshipError(
        'INPUT',
        `${file.path} changed size while it was being packed (expected ${file.size} bytes)`,
        {
          hint: 'do not modify the model directory while packing; re-run when it is stable',
        },
      );
    const tail = Buffer.alloc(pad(file.size) + 2 * BLOCK);
    hooks.hash.update(tail);
    yield tail;
  }
  return Readable.from(generate(), { objectMode: false, highWaterMark: 1 << 20 });
}

/**
 * Node writes OS=3 (unix) or the build's OS code into byte 9 of the gzip header; 255
 * ("unknown", what Go's compress/gzip writes) keeps the blob the same on every platform.
 * Node already writes mtime 0 and no file name.
 */
class GzipOsByte extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      chunk = Buffer.from(chunk);
      chunk[9 - this.seen] = 0xff;
    }
    this.seen += chunk.length;
    cb(null, chunk);
  }
}

export interface LayerStream {
  /** The layer blob, produced as it is consumed (the file is never buffered whole). */
  stream: Readable;
  /** Size of the uncompressed tar: the blob size for `tar`, the diffId content size otherwise. */
  tarSize: number;
  /** sha256 of the uncompressed tar, computed while `stream` flows; resolves once it has ended. */
  diffId(): Promise<string>;
  /** Registers a callback told how many bytes of the file were read (and which), for progress bars and scanning. */
  progress(cb: (bytes: number, chunk?: Buffer) => void): void;
}

/** A stream of the layer blob for one file. */
export function createLayerStream(file: ModelFile, encoding: Exclude<LayerEncoding, 'raw'>): LayerStream {
  const tarSize = layerTarSize(file);
  const listeners: ((n: number, chunk?: Buffer) => void)[] = [];
  const hash = createHash('sha256');
  let settle!: { resolve: (d: string) => void; reject: (e: unknown) => void };
  const diff = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  diff.catch(() => {
    // surfaced through the stream; diffId() re-throws for callers that ask
  });
  const source = (): Readable => {
    const t = tarStream(file, { onData: (n, chunk) => listeners.forEach((l) => l(n, chunk)), hash });
    t.on('end', () => settle.resolve(`sha256:${hash.digest('hex')}`));
    t.on('error', (e) => settle.reject(e));
    t.on('close', () => settle.reject(new ModelshipError('INTERNAL', `layer stream for ${file.path} closed early`)));
    return t;
  };
  const make = (stream: Readable): LayerStream => ({
    stream,
    tarSize,
    diffId: () => diff,
    progress: (cb) => void listeners.push(cb),
  });

  if (encoding === 'tar') return make(source());
  if (encoding === 'tar+gzip') {
    const out = new GzipOsByte();
    pipeline(source(), zlib.createGzip({ level: GZIP_LEVEL }), out).catch(() => {
      // `out` was destroyed with the error
    });
    return make(out);
  }
  if (encoding === 'tar+zstd') {
    return make(zstdCompress(source(), file.path));
  }
  throw new ModelshipError('USAGE', `no layer stream for encoding "${String(encoding)}"`, {
    hint: 'raw layers are the file itself; stream encodings are tar, tar+gzip and tar+zstd',
  });
}
