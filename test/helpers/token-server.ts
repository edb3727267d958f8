/**
 * A minimal distribution token server (docs/content/spec/auth/token.md) for tests: checks
 * Basic credentials, grants the intersection of requested and allowed actions, and signs an
 * ES256 JWT whose `x5c` header carries a self-signed certificate the registry trusts through
 * `rootcertbundle`.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** repository name (or `*`, or `prefix/*`) → allowed actions. */
export type AccessRules = Record<string, string[]>;

export interface TokenUser {
  password: string;
  access: AccessRules;
}

export interface TokenServerOptions {
  /** Directory for the generated certificate and key. */
  dir: string;
  users: Record<string, TokenUser>;
  /** What a request without credentials gets (default nothing). */
  anonymous?: AccessRules;
  /** Token lifetime in seconds (default 300); short values exercise refresh. */
  expiresIn?: number;
  service?: string;
  issuer?: string;
}

export interface IssuedToken {
  user: string | undefined;
  scopes: string[];
  granted: { type: string; name: string; actions: string[] }[];
  at: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file for the registry's `rootcertbundle`. */
  certPath: string;
  issued: IssuedToken[];
  /** Failed Basic logins. */
  rejected: number;
  setExpiresIn(seconds: number): void;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function allowed(rules: AccessRules | undefined, name: string): string[] {
  if (!rules) return [];
  const out = new Set<string>();
  for (const [pattern, actions] of Object.entries(rules)) {
    const match =
      pattern === '*' || pattern === name || (pattern.endsWith('/*') && name.startsWith(pattern.slice(0, -1)));
    if (match) for (const a of actions) out.add(a);
  }
  return [...out];
}

/** `repository:name:pull,push`; the name may itself contain `:` (host:port), so split at the ends. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

async function makeCert(dir: string): Promise<{ key: KeyObject; certDerB64: string; certPath: string }> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  await execFileP('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=modelship-test-token-signer',
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const cert = new X509Certificate(await readFile(certPath));
  return { key, certDerB64: cert.raw.toString('base64'), certPath };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const { key, certDerB64, certPath } = await makeCert(opts.dir);
  const service = opts.service ?? 'modelship-test-registry';
  const issuer = opts.issuer ?? 'modelship-test-issuer';
  let expiresIn = opts.expiresIn ?? 300;
  const issued: IssuedToken[] = [];
  let rejected = 0;

  const jwt = (sub: string, access: IssuedToken['granted']): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'ES256', typ: 'JWT', x5c: [certDerB64] };
    const claims = {
      iss: issuer,
      sub,
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    let user: string | undefined;
    let rules = opts.anonymous;
    const auth = req.headers.authorization;
    if (auth) {
      const m = /^Basic\s+(.+)$/i.exec(auth);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const i = decoded.indexOf(':');
      const name = decoded.slice(0, i);
      const entry = i > 0 ? opts.users[name] : undefined;
      if (!entry || entry.password !== decoded.slice(i + 1)) {
        rejected++;
        res.writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': 'Basic realm="modelship-test-token"',
        });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      user = name;
      rules = entry.access;
    }
    if (url.searchParams.get('service') !== service) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'unknown service' }));
      return;
    }
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    const granted: IssuedToken['granted'] = [];
    for (const s of scopes) {
      const p = parseScope(s);
      if (!p || p.type !== 'repository') continue;
      const ok = allowed(rules, p.name);
      const actions = p.actions.filter((a) => ok.includes(a));
      if (actions.length) granted.push({ type: p.type, name: p.name, actions });
    }
    issued.push({ user, scopes, granted, at: Date.now() });
    const token = jwt(user ?? '', granted);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPath,
    issued,
    get rejected() {
      return rejected;
    },
    setExpiresIn(seconds: number) {
      expiresIn = seconds;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
