// blob-receiver.ts: the download worker's hash (chunks offered from memory, bytes read back
// from the file) and its own GETs, against servers that answer as a registry does and as a
// broken one might. The servers are stand-ins written on node:net, so each answer is exactly
// the bytes a test wants.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobReceiver, ReceiveError, type ReceiveRequest } from '../src/registry/blob-receiver.js';
import { rawHttpSupported } from '../src/registry/http.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1024 * 1024;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'modelship-receiver-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A file of `size` zero bytes, as PartialBlobFile.open leaves it. */
async function fresh(size: number): Promise<string> {
  const p = join(dir, `f${n++}`);
  closeSync(openSync(p, 'w'));
  await truncate(p, size);
  return p;
}

/** `data` copied into shared memory, as a chunk from another thread's buffer would be. */
function shared(data: Buffer): Buffer {
  const b = Buffer.from(new SharedArrayBuffer(data.length));
  data.copy(b);
  return b;
}

describe('BlobReceiver hash', () => {
  const data = randomBytes(5 * MiB + 123);
  const put = (path: string, from: number, to: number): void => {
    const fd = openSync(path, 'r+');
    writeSync(fd, data, from, to - from, from);
    closeSync(fd);
  };

  it('hashes chunks offered in order from memory, without reading the file', async () => {
    // The file stays zeros: a read back would hash the wrong bytes.
    const h = new BlobReceiver(await fresh(data.length), data.length);
    const acks: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += MiB) {
      const ack = h.offer([shared(data.subarray(at, Math.min(data.length, at + MiB)))], at);
      expect(ack).toBeInstanceOf(Promise);
      acks.push(ack!);
    }
    await Promise.all(acks);
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('copies chunks that are not in shared memory', async () => {
    const h = new BlobReceiver(await fresh(data.length), data.length);
    const half = 2 * MiB + 7;
    expect(h.offer([data.subarray(0, half)], 0)).toBeUndefined();
    expect(h.offer([data.subarray(half, half + 5), data.subarray(half + 5)], half)).toBeUndefined();
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('copies at most 16 MiB ahead of the worker; the rest is read back from the file', async () => {
    const big = randomBytes(24 * MiB + 5);
    const p = await fresh(big.length);
    const fd = openSync(p, 'r+');
    writeSync(fd, big, 0, big.length, 0);
    closeSync(fd);
    // What is offered past the first 16 MiB is wrong: the digest is right only if those bytes
    // were never copied, and came from the file instead.
    const offered = Buffer.concat([big.subarray(0, 16 * MiB), Buffer.alloc(big.length - 16 * MiB, 0x5a)]);
    const chunks = [];
    for (let at = 0; at < offered.length; at += 64 * 1024) chunks.push(offered.subarray(at, at + 64 * 1024));
    const h = new BlobReceiver(p, big.length);
    expect(h.offer(chunks, 0)).toBeUndefined();
    h.advance(big.length);
    await expect(h.result).resolves.toEqual({ digest: sha(big), size: big.length });
    // The slabs are back: the next download copies again (a zero file, so only copies hash right).
    const h2 = new BlobReceiver(await fresh(data.length), data.length);
    expect(h2.offer([data], 0)).toBeUndefined();
    await expect(h2.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('reads back what was written ahead of it, then goes on from memory', async () => {
    const path = await fresh(data.length);
    const h = new BlobReceiver(path, data.length);
    // A second range writes [3 MiB, 4 MiB) first: not hashed until the prefix reaches it.
    put(path, 3 * MiB, 4 * MiB);
    await h.offer([shared(data.subarray(3 * MiB, 4 * MiB))], 3 * MiB);
    h.advance(0);
    for (let at = 0; at < 3 * MiB; at += MiB) {
      put(path, at, at + MiB);
      await h.offer([shared(data.subarray(at, at + MiB))], at);
    }
    // Now the prefix reaches 4 MiB: [3, 4) MiB is read back from the file.
    h.advance(4 * MiB);
    // A chunk overlapping what was read is hashed from where the hash stands.
    put(path, 4 * MiB - 10, data.length);
    await h.offer([shared(data.subarray(4 * MiB - 10))], 4 * MiB - 10);
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('hashes bytes an earlier run kept from the file', async () => {
    const path = await fresh(data.length);
    put(path, 0, 2 * MiB);
    const h = new BlobReceiver(path, data.length);
    h.advance(2 * MiB);
    put(path, 2 * MiB, data.length);
    await h.offer([shared(data.subarray(2 * MiB))], 2 * MiB);
    await expect(h.result).resolves.toEqual({ digest: sha(data), size: data.length });
  });

  it('gets the wrong digest for wrong bytes, and an error for a file shorter than said', async () => {
    const bad = Buffer.from(data);
    bad[MiB] ^= 1;
    const h = new BlobReceiver(await fresh(bad.length), bad.length);
    h.offer([bad], 0);
    const got = await h.result;
    expect(got.digest).toBe(sha(bad));

    const path = join(dir, 'short');
    closeSync(openSync(path, 'w'));
    const short = new BlobReceiver(path, data.length);
    short.advance(MiB);
    await expect(short.result).rejects.toThrow(/ended at byte 0/);
  });

  it('ends with an error when abandoned, and frees waiting chunks', async () => {
    const h = new BlobReceiver(await fresh(data.length), data.length);
    const ack = h.offer([shared(data.subarray(0, MiB))], 0);
    h.abandon();
    await ack;
    await expect(h.result).rejects.toThrow(/abandoned/);
  });

  it('hashes an empty blob', async () => {
    const h = new BlobReceiver(await fresh(0), 0);
    await expect(h.result).resolves.toEqual({ digest: sha(Buffer.alloc(0)), size: 0 });
  });
});

const servers: Server[] = [];
/** Receivers a test left unfinished (a fallback, an error): abandoned so their workers end. */
const live: BlobReceiver[] = [];
afterEach(async () => {
  for (const h of live.splice(0)) h.abandon();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A server that reads the request head, hands it to `answer`, and leaves the socket to it. */
async function serve(
  answer: (socket: Socket, head: string) => void | Promise<void>,
): Promise<{ url: URL; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((socket) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      heads.push(got);
      void answer(socket, got);
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: new URL(`http://127.0.0.1:${port}/v2/repo/blobs/sha256:abc`), heads };
}

/** One receive into a fresh file of `size` bytes; what was told, the file, the hash. */
async function receive(
  url: URL,
  size: number,
  over: Partial<ReceiveRequest> = {},
): Promise<{
  result: Awaited<ReturnType<BlobReceiver['receive']>> | Error;
  ats: number[];
  file: Buffer;
  h: BlobReceiver;
}> {
  const path = await fresh(size);
  const h = new BlobReceiver(path, size);
  live.push(h);
  const ats: number[] = [];
  const req: ReceiveRequest = { url, headers: {}, at: 0, end: size, whole: true, idleMs: 2000, ...over };
  const result = await h.receive(req, (at) => ats.push(at), new AbortController().signal).catch((e: Error) => e);
  return { result, ats, file: readFileSync(path), h };
}

describe('BlobReceiver.receive', () => {
  it('writes a 9 MiB body at its offsets and hashes it, with the request headers sent', async () => {
    const body = randomBytes(9 * MiB + 123);
    const { url, heads } = await serve((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nDocker-Content-Digest: x\r\n\r\n`);
      // In pieces, with pauses, as a busy registry sends.
      void (async () => {
        for (let i = 0; i < body.length; i += 3 * MiB + 7) {
          s.write(body.subarray(i, i + 3 * MiB + 7));
          await sleep(5);
        }
        s.end();
      })();
    });
    const path = await fresh(body.length);
    const h = new BlobReceiver(path, body.length);
    const ats: number[] = [];
    const r = await h.receive(
      { url, headers: { authorization: 'Bearer t0k' }, at: 0, end: body.length, whole: true, idleMs: 2000 },
      (at) => ats.push(at),
      new AbortController().signal,
    );
    expect(r).toEqual({ kind: 'done' });
    expect(ats.at(-1)).toBe(body.length);
    expect(readFileSync(path).equals(body)).toBe(true);
    await expect(h.result).resolves.toEqual({ digest: sha(body), size: body.length });
    expect(heads[0]).toMatch(/^GET \/v2\/repo\/blobs\/sha256:abc HTTP\/1\.1\r\n/);
    expect(heads[0]).toMatch(/\r\nauthorization: Bearer t0k\r\n/);
  });

  it('a range lands at its offset; the bytes before it are read back once the prefix is there', async () => {
    const blob = randomBytes(3 * MiB + 5);
    const at = 2 * MiB;
    const { url, heads } = await serve(
      (s) =>
        void s.end(
          Buffer.concat([
            Buffer.from(
              `HTTP/1.1 206 Partial Content\r\nContent-Length: ${blob.length - at}\r\nContent-Range: bytes ${at}-${blob.length - 1}/${blob.length}\r\n\r\n`,
            ),
            blob.subarray(at),
          ]),
        ),
    );
    const path = await fresh(blob.length);
    const fd = openSync(path, 'r+');
    writeSync(fd, blob, 0, at, 0);
    closeSync(fd);
    const h = new BlobReceiver(path, blob.length);
    const r = await h.receive(
      { url, headers: { range: `bytes=${at}-${blob.length - 1}` }, at, end: blob.length, whole: false, idleMs: 2000 },
      () => {},
      new AbortController().signal,
    );
    expect(r).toEqual({ kind: 'done' });
    h.advance(blob.length);
    await expect(h.result).resolves.toEqual({ digest: sha(blob), size: blob.length });
    expect(readFileSync(path).equals(blob)).toBe(true);
    expect(heads[0]).toMatch(/\r\nrange: bytes=2097152-3145732\r\n/);
  });

  it('a quiet spell mid-buffer (its part written by a timer) loses nothing and mixes nothing', async () => {
    const body = randomBytes(3 * MiB + 11);
    const { url } = await serve((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      void (async () => {
        // Quiet for longer than the idle flush each time, part-way through a receive buffer.
        for (const [from, to] of [
          [0, 300_000],
          [300_000, 700_000],
          [700_000, 1_500_000],
          [1_500_000, body.length],
        ] as const) {
          s.write(body.subarray(from, to));
          await sleep(450);
        }
        s.end();
      })();
    });
    const r = await receive(url, body.length);
    expect(r.result).toEqual({ kind: 'done' });
    // The record hears of the bytes a quiet connection sent before the buffer is full.
    expect(r.ats.some((a) => a > 0 && a < MiB)).toBe(true);
    expect(r.file.equals(body)).toBe(true);
    await expect(r.h.result).resolves.toEqual({ digest: sha(body), size: body.length });
  }, 15_000);

  it.each([
    [
      'a 401 to answer',
      'HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Bearer realm="x"\r\nContent-Length: 0\r\n\r\n',
      401,
    ],
    [
      'a redirect to object storage',
      'HTTP/1.1 307 Temporary Redirect\r\nLocation: https://s3/x\r\nContent-Length: 0\r\n\r\n',
      307,
    ],
    ['a chunked body', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 200],
    ['no Content-Length', 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello', 200],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello', 200],
    [
      'a 206 for another range',
      'HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 10-14/20\r\n\r\nhello',
      206,
    ],
  ])('%s is handed back as fallback, nothing written', async (_name, answer, status) => {
    const { url } = await serve((s) => void s.end(answer));
    const r = await receive(url, 5, { whole: !answer.includes('206') });
    expect(r.result).toEqual({ kind: 'fallback', status });
    expect(r.file).toEqual(Buffer.alloc(5));
  });

  it('two different Content-Length headers are refused, not guessed', async () => {
    const { url } = await serve(
      (s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello'),
    );
    const r = await receive(url, 5);
    expect(r.result).toBeInstanceOf(ReceiveError);
    expect((r.result as Error).message).toMatch(/malformed HTTP response/);
  });

  it('more bytes than the Content-Length is an error, not a longer file', async () => {
    const { url } = await serve((s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more'));
    const r = await receive(url, 5);
    expect((r.result as Error).message).toMatch(/more bytes than the Content-Length of 5/);
  });

  it('a connection that drops part-way keeps what arrived (the retry starts there) and says where it ended', async () => {
    const { url } = await serve((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      s.write(Buffer.alloc(300, 7));
      setTimeout(() => s.destroy(), 50);
    });
    const r = await receive(url, 1000);
    expect(r.result).toBeInstanceOf(ReceiveError);
    expect((r.result as ReceiveError).message).toMatch(/ended at byte 300 of 1000/);
    expect((r.result as ReceiveError).at).toBe(300);
    expect(r.ats.at(-1)).toBe(300);
    expect(r.file.subarray(0, 300)).toEqual(Buffer.alloc(300, 7));
  });

  it('a stalled body ends as stalled, keeping what arrived', async () => {
    const { url } = await serve((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      s.write(Buffer.alloc(100, 1));
    });
    const r = await receive(url, 1000, { idleMs: 300 });
    expect((r.result as ReceiveError).stalled).toBe(true);
    expect((r.result as ReceiveError).at).toBe(100);
    expect(r.file.subarray(0, 100)).toEqual(Buffer.alloc(100, 1));
  });

  it('an abort ends the request, keeping what arrived', async () => {
    const { url } = await serve((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      s.write(Buffer.alloc(100, 1));
    });
    const h = new BlobReceiver(await fresh(1000), 1000);
    const ac = new AbortController();
    const p = h.receive({ url, headers: {}, at: 0, end: 1000, whole: true, idleMs: 5000 }, () => {}, ac.signal);
    await sleep(100);
    ac.abort();
    await expect(p).rejects.toThrow(/aborted/);
    h.abandon();
  });

  it('is used only for plain HTTP without userinfo and with header values that cannot split a line', () => {
    expect(rawHttpSupported(new URL('http://127.0.0.1:5000/v2/x'), { authorization: 'Bearer a' })).toBe(true);
    expect(rawHttpSupported(new URL('https://registry/v2/x'), {})).toBe(false);
    expect(rawHttpSupported(new URL('http://u:p@registry/v2/x'), {})).toBe(false);
    expect(rawHttpSupported(new URL('http://registry/v2/x'), { authorization: 'Bearer a\r\nx-evil: 1' })).toBe(false);
  });
});
