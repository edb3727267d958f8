// Credentials go to the exact origin (scheme, host, port) they belong to, and an HTTPS registry
// is never talked to over plain HTTP. Real loopback servers: a "registry" port that speaks TLS
// and plain HTTP on the same port (so https://127.0.0.1:P and http://127.0.0.1:P differ only in
// scheme), a second port as another origin, and a token service reached under DNS names that
// a custom resolver points at 127.0.0.1 (so `127.0.0.1.evil.example` really connects).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type LookupFunction, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { sha256Digest } from '../src/digest.js';
import { Authorizer, isLoopbackIp } from '../src/registry/auth.js';
import { HttpClient, createAgent, originPolicy } from '../src/registry/http.js';
import { RegistryStore } from '../src/registry/registry-store.js';

interface Seen {
  tls: boolean;
  method: string;
  path: string;
  auth: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse, tls: boolean, port: number) => void;

let certDir: string;
let tlsOptions: { key: Buffer; cert: Buffer };

beforeAll(() => {
  certDir = mkdtempSync(join(tmpdir(), 'modelship-origin-'));
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(certDir, 'key.pem'),
    '-out',
    join(certDir, 'cert.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
  ]);
  tlsOptions = { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) };
});
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

/** One port, both protocols: a TLS ClientHello starts with 0x16, anything else is plain HTTP. */
async function dualServer(handler: Handler): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let port = 0;
  const wrap =
    (tls: boolean) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      seen.push({ tls, method: req.method!, path: req.url!, auth: req.headers.authorization });
      req.resume();
      req.on('end', () => handler(req, res, tls, port));
    };
  const plain = createHttpServer(wrap(false));
  const secure = createHttpsServer(tlsOptions, wrap(true));
  const tcp: Server = createTcpServer((socket) => {
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  port = (tcp.address() as AddressInfo).port;
  return {
    port,
    seen,
    close: async () => {
      plain.closeAllConnections();
      secure.closeAllConnections();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

function client(host: string, plainHttp: boolean, agent = createAgent(true)): HttpClient {
  const auth = new Authorizer({
    host,
    userAgent: 't',
    allowHttpRealm: plainHttp,
    dispatcher: agent,
    credentials: async () => ({ registryToken: 'secret-token' }),
  });
  return new HttpClient({ host, plainHttp, insecure: true, retries: 0, userAgent: 't', auth, agent });
}

describe('originPolicy', () => {
  const base = new URL('https://reg.example:5000/');
  it('sends credentials to the exact origin only', () => {
    expect(originPolicy(base, new URL('https://reg.example:5000/v2/x/blobs/uploads/1'))).toBe('send');
    expect(originPolicy(base, new URL('https://reg.example/v2/'))).toBe('withhold'); // other port
    expect(originPolicy(base, new URL('https://s3.example:5000/b'))).toBe('withhold'); // other host
    expect(originPolicy(new URL('http://reg.example:5000/'), new URL('https://reg.example:5000/'))).toBe('withhold');
    expect(originPolicy(new URL('http://127.0.0.1:5000/'), new URL('http://127.0.0.1:5001/u'))).toBe('withhold');
  });
  it('refuses plain HTTP from an HTTPS registry, and any scheme but http(s)', () => {
    expect(originPolicy(base, new URL('http://reg.example:5000/v2/'))).toBe('refuse');
    expect(originPolicy(base, new URL('http://cdn.example/blob'))).toBe('refuse');
    expect(originPolicy(base, new URL('file:///etc/passwd'))).toBe('refuse');
    expect(originPolicy(new URL('http://reg.example/'), new URL('ftp://reg.example/'))).toBe('refuse');
  });
});

describe('redirects', () => {
  it('an HTTPS registry redirecting to plain HTTP (same host and port) is refused, and nothing goes out in clear', async () => {
    const srv = await dualServer((_req, res, tls, port) => {
      if (tls) res.writeHead(307, { location: `http://127.0.0.1:${port}/blob?sig=1` }).end();
      else res.writeHead(200).end('bytes');
    });
    const c = client(`127.0.0.1:${srv.port}`, false);
    try {
      const e = await c
        .send({ method: 'GET', url: c.url('/v2/x/blobs/sha256:abc'), scopes: [], followRedirects: true })
        .then(
          () => undefined,
          (x: unknown) => x,
        );
      expect(e).toMatchObject({ code: 'NETWORK', message: expect.stringMatching(/plain HTTP/) as unknown as string });
      expect(srv.seen).toEqual([
        { tls: true, method: 'GET', path: '/v2/x/blobs/sha256:abc', auth: 'Bearer secret-token' },
      ]);
    } finally {
      await c.close();
      await srv.close();
    }
  });

  it('a redirect to another origin (another port) gets no Authorization, and a redirect back gets it again', async () => {
    const storage = await dualServer((_req, res) => {
      res.writeHead(307, { location: `https://127.0.0.1:${registry.port}/v2/x/blobs/final` }).end();
    });
    const registry = await dualServer((req, res) => {
      if (req.url === '/v2/x/blobs/final') res.writeHead(200).end('bytes');
      else res.writeHead(307, { location: `https://127.0.0.1:${storage.port}/signed?sig=1` }).end();
    });
    const c = client(`127.0.0.1:${registry.port}`, false);
    try {
      const res = await c.send({
        method: 'GET',
        url: c.url('/v2/x/blobs/sha256:abc'),
        scopes: [],
        followRedirects: true,
      });
      expect(await res.body.text()).toBe('bytes');
      expect(registry.seen.map((s) => s.auth)).toEqual(['Bearer secret-token', 'Bearer secret-token']);
      expect(storage.seen).toEqual([{ tls: true, method: 'GET', path: '/signed?sig=1', auth: undefined }]);
    } finally {
      await c.close();
      await storage.close();
      await registry.close();
    }
  });
});

describe('upload Locations', () => {
  const blob = Buffer.from('some blob bytes');
  const desc = { mediaType: 'application/octet-stream', digest: sha256Digest(blob), size: blob.length };

  /** A registry that answers HEAD 404 and POST 202 with `location(port)`, and takes any PUT. */
  function uploadRegistry(location: (port: number) => string): Handler {
    return (req, res, _tls, port) => {
      if (req.method === 'HEAD') res.writeHead(404).end();
      else if (req.method === 'POST') res.writeHead(202, { location: location(port), 'content-length': '0' }).end();
      else if (req.method === 'PUT') res.writeHead(201, { 'content-length': '0' }).end();
      else res.writeHead(405).end();
    };
  }

  function store(port: number, plainHttp: boolean, retries = 0): RegistryStore {
    return new RegistryStore({
      registry: `127.0.0.1:${port}`,
      repository: 'x/y',
      plainHttp,
      insecure: true,
      token: 'secret-token',
      retries,
      backoffMs: 1,
      dockerConfig: '/nonexistent',
    });
  }

  it('an upload Location that downgrades to plain HTTP is refused before any byte or credential is sent', async () => {
    const srv = await dualServer(uploadRegistry((port) => `http://127.0.0.1:${port}/upload/1?_state=s`));
    const s = store(srv.port, false, 2);
    try {
      await expect(s.push(desc, blob)).rejects.toMatchObject({
        code: 'NETWORK',
        message: expect.stringMatching(/plain HTTP/) as unknown as string,
      });
      expect(srv.seen.filter((x) => !x.tls)).toEqual([]);
      // A refusal is final: no second session is opened to be refused again.
      expect(srv.seen.filter((x) => x.method === 'POST')).toHaveLength(1);
    } finally {
      await s.close();
      await srv.close();
    }
  });

  it('an upload Location on another origin is followed without credentials (containerd does the same)', async () => {
    const other = await dualServer(uploadRegistry(() => 'unused'));
    const srv = await dualServer(uploadRegistry(() => `https://127.0.0.1:${other.port}/upload/1?_state=s`));
    const s = store(srv.port, false);
    try {
      await s.push(desc, blob);
      expect(srv.seen.map((x) => [x.method, x.auth])).toEqual([
        ['HEAD', 'Bearer secret-token'],
        ['POST', 'Bearer secret-token'],
      ]);
      expect(other.seen).toEqual([
        { tls: true, method: 'PUT', path: expect.stringMatching(/^\/upload\/1\?_state=s&digest=/), auth: undefined },
      ]);
    } finally {
      await s.close();
      await other.close();
      await srv.close();
    }
  });

  it('a plain-HTTP registry whose Location switches scheme (same host and port) is another origin: no credentials', async () => {
    const srv = await dualServer(uploadRegistry((port) => `https://127.0.0.1:${port}/upload/1`));
    const s = store(srv.port, true);
    try {
      await s.push(desc, blob);
      expect(srv.seen.map((x) => [x.tls, x.method, x.auth])).toEqual([
        [false, 'HEAD', 'Bearer secret-token'],
        [false, 'POST', 'Bearer secret-token'],
        [true, 'PUT', undefined],
      ]);
    } finally {
      await s.close();
      await srv.close();
    }
  });

  it('a chunked upload sent by the worker (file-sender.ts) whose PATCH answer moves it to another origin goes on there without credentials', async () => {
    // Plain-HTTP servers that keep every request body: the bytes must add up to the file.
    interface Got extends Seen {
      body: Buffer;
    }
    const plainServer = async (
      answer: (req: IncomingMessage, port: number) => [number, Record<string, string>],
    ): Promise<{ port: number; got: Got[]; close(): Promise<void> }> => {
      const got: Got[] = [];
      let port = 0;
      const server = createHttpServer((req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          got.push({ tls: false, method: req.method!, path: req.url!, auth: req.headers.authorization, body });
          const [status, headers] = answer(req, port);
          res.writeHead(status, { 'content-length': '0', ...headers }).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      port = (server.address() as AddressInfo).port;
      return {
        port,
        got,
        close: async () => {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
        },
      };
    };
    const other = await plainServer((req) =>
      req.method === 'PATCH' ? [202, { location: req.url! }] : req.method === 'PUT' ? [201, {}] : [405, {}],
    );
    const srv = await plainServer((req) => {
      if (req.method === 'HEAD') return [404, {}];
      if (req.method === 'POST') return [202, { location: '/v2/x/y/blobs/uploads/u1?_state=a' }];
      if (req.method === 'PATCH') return [202, { location: `http://127.0.0.1:${other.port}/upload/u1?_state=b` }];
      return [405, {}];
    });
    const dir = mkdtempSync(join(tmpdir(), 'modelship-origin-file-'));
    const file = join(dir, 'weights');
    const bytes = Buffer.alloc(9 * 1024 * 1024 + 77);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32BE(i, i);
    writeFileSync(file, bytes);
    const s = new RegistryStore({
      registry: `127.0.0.1:${srv.port}`,
      repository: 'x/y',
      plainHttp: true,
      token: 'secret-token',
      retries: 0,
      dockerConfig: '/nonexistent',
      chunkSize: 1024 * 1024,
      uploadStateDir: false,
    });
    try {
      let read = 0;
      const r = await s.ingest('application/octet-stream', createReadStream(file), {
        path: file,
        size: bytes.length,
        fileRead: (n) => (read += n),
      });
      expect(r.descriptor).toEqual({
        mediaType: 'application/octet-stream',
        digest: sha256Digest(bytes),
        size: bytes.length,
      });
      // The first chunk went from the worker, to the registry, with its token; the rest, and
      // the commit, to the other origin with none.
      expect(srv.got.map((x) => [x.method, x.auth])).toEqual([
        ['POST', 'Bearer secret-token'],
        ['PATCH', 'Bearer secret-token'],
      ]);
      expect(other.got.length).toBe(10);
      expect(other.got.every((x) => x.auth === undefined)).toBe(true);
      expect(other.got.at(-1)).toMatchObject({
        method: 'PUT',
        path: `/upload/u1?_state=b&digest=${encodeURIComponent(sha256Digest(bytes))}`,
      });
      const sent = Buffer.concat([...srv.got, ...other.got].map((x) => x.body));
      expect(sent.equals(bytes)).toBe(true);
      // Told as read by the worker: the first chunk, and the hash's catching up on the rest.
      expect(read).toBe(bytes.length);
    } finally {
      await s.close();
      await other.close();
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('token realm over plain HTTP', () => {
  let server: ReturnType<typeof createHttpServer>;
  let port: number;
  const seen: { host: string | undefined; auth: string | undefined }[] = [];
  // Every name resolves to our token service: a refused realm is refused by the rule, not by DNS.
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all)
      (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address: '127.0.0.1', family: 4 },
      ]);
    else callback(null, '127.0.0.1', 4);
  };
  const agent = new Agent({ connect: { lookup } });

  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      seen.push({ host: req.headers.host, auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't', expires_in: 300 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const authorizer = (host: string, plainHttp: boolean): Authorizer =>
    new Authorizer({
      host,
      userAgent: 't',
      allowHttpRealm: plainHttp,
      dispatcher: agent,
      credentials: async () => ({ username: 'u', password: 'p' }),
    });

  it('is refused for a DNS name that starts with 127. (before any connection), accepted for 127.0.0.1', async () => {
    seen.length = 0;
    await expect(
      authorizer('reg.example', false).challenge([`Bearer realm="http://127.0.0.1.evil.example:${port}/token"`], []),
    ).rejects.toMatchObject({ code: 'AUTH' });
    await expect(
      authorizer('reg.example', false).challenge([`Bearer realm="http://localhost:${port}/token"`], []),
    ).rejects.toMatchObject({ code: 'AUTH' });
    expect(seen).toEqual([]);
    expect(
      await authorizer('reg.example', false).challenge([`Bearer realm="http://127.0.0.1:${port}/token"`], []),
    ).toBe(true);
    expect(seen).toEqual([{ host: `127.0.0.1:${port}`, auth: `Basic ${Buffer.from('u:p').toString('base64')}` }]);
  });

  it('for a plain-HTTP registry: accepted on the registry host itself, refused on any other non-loopback host', async () => {
    seen.length = 0;
    await expect(
      authorizer('reg.example:5000', true).challenge([`Bearer realm="http://auth.evil.example:${port}/token"`], []),
    ).rejects.toMatchObject({ code: 'AUTH' });
    expect(seen).toEqual([]);
    expect(
      await authorizer('reg.example:5000', true).challenge([`Bearer realm="http://reg.example:${port}/token"`], []),
    ).toBe(true);
    expect(seen.map((s) => s.host)).toEqual([`reg.example:${port}`]);
  });

  it('counts IP literals in 127.0.0.0/8 and ::1 as loopback, never a name', () => {
    for (const h of ['127.0.0.1', '127.255.3.4', '[::1]', '::1', new URL('http://[0:0:0:0:0:0:0:1]/').hostname])
      expect(isLoopbackIp(h)).toBe(true);
    for (const h of ['127.0.0.1.evil.example', '127.evil.example', 'localhost', '128.0.0.1', '[::2]', 'evil.example'])
      expect(isLoopbackIp(h)).toBe(false);
    // The URL parser canonicalises other IPv4 spellings, so they are judged by their value.
    expect(isLoopbackIp(new URL('http://0x7f000001/').hostname)).toBe(true);
    expect(isLoopbackIp(new URL('http://127.1/').hostname)).toBe(true);
  });
});
