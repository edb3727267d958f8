import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:net';
import { BlobReceiver } from '../src/registry/blob-receiver.js';

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
const directWrite = (f: number): boolean => (f & O_DIRECT) !== 0 && (f & 3) === constants.O_WRONLY;

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function directSupported(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | O_DIRECT));
    return O_DIRECT !== 0;
  } catch {
    return false;
  }
}

describe('BlobReceiver direct writes', () => {
  let dir: string;
  let server: Server;
  let port = 0;
  const data = randomBytes(20 * MiB + 1234);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelship-receiver-direct-'));
    // A stand-in registry on node:net: the blob in pieces, quiet half-way so the connection's
    // part buffer is written by the idle timer (unaligned from there on in that buffer).
    server = createServer((s) => {
      s.once('data', () => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`);
        void (async () => {
          s.write(data.subarray(0, 10 * MiB + 5000));
          await new Promise((r) => setTimeout(r, 400));
          s.end(data.subarray(10 * MiB + 5000));
        })();
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  async function download(path: string): Promise<{ flags: number[]; digest: string }> {
    // As PartialBlobFile.open leaves it: full length, sparse.
    writeFileSync(path, '');
    truncateSync(path, data.length);
    const h = new BlobReceiver(path, data.length);
    let flags: number[] = [];
    await h.receive(
      {
        url: new URL(`http://127.0.0.1:${port}/v2/r/blobs/x`),
        headers: {},
        at: 0,
        end: data.length,
        whole: true,
        idleMs: 5000,
      },
      () => {
        if (!flags.length) flags = openFlags(path);
      },
      new AbortController().signal,
    );
    return { flags, digest: (await h.result).digest };
  }

  it('writes full aligned buffers with O_DIRECT and the rest through the page cache', async () => {
    const path = join(dir, 'a');
    const r = await download(path);
    // Where the filesystem has no direct I/O (tmpfs before Linux 6.6) the download writes buffered.
    expect(r.flags.some(directWrite)).toBe(directSupported(join(dir, 'probe')));
    expect(r.digest).toBe(sha(data));
    expect(readFileSync(path).equals(data)).toBe(true);
  });

  it('MODELSHIP_DIRECT_IO=0 opens no direct handle and writes the same bytes', async () => {
    const path = join(dir, 'b');
    process.env['MODELSHIP_DIRECT_IO'] = '0';
    try {
      const r = await download(path);
      expect(r.flags.length).toBeGreaterThan(0);
      expect(r.flags.some(directWrite)).toBe(false);
      expect(r.digest).toBe(sha(data));
    } finally {
      delete process.env['MODELSHIP_DIRECT_IO'];
    }
    expect(readFileSync(path).equals(data)).toBe(true);
  });
});
