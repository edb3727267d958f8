/**
 * An HTTP proxy in front of a test registry that watches blob downloads: it counts the bytes of
 * blob GET responses it passes back, logs each blob GET's Range header and status, and can stall
 * responses (send the headers and some bytes, then nothing, connection held open) to exercise
 * stalled-range retries and a pull killed part-way. Real TCP on 127.0.0.1; only the stall is
 * scripted.
 */
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlobGet {
  url: string;
  range: string | undefined;
  status: number;
}

export interface PullProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  /** Blob response body bytes passed back to the client. */
  blobBytesDown: number;
  gets: BlobGet[];
  /** Stall this many of the next blob responses that carry a Range header, after `stallAfter` bytes each. */
  stallRanges: number;
  stallAfter: number;
  /** Once blobBytesDown reaches this, every blob response stops sending (a pull to kill). */
  freezeAt: number;
  /** Stalls that happened. */
  stalled: number;
  close(): Promise<void>;
}

export async function startPullProxy(target: string): Promise<PullProxy> {
  const [thost, tport] = target.split(':') as [string, string];
  const held = new Set<ServerResponse>();
  const proxy: PullProxy = {
    host: '',
    blobBytesDown: 0,
    gets: [],
    stallRanges: 0,
    stallAfter: 0,
    freezeAt: Infinity,
    stalled: 0,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    const blobGet = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '');
    const range = req.headers['range'];
    let stallAt = Infinity;
    if (blobGet && range !== undefined && proxy.stallRanges > 0) {
      proxy.stallRanges--;
      stallAt = proxy.stallAfter;
    }
    const up = httpRequest(
      { host: thost, port: Number(tport), method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        if (blobGet) proxy.gets.push({ url: req.url ?? '', range, status: ur.statusCode ?? 0 });
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (!blobGet) {
          ur.pipe(res);
          return;
        }
        let sent = 0;
        let stopped = false;
        ur.on('data', (c: Buffer) => {
          if (stopped) return;
          let part = c;
          if (sent + part.length > stallAt) part = part.subarray(0, Math.max(0, stallAt - sent));
          if (proxy.blobBytesDown + part.length > proxy.freezeAt)
            part = part.subarray(0, Math.max(0, proxy.freezeAt - proxy.blobBytesDown));
          if (part.length) res.write(part);
          sent += part.length;
          proxy.blobBytesDown += part.length;
          if (part.length < c.length) {
            // From here on nothing more: the client sees a live connection that sends no bytes.
            stopped = true;
            if (sent >= stallAt) proxy.stalled++;
            held.add(res);
            ur.destroy();
          }
        });
        ur.on('end', () => {
          if (!stopped) res.end();
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
