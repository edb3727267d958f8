// file-sender.ts against stand-in servers on node:net that answer a PATCH as a registry does
// and as a broken or hostile one might, so each answer is exactly the bytes a test wants.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSender, SenderError, type PatchRequest } from '../src/registry/file-sender.js';

const MiB = 1024 * 1024;
const data = randomBytes(6 * MiB + 321);
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelship-sender-'));
  file = join(dir, 'blob');
  writeFileSync(file, data);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const servers: Server[] = [];
const senders: FileSender[] = [];
afterEach(async () => {
  for (const s of senders.splice(0)) s.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A server handing each connection to `handle` with the request head and the body bytes as they come. */
async function serve(handle: (socket: Socket, head: string, body: Buffer[]) => void): Promise<URL> {
  const server = createServer((socket) => {
    let buf = Buffer.alloc(0);
    let head: string | undefined;
    const body: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      if (head === undefined) {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString('latin1');
        body.push(buf.subarray(end + 4));
        handle(socket, head, body);
      } else body.push(d);
      socket.emit('body');
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/v2/r/blobs/uploads/u1?_state=s`);
}

const total = (b: Buffer[]): number => b.reduce((n, x) => n + x.length, 0);

function patch(url: URL, offset: number, len: number): PatchRequest {
  return {
    method: 'PATCH',
    url,
    headers: { 'content-range': `${offset}-${offset + len - 1}` },
    offset,
    len,
    timeoutMs: 5000,
  };
}

describe('FileSender.patch', () => {
  it('sends the range with its headers; the digest of what is hashed matches the file', async () => {
    let got: Buffer[] = [];
    let head = '';
    const url = await serve((s, h, body) => {
      head = h;
      got = body;
      s.on('body', () => {
        if (total(body) === 4 * MiB)
          s.end(
            'HTTP/1.1 202 Accepted\r\nLocation: /v2/r/blobs/uploads/u2\r\nRange: 0-4194303\r\nContent-Length: 0\r\n\r\n',
          );
      });
    });
    const sender = new FileSender(file, data.length);
    senders.push(sender);
    const r = await sender.patch(patch(url, 0, 4 * MiB));
    expect(r.status).toBe(202);
    expect(r.headers).toContainEqual(['location', '/v2/r/blobs/uploads/u2']);
    expect(r.prefix).toBe(sha(data.subarray(0, 4 * MiB)));
    expect(Buffer.concat(got).equals(data.subarray(0, 4 * MiB))).toBe(true);
    expect(head).toMatch(/^PATCH \/v2\/r\/blobs\/uploads\/u1\?_state=s HTTP\/1\.1\r\n/);
    expect(head).toMatch(/\r\ncontent-length: 4194304\r\n/);
    expect(head).toMatch(/\r\ncontent-range: 0-4194303(\r\n|$)/);
    expect(await sender.end()).toBe(sha(data));
  });

  it('an answer before the body is in stops the sending and comes back as the answer', async () => {
    // Bigger than the loopback socket buffers can take unread.
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(64 * MiB, 1));
    const url = await serve((s) => s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large'));
    const sender = new FileSender(big, 64 * MiB);
    senders.push(sender);
    const r = await sender.patch(patch(url, 0, 64 * MiB));
    expect(r.status).toBe(413);
    expect(r.body.toString()).toBe('too large');
    expect(r.sent).toBeLessThan(64 * MiB);
  });

  it('an answer whose body never ends is cut at 64 KiB, not waited for', async () => {
    const url = await serve((s) => {
      s.write('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 999999999\r\n\r\n');
      const t = setInterval(() => s.write(Buffer.alloc(16 * 1024, 0x61)), 5);
      s.on('close', () => clearInterval(t));
    });
    const sender = new FileSender(file, data.length);
    senders.push(sender);
    const r = await sender.patch(patch(url, 0, MiB));
    expect(r.status).toBe(500);
    expect(r.body.length).toBeLessThanOrEqual(64 * 1024);
  });

  it('a connection reset mid-body is a network failure (retried by the caller), not an answer', async () => {
    const url = await serve((s, _h, body) => {
      s.on('body', () => {
        if (total(body) > MiB) s.resetAndDestroy();
      });
    });
    const sender = new FileSender(file, data.length);
    senders.push(sender);
    const e = await sender.patch(patch(url, 0, 4 * MiB)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SenderError);
    expect((e as SenderError).kind).toBe('net');
    // The bytes hashed are kept: a retry from 0 sends them again without hashing them twice.
    const url2 = await serve((s, _h, body) =>
      s.on('body', () => {
        if (total(body) === 4 * MiB) s.end('HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n');
      }),
    );
    const r = await sender.patch(patch(url2, 0, 4 * MiB));
    expect(r.prefix).toBe(sha(data.subarray(0, 4 * MiB)));
    expect(await sender.end()).toBe(sha(data));
  });

  for (const [what, answer] of [
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH_9.2\r\n\r\n'],
    ['a header line without a colon', 'HTTP/1.1 202 Accepted\r\nLocation /elsewhere\r\n\r\n'],
    ['a head that never ends', `HTTP/1.1 202 Accepted\r\n${'x-pad: y\r\n'.repeat(20_000)}`],
  ] as const)
    it(`${what} is a network failure (retried by the caller), never an answer`, async () => {
      const url = await serve((s, _h, body) =>
        s.on('body', () => {
          if (total(body) === MiB) s.end(answer);
        }),
      );
      const sender = new FileSender(file, data.length);
      senders.push(sender);
      const e = await sender.patch(patch(url, 0, MiB)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SenderError);
      expect((e as SenderError).kind).toBe('net');
      expect((e as SenderError).message).toMatch(/malformed HTTP response|response headers too large/);
    });

  it('a file that cannot be opened fails every call, as a file error', async () => {
    const sender = new FileSender(join(dir, 'missing'), 10);
    senders.push(sender);
    const e = await sender.hashTo(5).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SenderError);
    expect((e as SenderError).kind).toBe('file');
    expect((e as SenderError).message).toMatch(/ENOENT/);
  });
});

describe('FileSender hash', () => {
  it('hashes prefixes (aligned, then not) and the rest, each byte once', async () => {
    const sender = new FileSender(file, data.length);
    senders.push(sender);
    expect(await sender.hashTo(3 * MiB)).toBe(sha(data.subarray(0, 3 * MiB)));
    expect(await sender.hashTo(5 * MiB + 7)).toBe(sha(data.subarray(0, 5 * MiB + 7)));
    expect(await sender.end()).toBe(sha(data));
  });

  it('a file longer than its size says is refused at the end', async () => {
    const longer = join(dir, 'longer');
    writeFileSync(longer, Buffer.concat([data, Buffer.from('x')]));
    const sender = new FileSender(longer, data.length);
    senders.push(sender);
    const e = await sender.end().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SenderError);
    expect((e as SenderError).kind).toBe('file');
    expect((e as SenderError).message).toBe('grew past its size');
  });
});
