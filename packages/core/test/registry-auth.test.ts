import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { Authorizer, TokenCache, parseChallenges, scopeKey } from '../src/registry/auth.js';
import {
  dockerConfigPath,
  explicitCredential,
  keyToHostname,
  lookupDockerCredential,
} from '../src/registry/credentials.js';
import { HttpClient, createAgent } from '../src/registry/http.js';
import { chooseStrategy, ingestMode, withDigest } from '../src/registry/upload.js';
import { nextLink } from '../src/registry/referrers.js';

describe('WWW-Authenticate parsing', () => {
  it('parses a Bearer challenge with quoted parameters', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:samalba/my-app:pull,push',
        },
      },
    ]);
  });

  it('splits several challenges in one header and across header lines', () => {
    const cs = parseChallenges([
      'Basic realm="basic, with comma", BEARER realm="https://r/token", service=svc',
      'Negotiate',
    ]);
    expect(cs).toEqual([
      { scheme: 'basic', params: { realm: 'basic, with comma' } },
      { scheme: 'bearer', params: { realm: 'https://r/token', service: 'svc' } },
      { scheme: 'negotiate', params: {} },
    ]);
  });

  it('handles escapes, spacing and case in parameter names', () => {
    expect(parseChallenges('Bearer  Realm = "a\\"b" ,  error="insufficient_scope"')).toEqual([
      { scheme: 'bearer', params: { realm: 'a"b', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('TokenCache', () => {
  it('expires tokens before their lifetime ends and defaults to 60 s', () => {
    let now = 1_000_000;
    const c = new TokenCache(() => now);
    c.set('k', 'tok', undefined);
    now += 49_000;
    expect(c.get('k')).toBe('tok');
    now += 2_000; // inside the 10 s safety margin of a 60 s token
    expect(c.get('k')).toBeUndefined();

    c.set('short', 's', 2);
    now += 1_500;
    expect(c.get('short')).toBe('s');
    now += 200; // 2 s token: refreshed after 80 % of its life
    expect(c.get('short')).toBeUndefined();
  });

  it('keys scope sets independent of order and duplicates', () => {
    expect(scopeKey(['b', 'a', 'b'])).toBe(scopeKey(['a', 'b']));
  });
});

describe('Authorizer', () => {
  let server: Server;
  let realm: string;
  const seen: { method: string; url: URL; auth: string | undefined; body: string }[] = [];
  const agent = new Agent();
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: new URL(req.url!, 'http://x'), auth: req.headers.authorization, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            req.method === 'POST'
              ? { access_token: `oauth-${seen.length}` }
              : { token: `t-${seen.length}`, expires_in: 300 },
          ),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('fetches a token with service, one scope per resource and Basic creds, caches it, refreshes when expired', async () => {
    seen.length = 0;
    let now = 0;
    const a = new Authorizer({
      host: 'reg.test',
      userAgent: 't',
      allowHttpRealm: false,
      dispatcher: agent,
      now: () => now,
      credentials: async () => ({ username: 'u', password: 'p' }),
    });
    expect(await a.header(['repository:a:pull'])).toBeUndefined();
    const scopes = ['repository:dst:pull,push', 'repository:src:pull'];
    expect(await a.challenge([`Bearer realm="${realm}",service="svc",scope="repository:dst:pull,push"`], scopes)).toBe(
      true,
    );
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url.searchParams.get('service')).toBe('svc');
    expect(seen[0]!.url.searchParams.getAll('scope')).toEqual(scopes);
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(await a.header(scopes)).toBe('Bearer t-1');
    expect(await a.header(scopes)).toBe('Bearer t-1');
    expect(seen).toHaveLength(1);
    now += 295_000; // within 10 s of expiry: the next request gets a fresh token first
    expect(await a.header(scopes)).toBe('Bearer t-2');
    // A different scope set is a different token.
    expect(await a.header(['repository:other:pull'])).toBe('Bearer t-3');
  });

  it('uses OAuth2 POST for identity tokens and a registry token as-is', async () => {
    seen.length = 0;
    const a = new Authorizer({
      host: 'reg.test',
      userAgent: 't',
      allowHttpRealm: false,
      dispatcher: agent,
      credentials: async () => ({ identityToken: 'refresh-me' }),
    });
    await a.challenge([`Bearer realm="${realm}",service="svc"`], ['repository:x:pull']);
    expect(seen[0]!.method).toBe('POST');
    const form = new URLSearchParams(seen[0]!.body);
    expect(form.get('grant_type')).toBe('refresh_token');
    expect(form.get('refresh_token')).toBe('refresh-me');
    expect(form.get('scope')).toBe('repository:x:pull');
    expect(await a.header(['repository:x:pull'])).toBe('Bearer oauth-1');

    const r = new Authorizer({
      host: 'reg.test',
      userAgent: 't',
      allowHttpRealm: false,
      dispatcher: agent,
      credentials: async () => ({ registryToken: 'rt' }),
    });
    expect(await r.header(['repository:x:pull'])).toBe('Bearer rt');
  });

  it('switches to Basic on a Basic challenge only when it has credentials, and refuses plain-http realms off loopback', async () => {
    const b = new Authorizer({
      host: 'reg.test',
      userAgent: 't',
      allowHttpRealm: false,
      dispatcher: agent,
      credentials: async () => ({ username: 'u', password: 'p' }),
    });
    expect(await b.challenge(['Basic realm="x"'], [])).toBe(true);
    const sent = await b.header([]);
    expect(sent).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    // a concurrent request that went out bare before the first challenge still gets its retry
    expect(await b.challenge(['Basic realm="x"'], [], undefined)).toBe(true);
    expect(await b.challenge(['Basic realm="x"'], [], sent)).toBe(false); // same creds again would be pointless
    const anon = new Authorizer({
      host: 'reg.test',
      userAgent: 't',
      allowHttpRealm: false,
      dispatcher: agent,
      credentials: async () => undefined,
    });
    expect(await anon.challenge(['Basic realm="x"'], [])).toBe(false);
    const remote = new Authorizer({
      host: 'reg.test',
      userAgent: 't',
      allowHttpRealm: false,
      dispatcher: agent,
      credentials: async () => ({ username: 'u', password: 'p' }),
    });
    await expect(remote.challenge(['Bearer realm="http://auth.example.com/token"'], [])).rejects.toMatchObject({
      code: 'AUTH',
    });
  });
});

describe('docker config credentials', () => {
  let dir: string;
  let bin: string;
  const env = (): NodeJS.ProcessEnv => ({
    PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    HOME: join(dir, 'home'),
    DOCKER_CONFIG: join(dir, 'cfg'),
  });
  const b64 = (s: string): string => Buffer.from(s).toString('base64');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelship-creds-'));
    bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await mkdir(join(dir, 'cfg'), { recursive: true });
    // A fake helper: echoes the server URL it got on stdin back as the username; knows two servers.
    await writeFile(
      join(bin, 'docker-credential-fake'),
      `#!/bin/sh
[ "$1" = get ] || exit 3
read url
case "$url" in
  reg.helper.test|https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"from-helper:%s","Secret":"helper-secret"}' "$url" "$url" ;;
  tok.test) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh"}' "$url" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
    );
    await chmod(join(bin, 'docker-credential-fake'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function config(c: unknown): Promise<void> {
    await writeFile(join(dir, 'cfg', 'config.json'), JSON.stringify(c));
  }

  it('finds config.json through DOCKER_CONFIG, else ~/.docker', () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: '/x' })).toBe('/x/config.json');
    expect(dockerConfigPath({ HOME: '/home/u' })).toBe('/home/u/.docker/config.json');
  });

  it('reads auths entries: base64 auth, username/password, identity and registry tokens, Hub and legacy keys', async () => {
    await config({
      auths: {
        'reg.test:5000': { auth: b64('alice:pa:ss\0') },
        'https://index.docker.io/v1/': { username: 'hubber', password: 'hubpw' },
        'https://legacy.test/v1/': { auth: b64('old:pw') },
        'id.test': { identitytoken: 'idt' },
        'rt.test': { registrytoken: 'rtok' },
      },
    });
    expect(await lookupDockerCredential('reg.test:5000', { env: env() })).toEqual({
      username: 'alice',
      password: 'pa:ss',
    });
    expect(await lookupDockerCredential('docker.io', { env: env() })).toEqual({
      username: 'hubber',
      password: 'hubpw',
    });
    expect(await lookupDockerCredential('legacy.test', { env: env() })).toEqual({ username: 'old', password: 'pw' });
    expect(await lookupDockerCredential('id.test', { env: env() })).toEqual({ identityToken: 'idt' });
    expect(await lookupDockerCredential('rt.test', { env: env() })).toEqual({ registryToken: 'rtok' });
    expect(await lookupDockerCredential('unknown.test', { env: env() })).toBeUndefined();
    expect(keyToHostname('https://ghcr.io/v1/')).toBe('ghcr.io');
  });

  it('asks credHelpers[host] first, then credsStore, then auths', async () => {
    await config({
      credHelpers: { 'reg.helper.test': 'fake' },
      auths: { 'reg.helper.test': { auth: b64('file:pw') }, 'other.test': { auth: b64('file2:pw2') } },
    });
    expect(await lookupDockerCredential('reg.helper.test', { env: env() })).toEqual({
      username: 'from-helper:reg.helper.test',
      password: 'helper-secret',
    });

    await config({ credsStore: 'fake', auths: { 'other.test': { auth: b64('file2:pw2') } } });
    expect(await lookupDockerCredential('docker.io', { env: env() })).toEqual({
      username: 'from-helper:https://index.docker.io/v1/',
      password: 'helper-secret',
    });
    expect(await lookupDockerCredential('tok.test', { env: env() })).toEqual({ identityToken: 'refresh' });
    // The helper says "not found": fall back to the file entry.
    expect(await lookupDockerCredential('other.test', { env: env() })).toEqual({ username: 'file2', password: 'pw2' });

    await config({ credHelpers: { 'x.test': 'missing-helper' } });
    expect(await lookupDockerCredential('x.test', { env: env() })).toBeUndefined();

    // An empty helper for a host means "use auths", skipping credsStore (docker's rule; the
    // setup action relies on it so a stale stored login cannot win over the fresh one).
    await config({
      credsStore: 'fake',
      credHelpers: { 'fresh.test': '' },
      auths: { 'fresh.test': { auth: b64('fresh:login') } },
    });
    expect(await lookupDockerCredential('fresh.test', { env: env() })).toEqual({
      username: 'fresh',
      password: 'login',
    });
    expect(await lookupDockerCredential('tok.test', { env: env() })).toEqual({ identityToken: 'refresh' });
  });

  it('honours an explicit config path and lets explicit options win', async () => {
    const p = join(dir, 'explicit.json');
    await writeFile(p, JSON.stringify({ auths: { 'e.test': { auth: b64('e:f') } } }));
    expect(await lookupDockerCredential('e.test', { env: env(), configPath: p })).toEqual({
      username: 'e',
      password: 'f',
    });
    expect(explicitCredential({ username: 'u', token: 'ghp' })).toEqual({ username: 'u', password: 'ghp' });
    expect(explicitCredential({ token: 'bearer' })).toEqual({ registryToken: 'bearer' });
    expect(explicitCredential({})).toBeUndefined();
    expect(() => explicitCredential({ password: 'p' })).toThrow(
      expect.objectContaining({ code: 'USAGE' }) as unknown as Error,
    );
  });

  // A broken default config.json blocked anonymous pulls of public artifacts: now a warning.
  it('warns about a broken default config.json and goes on; one named by configPath is AUTH', async () => {
    const path = join(dir, 'cfg', 'config.json');
    await writeFile(path, '{not json');
    const warnings: string[] = [];
    expect(await lookupDockerCredential('a.test', { env: env(), warn: (m) => warnings.push(m) })).toBeUndefined();
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^docker config ${path} is not valid JSON .*; going on without its credentials`),
      ),
    ]);
    await expect(lookupDockerCredential('a.test', { env: env(), configPath: path })).rejects.toMatchObject({
      code: 'AUTH',
      message: expect.stringContaining(`docker config ${path} is not valid JSON`) as unknown as string,
    });
  });
});

describe('upload strategy and URL helpers', () => {
  it('picks monolithic for GHCR/GAR/GCR and chunks big blobs on Docker Hub', () => {
    expect(chooseStrategy('ghcr.io', 'auto', 10 * 2 ** 30)).toBe('monolithic');
    expect(chooseStrategy('europe-docker.pkg.dev', 'auto', 10 * 2 ** 30)).toBe('monolithic');
    expect(chooseStrategy('eu.gcr.io', 'auto', 10 * 2 ** 30)).toBe('monolithic');
    expect(chooseStrategy('registry-1.docker.io', 'auto', 500 * 2 ** 20)).toBe('chunked');
    expect(chooseStrategy('registry-1.docker.io', 'auto', 1000)).toBe('monolithic');
    // Elsewhere a blob of 8 chunks or more goes up in resumable chunks; a smaller one in one PUT.
    expect(chooseStrategy('localhost:5000', 'auto', 10 * 2 ** 30)).toBe('chunked');
    expect(chooseStrategy('localhost:5000', 'auto', 500 * 2 ** 20)).toBe('monolithic');
    expect(chooseStrategy('ghcr.io', 'chunked', 1)).toBe('chunked');
    expect(ingestMode('ghcr.io', 'auto')).toBe('spool');
    expect(ingestMode('localhost:5000', 'auto')).toBe('stream');
  });

  it('appends the digest to an opaque Location with ? or &', () => {
    const d = 'sha256:' + '0'.repeat(64);
    expect(withDigest(new URL('http://r/v2/x/blobs/uploads/u1'), d).href).toBe(
      `http://r/v2/x/blobs/uploads/u1?digest=sha256%3A${'0'.repeat(64)}`,
    );
    expect(withDigest(new URL('http://r/v2/x/blobs/uploads/u1?_state=ab%2Bc%3D'), d).href).toBe(
      `http://r/v2/x/blobs/uploads/u1?_state=ab%2Bc%3D&digest=sha256%3A${'0'.repeat(64)}`,
    );
  });

  it('finds rel="next" in Link headers', () => {
    expect(nextLink(['</v2/x/referrers/d?n=2&last=a>; rel="next"'])).toBe('/v2/x/referrers/d?n=2&last=a');
    expect(nextLink(['<a>; rel="prev", <b>; rel=next'])).toBe('b');
    expect(nextLink([])).toBeUndefined();
  });
});

describe('HttpClient redirects', () => {
  it('follows a blob redirect to another host without sending Authorization there', async () => {
    const seen: { server: string; auth: string | undefined }[] = [];
    const storage = createServer((req, res) => {
      seen.push({ server: 'storage', auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('bytes');
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', () => r()));
    const storagePort = (storage.address() as AddressInfo).port;
    const registry = createServer((req, res) => {
      seen.push({ server: 'registry', auth: req.headers.authorization });
      res.writeHead(307, { location: `http://localhost:${storagePort}/signed?sig=1` }).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', () => r()));
    const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    const agent = createAgent(false);
    const auth = new Authorizer({
      host,
      userAgent: 't',
      allowHttpRealm: true,
      dispatcher: agent,
      credentials: async () => ({ registryToken: 'secret-token' }),
    });
    const client = new HttpClient({ host, plainHttp: true, insecure: false, retries: 0, userAgent: 't', auth, agent });
    try {
      const res = await client.send({
        method: 'GET',
        url: client.url('/v2/x/blobs/sha256:abc'),
        scopes: [],
        followRedirects: true,
      });
      expect(res.status).toBe(200);
      expect(await res.body.text()).toBe('bytes');
      expect(res.url.host).toBe(`localhost:${storagePort}`);
      expect(seen).toEqual([
        { server: 'registry', auth: 'Bearer secret-token' },
        { server: 'storage', auth: undefined },
      ]);
    } finally {
      await client.close();
      await new Promise<void>((r) => registry.close(() => r()));
      await new Promise<void>((r) => storage.close(() => r()));
    }
  });
});
