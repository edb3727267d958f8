import { BlockList, isIP } from 'node:net';
import { request, type Dispatcher } from 'undici';
import { ModelshipError, opt } from '../errors.js';
import { MAX_API_BODY, readCapped } from '../streams.js';

/** One `WWW-Authenticate` challenge; `scheme` is lower-cased, parameter names too. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** What we may authenticate with. `registryToken` is used as Bearer as-is; `identityToken` is an OAuth2 refresh token. */
export interface Credential {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

export type CredentialProvider = () => Promise<Credential | undefined>;

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses `WWW-Authenticate` values (RFC 7235): several challenges per header line and several
 * lines, quoted strings with backslash escapes, case-insensitive schemes and parameter names.
 */
export function parseChallenges(values: string | readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of typeof values === 'string' ? [values] : values) {
    let i = 0;
    const n = value.length;
    const skip = (chars: RegExp): void => {
      while (i < n && chars.test(value[i]!)) i++;
    };
    const token = (): string => {
      const start = i;
      while (i < n && TOKEN_CHAR.test(value[i]!)) i++;
      return value.slice(start, i);
    };
    let current: Challenge | undefined;
    while (i < n) {
      skip(/[\s,]/);
      if (i >= n) break;
      const start = i;
      const name = token();
      if (name === '') {
        i++; // stray character: skip it rather than loop forever
        continue;
      }
      skip(/\s/);
      if (current && value[i] === '=') {
        i++;
        skip(/\s/);
        let v = '';
        if (value[i] === '"') {
          i++;
          while (i < n && value[i] !== '"') {
            if (value[i] === '\\' && i + 1 < n) i++;
            v += value[i++];
          }
          i++; // closing quote
        } else {
          const vs = i;
          while (i < n && value[i] !== ',' && !/\s/.test(value[i]!)) i++;
          v = value.slice(vs, i);
        }
        current.params[name.toLowerCase()] = v;
        continue;
      }
      if (value[i] === '=' && !current) {
        i = start + name.length + 1; // a parameter without a scheme: malformed, skip it
        continue;
      }
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

interface CachedToken {
  token: string;
  refreshAt: number;
}

/** Bearer tokens per scope set, refreshed a little before they expire (checked before every request). */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();
  constructor(private readonly now: () => number = Date.now) {}

  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (this.now() >= t.refreshAt) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /** `expiresInSec` defaults to 60 (token spec) when the server does not say. */
  set(key: string, token: string, expiresInSec: number | undefined, receivedAt: number = this.now()): void {
    const lifetime = (expiresInSec && expiresInSec > 0 ? expiresInSec : 60) * 1000;
    // Refresh early: a token that expires between two PATCHes of one upload breaks the push.
    const margin = Math.min(10_000, lifetime / 5);
    this.tokens.set(key, { token, refreshAt: receivedAt + lifetime - margin });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}

export function scopeKey(scopes: readonly string[]): string {
  return [...new Set(scopes)].sort().join(' ');
}

export function repositoryScope(repository: string, actions: 'pull' | 'pull,push' | 'delete'): string {
  return `repository:${repository}:${actions}`;
}

export interface AuthorizerOptions {
  /** The registry API host (for messages and the loopback rule). */
  host: string;
  credentials: CredentialProvider;
  dispatcher: Dispatcher;
  userAgent: string;
  /** The registry is used over plain HTTP: a plain-HTTP realm on the registry's own host is accepted. */
  allowHttpRealm: boolean;
  now?: () => number;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * A loopback IP literal (127.0.0.0/8, ::1, IPv4-mapped forms of 127/8), as a URL's `hostname`
 * spells it. Names never count, `localhost` included: whoever answers DNS (or /etc/hosts)
 * decides where a name goes, and `127.0.0.1.evil.example` is an ordinary public name.
 */
export function isLoopbackIp(hostname: string): boolean {
  const h = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

function hostnameOf(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Why credentials may not go to `realm`, or undefined when they may. The realm is another
 * origin by design (auth.docker.io for Docker Hub) and gets the registry's credentials, as
 * docker and containerd send them, but never over plain HTTP unless the realm is a loopback IP
 * literal, or the registry itself was named as plain HTTP and the realm is on that same host
 * (Harbor serves its token service next to the registry): --plain-http consents to clear text
 * with that host, not with any host the registry names.
 */
function realmRefusal(realm: URL, registryHost: string, registryPlainHttp: boolean): string | undefined {
  if (realm.protocol === 'https:') return undefined;
  if (realm.protocol !== 'http:') return `a ${realm.protocol} token service`;
  if (isLoopbackIp(realm.hostname)) return undefined;
  if (registryPlainHttp && realm.hostname === hostnameOf(registryHost)) return undefined;
  return `a plain-HTTP token service on another host (${realm.origin})`;
}

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/** The auth state of one registry host: which scheme it asked for, and the tokens we hold. */
export class Authorizer {
  private scheme: 'basic' | 'bearer' | undefined;
  private realm: URL | undefined;
  private service: string | undefined;
  private readonly cache: TokenCache;
  private readonly inflight = new Map<string, Promise<string>>();
  private cred: Promise<Credential | undefined> | undefined;

  constructor(private readonly opts: AuthorizerOptions) {
    this.cache = new TokenCache(opts.now);
  }

  private credentials(): Promise<Credential | undefined> {
    this.cred ??= this.opts.credentials();
    return this.cred;
  }

  /** Whether we hold any credential at all (for error messages). */
  async hasCredentials(): Promise<boolean> {
    const c = await this.credentials();
    return !!c && !!(c.password || c.identityToken || c.registryToken);
  }

  async username(): Promise<string | undefined> {
    return (await this.credentials())?.username;
  }

  /** The Authorization header for a request needing `scopes`, or undefined before any challenge. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const cred = await this.credentials();
    if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
    if (this.scheme === 'basic')
      return cred?.username !== undefined && cred.password !== undefined
        ? basic(cred.username, cred.password)
        : undefined;
    if (this.scheme === 'bearer') return `Bearer ${await this.token(scopes)}`;
    return undefined;
  }

  /**
   * Learns from a 401. Returns true when a retry may succeed (fresh token or credentials
   * now attached), false when retrying would send the same thing again.
   */
  async challenge(values: readonly string[], scopes: readonly string[], sent?: string): Promise<boolean> {
    const cs = parseChallenges(values);
    const bearer = cs.find((c) => c.scheme === 'bearer');
    const cred = await this.credentials();
    if (cred?.registryToken) return false;
    if (bearer?.params['realm']) {
      let realm: URL;
      try {
        realm = new URL(bearer.params['realm']);
      } catch {
        throw new ModelshipError(
          'NETWORK',
          `registry ${this.opts.host} sent a Bearer challenge with an invalid realm "${bearer.params['realm']}"`,
        );
      }
      this.scheme = 'bearer';
      this.realm = realm;
      this.service = bearer.params['service'];
      const want = [...scopes];
      // A challenge may name a scope we did not think of (e.g. one more action): ask for it too.
      if (bearer.params['scope'])
        for (const s of bearer.params['scope'].split(' ')) if (s && !want.includes(s)) want.push(s);
      const key = scopeKey(scopes);
      this.cache.delete(key);
      await this.token(scopes, want);
      return true;
    }
    if (cs.some((c) => c.scheme === 'basic')) {
      this.scheme = 'basic';
      if (cred?.username === undefined || cred.password === undefined) return false;
      // Judge by what the failed request carried, not by shared state: concurrent requests all
      // go out bare before the first challenge, and each of them deserves one retry.
      return sent !== basic(cred.username, cred.password);
    }
    return false;
  }

  private async token(scopes: readonly string[], request: readonly string[] = scopes): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.cache.get(key);
    if (cached) return cached;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(request).then(
        ({ token, expiresIn, receivedAt }) => {
          this.cache.set(key, token, expiresIn, receivedAt);
          this.inflight.delete(key);
          return token;
        },
        (e: unknown) => {
          this.inflight.delete(key);
          throw e;
        },
      );
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchToken(
    scopes: readonly string[],
  ): Promise<{ token: string; expiresIn?: number; receivedAt: number }> {
    const realm = this.realm!;
    const cred = await this.credentials();
    const sendsSecret = !!(cred?.password || cred?.identityToken);
    const refusal = sendsSecret ? realmRefusal(realm, this.opts.host, this.opts.allowHttpRealm) : undefined;
    if (refusal)
      throw new ModelshipError('AUTH', `refusing to send the credentials for ${this.opts.host} to ${refusal}`, {
        hint: 'the registry advertised a token realm that is not HTTPS; serve the token service over HTTPS (plain HTTP is accepted only on a loopback IP, or on the host of a registry used over plain HTTP)',
      });
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, accept: 'application/json' };
    const receivedAt = (this.opts.now ?? Date.now)();
    let res: Dispatcher.ResponseData;
    try {
      if (cred?.identityToken) {
        // OAuth2 refresh-token grant (docker config `identitytoken`, ACR).
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: cred.identityToken,
          client_id: 'modelship',
        });
        if (this.service) form.set('service', this.service);
        if (scopes.length) form.set('scope', scopes.join(' '));
        res = await request(realm, {
          dispatcher: this.opts.dispatcher,
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        });
      } else {
        const url = new URL(realm);
        if (this.service) url.searchParams.set('service', this.service);
        for (const s of scopes) url.searchParams.append('scope', s);
        if (cred?.username !== undefined && cred.password !== undefined)
          headers['authorization'] = basic(cred.username, cred.password);
        res = await request(url, { dispatcher: this.opts.dispatcher, method: 'GET', headers });
      }
    } catch (e) {
      throw new ModelshipError(
        'NETWORK',
        `token service ${realm.origin}${realm.pathname} for registry ${this.opts.host} is unreachable: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    const text = (await readCapped(res.body, MAX_API_BODY, `token answer from ${realm.origin}`)).toString('utf8');
    if (res.statusCode === 401 || res.statusCode === 403)
      throw new ModelshipError(
        'AUTH',
        `the token service of ${this.opts.host} rejected ${cred?.username ? `the credentials of user "${cred.username}"` : 'anonymous access'} (HTTP ${res.statusCode})`,
        {
          hint: loginHint(this.opts.host),
        },
      );
    if (res.statusCode !== 200)
      throw new ModelshipError(
        'NETWORK',
        `token service ${realm.origin}${realm.pathname} answered HTTP ${res.statusCode} for registry ${this.opts.host}`,
      );
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (e) {
      throw new ModelshipError('NETWORK', `token service of ${this.opts.host} returned something that is not JSON`, {
        cause: e,
      });
    }
    const token =
      typeof body.token === 'string' && body.token
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : '';
    if (!token) throw new ModelshipError('NETWORK', `token service of ${this.opts.host} returned no token`);
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : undefined;
    return expiresIn === undefined ? { token, receivedAt } : { token, expiresIn, receivedAt };
  }
}

export function loginHint(host: string): string {
  return `pass the user with ${opt('username')} and the password or a token with ${opt('password')}, or run \`docker login ${host}\` so the docker config.json / credential helper has an entry for ${host}`;
}
