/**
 * A fault-injecting HTTP proxy for a test registry on 127.0.0.1: forwards requests verbatim
 * (Host header included, so the registry's Location headers point back at the proxy) and, per
 * matching rule, answers an error status before or after the registry saw the request, resets
 * the connection part-way through a request or response body, or stalls. Everything is real
 * TCP; only the misbehaviour is scripted.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type FaultAction =
  /** Answer `status` without forwarding (`before`) or after the registry handled it (`after`). */
  | { kind: 'status'; status: number; when: 'before' | 'after'; headers?: Record<string, string> }
  /** Forward, but cut the client connection once this many request-body bytes went upstream. */
  | { kind: 'reset-request'; afterBytes: number }
  /**
   * Forward this many request-body bytes, then stop reading the body (the client's send stalls
   * mid-request, the registry waits for the rest): a client to be killed part-way through a request.
   */
  | { kind: 'stall-request'; afterBytes: number }
  /** Forward, but cut the client connection once this many response-body bytes went back. */
  | { kind: 'reset-response'; afterBytes: number }
  /** Hold the request this long before forwarding (past a client timeout, say). */
  | { kind: 'delay'; ms: number }
  /** Run a side effect (kill the registry, …) then forward. */
  | { kind: 'call'; fn: () => Promise<void> | void }
  /** Read the request body (counted in blobBytesUp), forward nothing, never answer: a client killed mid-request. */
  | { kind: 'swallow' };

export interface Fault {
  method?: string;
  path: RegExp;
  /** How many matching requests this fault applies to. */
  times: number;
  /** Matching requests let through untouched before the fault applies (default 0). */
  after?: number;
  action: FaultAction;
}

export interface ProxyLogEntry {
  method: string;
  url: string;
  status: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  faults: Fault[];
  log: ProxyLogEntry[];
  /** Count of faults that fired, by kind. */
  fired: Record<string, number>;
  /** Request body bytes forwarded to blob upload URLs (`/v2/<repo>/blobs/uploads/…`): what a push uploaded. */
  blobBytesUp: number;
  /** Answer `/v2/<repo>/referrers/<digest>` here instead of the registry (which has no referrers API). */
  referrers?: (
    repo: string,
    digest: string,
    url: URL,
  ) => { status: number; headers: Record<string, string>; body: string } | undefined;
  /** Answer `/v2/<repo>/tags/list` here instead of the registry (docker-registry 2.8 ignores `n`: it never paginates). */
  tagsList?: (repo: string, url: URL) => { status: number; headers: Record<string, string>; body: string } | undefined;
  /** Add this OCI-Subject header to manifest PUT answers (a registry with the referrers API). */
  subjectHeader: string | undefined;
  close(): Promise<void>;
}

function cut(res: ServerResponse, req: IncomingMessage): void {
  // RST rather than FIN: what a dropped connection looks like to the client.
  const sock = req.socket as Socket & { resetAndDestroy?: () => void };
  if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
  else sock.destroy();
  res.destroy();
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const [thost, tport] = target.split(':') as [string, string];
  const proxy: FaultProxy = {
    host: '',
    faults: [],
    log: [],
    fired: {},
    blobBytesUp: 0,
    subjectHeader: undefined,
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const record = (status: number): void =>
      void proxy.log.push({ method: req.method ?? '', url: req.url ?? '', status });
    const ref = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(url.pathname);
    const answer =
      ref && proxy.referrers
        ? proxy.referrers(ref[1]!, ref[2]!, url)
        : tags && proxy.tagsList
          ? proxy.tagsList(tags[1]!, url)
          : undefined;
    if (answer) {
      record(answer.status);
      res.writeHead(answer.status, answer.headers).end(answer.body);
      return;
    }
    const fault = proxy.faults.find((f) => {
      if (f.times <= 0 || (f.method !== undefined && f.method !== req.method) || !f.path.test(req.url ?? ''))
        return false;
      if (!f.after) return true;
      f.after--;
      return false;
    });
    let action: FaultAction | undefined;
    if (fault) {
      fault.times--;
      action = fault.action;
      proxy.fired[action.kind] = (proxy.fired[action.kind] ?? 0) + 1;
    }
    if (action?.kind === 'swallow') {
      req.on('data', (c: Buffer) => (proxy.blobBytesUp += c.length));
      return;
    }
    if (action?.kind === 'delay') await sleep(action.ms);
    if (action?.kind === 'call') await action.fn();
    if (action?.kind === 'status' && action.when === 'before') {
      req.resume();
      req.on('end', () => {
        record(action.status);
        res.writeHead(action.status, action.headers ?? {}).end();
      });
      return;
    }
    const up = httpRequest(
      { host: thost, port: Number(tport), method: req.method, path: req.url, headers: req.headers },
      (ur) => {
        if (action?.kind === 'status') {
          ur.resume();
          record(action.status);
          res.writeHead(action.status, action.headers ?? {}).end();
          return;
        }
        const headers = { ...ur.headers };
        if (proxy.subjectHeader && req.method === 'PUT' && /\/manifests\//.test(url.pathname))
          headers['oci-subject'] = proxy.subjectHeader;
        record(ur.statusCode ?? 0);
        res.writeHead(ur.statusCode ?? 502, headers);
        if (action?.kind === 'reset-response') {
          let sent = 0;
          const limit = action.afterBytes;
          ur.on('data', (c: Buffer) => {
            if (sent + c.length >= limit) {
              res.write(c.subarray(0, Math.max(0, limit - sent)));
              ur.destroy();
              cut(res, req);
              return;
            }
            sent += c.length;
            res.write(c);
          });
          ur.on('end', () => res.end());
        } else ur.pipe(res);
      },
    );
    up.on('error', () => cut(res, req));
    // A client that dies mid-body leaves the upstream request cut off, as a real connection would.
    req.on('close', () => {
      if (!req.complete) up.destroy();
    });
    if (/\/blobs\/uploads\//.test(url.pathname)) req.on('data', (c: Buffer) => (proxy.blobBytesUp += c.length));
    if (action?.kind === 'stall-request') {
      let seen = 0;
      const limit = action.afterBytes;
      req.on('data', (c: Buffer) => {
        if (seen + c.length >= limit) {
          up.write(c.subarray(0, Math.max(0, limit - seen)));
          seen = limit;
          req.pause();
          return;
        }
        seen += c.length;
        up.write(c);
      });
    } else if (action?.kind === 'reset-request') {
      let seen = 0;
      const limit = action.afterBytes;
      req.on('data', (c: Buffer) => {
        if (seen + c.length >= limit) {
          up.write(c.subarray(0, Math.max(0, limit - seen)));
          req.pause();
          record(0);
          up.destroy();
          cut(res, req);
          return;
        }
        seen += c.length;
        up.write(c);
      });
      req.on('end', () => up.end());
    } else req.pipe(up);
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
