// raw-get.ts against servers that answer as a registry does and as a broken one might. The
// servers are stand-ins written on node:net, so each answer is exactly the bytes a test wants.
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawGet, rawGetSupported, type RawGetOptions } from '../src/registry/raw-get.js';

const servers: Server[] = [];
afterEach(async () => {
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

function collect(over: Partial<RawGetOptions> & { url: URL }): {
  run: () => ReturnType<typeof rawGet>;
  chunks: Buffer[];
} {
  const chunks: Buffer[] = [];
  return {
    chunks,
    run: () =>
      rawGet({
        headers: {},
        accept: (status) => status === 200 || status === 206,
        write: async (d) => void chunks.push(Buffer.from(d)),
        idleMs: 2000,
        stalled: () => new Error('stalled'),
        signal: new AbortController().signal,
        ...over,
      }),
  };
}

describe('rawGet', () => {
  it('writes a 9 MiB body in order, in buffers of at most 1 MiB, with the request headers sent', async () => {
    const body = randomBytes(9 * 1024 * 1024 + 123);
    const { url, heads } = await serve((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nDocker-Content-Digest: x\r\n\r\n`);
      // In pieces, with pauses, as a busy registry sends.
      void (async () => {
        for (let i = 0; i < body.length; i += 3 * 1024 * 1024 + 7) {
          s.write(body.subarray(i, i + 3 * 1024 * 1024 + 7));
          await sleep(5);
        }
        s.end();
      })();
    });
    const c = collect({ url, headers: { authorization: 'Bearer t0k', range: 'bytes=0-' } });
    const r = await c.run();
    expect(r).toMatchObject({ kind: 'body', status: 200, bytes: body.length });
    expect(Buffer.concat(c.chunks).equals(body)).toBe(true);
    expect(Math.max(...c.chunks.map((b) => b.length))).toBeLessThanOrEqual(1024 * 1024);
    expect(heads[0]).toMatch(/^GET \/v2\/repo\/blobs\/sha256:abc HTTP\/1\.1\r\n/);
    expect(heads[0]).toMatch(/\r\nauthorization: Bearer t0k\r\n/);
    expect(heads[0]).toMatch(/\r\nrange: bytes=0-\r\n/);
  });

  it('a quiet spell mid-buffer (its part written by a timer) loses nothing and mixes nothing', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 11);
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
    const c = collect({ url });
    await c.run();
    expect(c.chunks.length).toBeGreaterThan(4);
    expect(Buffer.concat(c.chunks).equals(body)).toBe(true);
  }, 15_000);

  it('a slow writer pauses the socket and loses nothing', async () => {
    const body = randomBytes(6 * 1024 * 1024);
    const { url } = await serve(
      (s) =>
        void s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])),
    );
    const chunks: Buffer[] = [];
    const c = collect({
      url,
      write: async (d) => {
        chunks.push(Buffer.from(d));
        await sleep(20);
      },
    });
    await c.run();
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

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
  ])('%s is handed back as fallback, nothing written', async (_name, answer, status) => {
    const { url } = await serve((s) => void s.end(answer));
    const c = collect({ url });
    expect(await c.run()).toEqual({ kind: 'fallback', status });
    expect(c.chunks).toEqual([]);
  });

  it('two different Content-Length headers are refused, not guessed', async () => {
    const { url } = await serve(
      (s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello'),
    );
    await expect(collect({ url }).run()).rejects.toThrow(/malformed HTTP response/);
  });

  it('more bytes than the Content-Length is an error, not a longer file', async () => {
    const { url } = await serve((s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more'));
    await expect(collect({ url }).run()).rejects.toThrow(/more bytes than the Content-Length of 5/);
  });

  it('a connection that drops part-way keeps what arrived (the retry starts there) and says where it ended', async () => {
    const { url } = await serve((s) => {
      s.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 1000\r\nContent-Range: bytes 0-999/5000\r\n\r\n');
      s.write(Buffer.alloc(300, 7));
      setTimeout(() => s.destroy(), 50);
    });
    const c = collect({ url });
    await expect(c.run()).rejects.toThrow(/ended at byte 300 of 1000/);
    expect(Buffer.concat(c.chunks)).toEqual(Buffer.alloc(300, 7));
  });

  it("a stalled body ends with the caller's stall error, keeping what arrived", async () => {
    const { url } = await serve((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      s.write(Buffer.alloc(100, 1));
    });
    const c = collect({ url, idleMs: 300, stalled: () => new Error('no bytes for 300 ms') });
    await expect(c.run()).rejects.toThrow(/no bytes for 300 ms/);
    expect(Buffer.concat(c.chunks).length).toBe(100);
  });

  it("the caller's accept() decides: a 206 for the wrong range is a fallback", async () => {
    const { url } = await serve(
      (s) =>
        void s.end('HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 10-14/20\r\n\r\nhello'),
    );
    const c = collect({ url, accept: (st, h) => st === 206 && (h.get('content-range') ?? '').startsWith('bytes 0-') });
    expect(await c.run()).toEqual({ kind: 'fallback', status: 206 });
  });

  it('is used only for plain HTTP without userinfo and with header values that cannot split a line', () => {
    expect(rawGetSupported(new URL('http://127.0.0.1:5000/v2/x'), { authorization: 'Bearer a' })).toBe(true);
    expect(rawGetSupported(new URL('https://registry/v2/x'), {})).toBe(false);
    expect(rawGetSupported(new URL('http://u:p@registry/v2/x'), {})).toBe(false);
    expect(rawGetSupported(new URL('http://registry/v2/x'), { authorization: 'Bearer a\r\nx-evil: 1' })).toBe(false);
  });
});
