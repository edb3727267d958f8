// Regression: a stream PATCH whose request body is destroyed by the HTTP client right after
// its readable 'end' (what undici does when it finishes writing a body) must still report the
// digest. Waiting for 'finish' instead hung forever, and with nothing else pending the CLI
// exited with code 13 and no message, about one push in eight of a 1,000-file model.
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { HttpClient, HttpRequest, HttpResponse } from '../src/registry/http.js';
import { streamPatch, type UploadContext } from '../src/registry/upload.js';

/**
 * Stand-in for undici's request-body handling (client-h1): consume with 'data'; the registry
 * answers 202 as soon as Content-Length bytes arrived, and when a response completes while the
 * body is still being written undici resets the socket and destroys the body without an
 * error. The source here ends a little after its last byte (a file stream's final empty read).
 */
function contextLikeUndici(received: Buffer[], size: number): UploadContext {
  const http = {
    host: '127.0.0.1:1',
    send: (req: HttpRequest): Promise<HttpResponse> =>
      new Promise((resolve, reject) => {
        const body = req.body as Readable;
        let n = 0;
        body.on('error', reject);
        body.on('data', (c: Buffer) => {
          received.push(c);
          n += c.length;
          if (n < size) return;
          resolve({
            status: 202,
            headers: { location: '/v2/x/blobs/uploads/next' },
            body: Object.assign(Readable.from([]), {
              dump: () => Promise.resolve(),
            }) as unknown as HttpResponse['body'],
            url: req.url,
          });
          setImmediate(() => body.destroy());
        });
      }),
  } as unknown as HttpClient;
  return {
    http,
    repository: 'x',
    pushScopes: [],
    retries: 0,
    backoffMs: 1,
    failure: () => Promise.reject(new Error('unexpected failure path')),
    blobExists: () => Promise.resolve(false),
  };
}

/** Yields the chunks, then takes a while to report its end. */
function lateEnding(chunks: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const c of chunks) yield c;
      await new Promise((r) => setTimeout(r, 50));
    })(),
  );
}

describe('streamPatch', () => {
  it.each([
    ['one chunk', [Buffer.from('hello world')]],
    ['many chunks', Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i))],
  ])(
    'returns the digest when the response beats the end of the body and the client destroys it (%s)',
    async (_name, chunks) => {
      const received: Buffer[] = [];
      const all = Buffer.concat(chunks);
      const ctx = contextLikeUndici(received, all.length);
      const session = { location: new URL('http://127.0.0.1:1/v2/x/blobs/uploads/1'), minChunk: 0, offset: 0 };
      const done = streamPatch(ctx, session, lateEnding(chunks), all.length, undefined, 'test');
      // Fails by timing out (the old code never settled), not by hanging the suite.
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        done,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('streamPatch never settled')), 2000);
        }),
      ]).finally(() => clearTimeout(timer));
      expect(result).toEqual({ digest: `sha256:${createHash('sha256').update(all).digest('hex')}`, size: all.length });
      expect(Buffer.concat(received).equals(all)).toBe(true);
      expect(session.location.pathname).toBe('/v2/x/blobs/uploads/next');
    },
  );
});
