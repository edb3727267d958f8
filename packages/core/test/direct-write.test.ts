import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { alignedBuffer, isDirectWritable } from '../src/aligned-buffer.js';
import { PartialBlobFile } from '../src/blob-file.js';
import { FileSender, SenderError } from '../src/registry/file-sender.js';

const MiB = 1024 * 1024;
const O_DIRECT = (constants as { O_DIRECT?: number }).O_DIRECT ?? 0;

/** The open flags of every descriptor this process holds on `path`. */
function openFlags(path: string): number[] {
  const flags: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== path) continue;
    const m = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (m) flags.push(parseInt(m[1]!, 8));
  }
  return flags;
}
/** Opened write-only with O_DIRECT (fdinfo's `flags` are the open flags, in octal). */
const direct = (f: number): boolean => (f & O_DIRECT) !== 0 && (f & 3) === constants.O_WRONLY;

function directSupported(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | O_DIRECT));
    return O_DIRECT !== 0;
  } catch {
    return false;
  }
}

describe('aligned buffers', () => {
  it('are shared, separate, and direct-writable only whole-block', () => {
    const a = alignedBuffer(MiB);
    const b = alignedBuffer(MiB);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    a.fill(1);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    expect(isDirectWritable(a)).toBe(true);
    expect(isDirectWritable(a.subarray(4096, 8192))).toBe(true);
    expect(isDirectWritable(a.subarray(1))).toBe(false);
    expect(isDirectWritable(a.subarray(0, 5000))).toBe(false);
    expect(isDirectWritable(Buffer.alloc(MiB))).toBe(false);
    expect(isDirectWritable(Buffer.from(new SharedArrayBuffer(MiB)))).toBe(false);
  });
});

describe('PartialBlobFile direct writes', () => {
  let dir: string;
  const data = randomBytes(20 * MiB + 1234);
  const desc = {
    mediaType: 'application/octet-stream',
    digest: `sha256:${createHash('sha256').update(data).digest('hex')}`,
    size: data.length,
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'modelship-direct-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes the blob as a download would: aligned buffers, an unaligned middle and tail. */
  async function writeBlob(path: string): Promise<number[]> {
    const file = await PartialBlobFile.open(path, desc);
    const flags = openFlags(path);
    for (let at = 0; at < 16 * MiB; at += MiB) {
      const buf = alignedBuffer(MiB);
      data.copy(buf, 0, at, at + MiB);
      await file.write([buf], at);
    }
    // A quiet connection's part buffer (a copy) and what follows it, unaligned.
    await file.write([data.subarray(16 * MiB, 16 * MiB + 777)], 16 * MiB);
    await file.write([Buffer.from(data.subarray(16 * MiB + 777))], 16 * MiB + 777);
    await file.finish();
    return flags;
  }

  it('writes full aligned buffers with O_DIRECT and the rest through the page cache', async () => {
    const path = join(dir, 'a');
    const flags = await writeBlob(path);
    // Where the filesystem has no direct I/O (tmpfs before Linux 6.6) the download writes buffered.
    expect(flags.some(direct)).toBe(directSupported(join(dir, 'probe')));
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('MODELSHIP_DIRECT_IO=0 opens no direct handle and writes the same bytes', async () => {
    const path = join(dir, 'b');
    process.env['MODELSHIP_DIRECT_IO'] = '0';
    try {
      const flags = await writeBlob(path);
      expect(flags.length).toBeGreaterThan(0);
      expect(flags.some(direct)).toBe(false);
    } finally {
      delete process.env['MODELSHIP_DIRECT_IO'];
    }
    expect(readFileSync(path).equals(data)).toBe(true);
  });
});

describe('FileSender direct reads', () => {
  let dir: string;
  const data = randomBytes(20 * MiB + 4321);
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const directRead = (f: number): boolean => (f & O_DIRECT) !== 0 && (f & 3) === constants.O_RDONLY;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'modelship-sender-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Hashes a prefix (aligned, then not), the rest, and the open flags the worker holds meanwhile. */
  async function hashWhole(path: string): Promise<{ flags: number[]; prefixes: string[]; digest: string }> {
    const sender = new FileSender(path, data.length);
    try {
      const prefixes = [await sender.hashTo(3 * MiB), await sender.hashTo(5 * MiB + 7)];
      const flags = openFlags(path);
      return { flags, prefixes, digest: await sender.end() };
    } finally {
      sender.close();
    }
  }

  it('reads aligned blocks with O_DIRECT and the unaligned rest through the page cache, hashing each byte once', async () => {
    const path = join(dir, 'a');
    writeFileSync(path, data);
    const r = await hashWhole(path);
    expect(r.flags.some(directRead)).toBe(directSupported(join(dir, 'probe')));
    expect(r.prefixes).toEqual([sha(data.subarray(0, 3 * MiB)), sha(data.subarray(0, 5 * MiB + 7))]);
    expect(r.digest).toBe(sha(data));
  });

  it('MODELSHIP_DIRECT_IO=0: no direct handle, the same digests', async () => {
    const path = join(dir, 'b');
    writeFileSync(path, data);
    process.env['MODELSHIP_DIRECT_IO'] = '0';
    try {
      const r = await hashWhole(path);
      expect(r.flags.length).toBeGreaterThan(0);
      expect(r.flags.some(directRead)).toBe(false);
      expect(r.digest).toBe(sha(data));
    } finally {
      delete process.env['MODELSHIP_DIRECT_IO'];
    }
  });

  it('a file longer than its size says is refused at the end', async () => {
    const path = join(dir, 'c');
    writeFileSync(path, data);
    appendFileSync(path, 'x');
    const sender = new FileSender(path, data.length);
    try {
      const e = await sender.end().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SenderError);
      expect((e as SenderError).kind).toBe('file');
      expect((e as SenderError).message).toBe('grew past its size');
    } finally {
      sender.close();
    }
  });
});
