import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { ModelshipError, opt } from '../errors.js';
import type { Authorizer } from './auth.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  method: Method;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer can be re-sent (retries, auth); a stream cannot, so its 401/5xx go back to the caller. */
  body?: Buffer | Readable;
  /** Token scopes this request needs (`repository:<name>:pull`, …). */
  scopes: readonly string[];
  /** GET/HEAD only: follow 3xx (blob GETs are often redirected to object storage). */
  followRedirects?: boolean;
  /** Override for slow commits (the final PUT of a multi-GiB blob can take minutes on S3 backends). */
  headersTimeout?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects); Location headers resolve against it. */
  url: URL;
  /** A 401 on a non-replayable request after which fresh credentials are cached: retrying the whole operation may work. */
  authRefreshed?: boolean;
}

export interface HttpClientOptions {
  /** API host[:port] of the registry: with the scheme, the only origin that ever receives Authorization. */
  host: string;
  plainHttp: boolean;
  insecure: boolean;
  retries: number;
  userAgent: string;
  auth: Authorizer;
  agent: Agent;
  /** Base backoff in ms (tests shorten it). */
  backoffMs?: number;
  /** Header and body idle timeout in ms (default 300 000); a request's own headersTimeout wins. */
  timeoutMs?: number;
}

const RETRY_STATUS = new Set([408, 429, 499, 500, 502, 503, 504, 522]);
const RETRY_NET = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'EAI_AGAIN',
]);
const TLS_PLAIN = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'EPROTO']);
const TLS_CERT = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const MAX_REDIRECTS = 5;
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * What a request of this registry's client may do at `target`: carry credentials (`send`,
 * the registry's exact origin: scheme, host and port), go without them (`withhold`, any
 * other origin: object storage behind a blob redirect, an upload Location on another host),
 * or not go at all (`refuse`): an HTTPS registry is never followed to plain HTTP, whether by
 * a redirect, an upload Location or a `Link` page, because that exposes the request (and a
 * signed object-storage URL) on the wire; and nothing but http(s) is ever fetched.
 */
export function originPolicy(base: URL, target: URL): 'send' | 'withhold' | 'refuse' {
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return 'refuse';
  if (base.protocol === 'https:' && target.protocol !== 'https:') return 'refuse';
  return target.origin === base.origin ? 'send' : 'withhold';
}

const refusedTargets = new WeakSet<Error>();
function markRefused(e: ModelshipError): ModelshipError {
  refusedTargets.add(e);
  return e;
}
/** A request refused by originPolicy: retrying it (or a new upload session) changes nothing. */
export function isRefusedTarget(e: unknown): boolean {
  return e instanceof Error && refusedTargets.has(e);
}

export function header(res: { headers: HttpResponse['headers'] }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function headerAll(res: { headers: HttpResponse['headers'] }, name: string): string[] {
  const v = res.headers[name.toLowerCase()];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function errnoCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Backoff with jitter: base·2^attempt, capped, scaled by 0.5–1 so parallel lanes don't retry in lockstep. */
export function backoffDelay(attempt: number, baseMs: number, retryAfter?: string): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, MAX_RETRY_AFTER_MS);
  }
  const cap = Math.min(baseMs * 2 ** attempt, 10_000);
  return cap / 2 + Math.random() * (cap / 2);
}

export function createAgent(insecure: boolean): Agent {
  return new Agent({
    connect: { rejectUnauthorized: !insecure },
    // Separate HTTP/1.1 connections per blob lane: multiplexing big bodies on one connection caps throughput.
    pipelining: 1,
    keepAliveTimeout: 30_000,
  });
}

/** undici with the registry's auth, redirects and retry rules. */
export class HttpClient {
  readonly agent: Agent;
  readonly baseUrl: URL;
  private connectedOnce = false;

  constructor(private readonly opts: HttpClientOptions) {
    this.agent = opts.agent;
    this.baseUrl = new URL(`${opts.plainHttp ? 'http' : 'https'}://${opts.host}/`);
  }

  get host(): string {
    return this.opts.host;
  }

  url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  /**
   * The headers `send` would put on a request to `url` (user agent, the cached credentials),
   * for a request made outside undici (blob-receiver.ts, file-sender.ts); undefined when `url` is not the registry's
   * own origin, which never gets credentials from here.
   */
  async headersFor(
    url: URL,
    scopes: readonly string[],
    extra: Record<string, string>,
  ): Promise<Record<string, string> | undefined> {
    if (originPolicy(this.baseUrl, url) !== 'send') return undefined;
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...extra };
    const auth = await this.opts.auth.header(scopes);
    if (auth) headers['authorization'] = auth;
    return headers;
  }

  /** How long a request may wait on the registry (undici's body and headers timeouts here). */
  get timeoutMs(): number {
    return this.opts.timeoutMs ?? 300_000;
  }

  /**
   * A 401 to a request made outside undici (registry/file-sender.ts): asks for credentials
   * again as `send` does; whether fresh ones are cached now.
   */
  async challenged(challenges: readonly string[], scopes: readonly string[], sent?: string): Promise<boolean> {
    return this.opts.auth.challenge(challenges, scopes, sent);
  }

  async send(req: HttpRequest): Promise<HttpResponse> {
    const replayable = req.body === undefined || Buffer.isBuffer(req.body);
    let url = req.url;
    let attempt = 0;
    let redirects = 0;
    let authRetried = false;
    for (;;) {
      // Checked for every hop: redirects, upload Locations and Link pages all come from the
      // registry, and only its exact origin gets Authorization (undici is not asked to follow
      // redirects; this loop does, so this is the one place that decides).
      const policy = originPolicy(this.baseUrl, url);
      if (policy === 'refuse') throw this.refused(req, url, redirects > 0);
      const sameOrigin = policy === 'send';
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
      if (sameOrigin) {
        const auth = await this.opts.auth.header(req.scopes);
        if (auth) headers['authorization'] = auth;
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          dispatcher: this.agent,
          method: req.method,
          headers,
          body: req.body ?? null,
          headersTimeout: req.headersTimeout ?? this.opts.timeoutMs ?? 300_000,
          bodyTimeout: this.opts.timeoutMs ?? 300_000,
        });
      } catch (e) {
        const code = errnoCode(e);
        const retryable =
          replayable &&
          attempt < this.opts.retries &&
          (RETRY_NET.has(code ?? '') || (code === 'ECONNREFUSED' && this.connectedOnce));
        if (retryable) {
          await sleep(backoffDelay(attempt++, this.opts.backoffMs ?? 500));
          continue;
        }
        throw this.networkError(e, url, req.method);
      }
      if (sameOrigin) this.connectedOnce = true;
      const r: HttpResponse = { status: res.statusCode, headers: res.headers, body: res.body, url };

      if (r.status === 401 && sameOrigin && !authRetried) {
        authRetried = true;
        const challenges = headerAll(r, 'www-authenticate');
        await r.body.dump();
        const refreshed = await this.opts.auth.challenge(challenges, req.scopes, headers['authorization']);
        if (refreshed && replayable) continue;
        // The body is gone: hand back a synthetic 401 so the caller can restart the operation.
        return { ...r, authRefreshed: refreshed };
      }
      if (req.followRedirects && r.status >= 300 && r.status < 400 && r.status !== 304) {
        const loc = header(r, 'location');
        await r.body.dump();
        if (!loc)
          throw new ModelshipError('NETWORK', `${req.method} ${redact(url)} answered ${r.status} without a Location`);
        if (++redirects > MAX_REDIRECTS)
          throw new ModelshipError('NETWORK', `too many redirects from ${redact(req.url)}`);
        // A redirect may point at object storage on another origin: Authorization stays behind
        // (originPolicy at the top of the loop), and a downgrade to plain HTTP is refused there.
        url = resolveLocation(loc, url, `${req.method} ${redact(url)} redirected`);
        continue;
      }
      if (RETRY_STATUS.has(r.status) && replayable && attempt < this.opts.retries) {
        const retryAfter = header(r, 'retry-after');
        await r.body.dump();
        await sleep(backoffDelay(attempt++, this.opts.backoffMs ?? 500, retryAfter));
        continue;
      }
      return r;
    }
  }

  private refused(req: HttpRequest, url: URL, redirected: boolean): ModelshipError {
    const downgrade = url.protocol === 'http:';
    const target = downgrade ? `plain HTTP (${redact(url)})` : `an unsupported ${url.protocol} URL`;
    const what = redirected
      ? `registry ${this.opts.host} redirected ${req.method} ${redact(req.url)} to ${target}`
      : `registry ${this.opts.host} handed out ${target} for a ${req.method} (an upload Location or a next page)`;
    return markRefused(
      new ModelshipError(
        'NETWORK',
        `${what}: refused, ${downgrade ? 'the registry is served over HTTPS' : 'only http and https URLs are followed'}`,
        {
          hint: 'a registry on HTTPS must keep its redirects and upload Locations on HTTPS; fix the registry (or its proxy) configuration',
        },
      ),
    );
  }

  private networkError(e: unknown, url: URL, method: string): ModelshipError {
    if (e instanceof ModelshipError) return e;
    const code = errnoCode(e);
    const host = url.host;
    const detail = e instanceof Error ? e.message : String(e);
    if (code === 'ECONNREFUSED')
      return new ModelshipError(
        'NETWORK',
        `registry ${host} is unreachable (ECONNREFUSED) on ${method} ${redact(url)}`,
        {
          cause: e,
          hint: `check that the registry is running and that host and port are right (${host})`,
        },
      );
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return new ModelshipError('NETWORK', `cannot resolve registry host ${url.hostname} (${code})`, {
        cause: e,
        hint: 'check the spelling of the registry host and your DNS / proxy settings',
      });
    if (TLS_PLAIN.has(code ?? '') || /wrong version number|packet length too long/i.test(detail))
      return new ModelshipError('NETWORK', `registry ${host} does not speak TLS (${code ?? 'TLS handshake failed'})`, {
        cause: e,
        hint: `if ${host} serves plain HTTP, pass ${opt('plainHttp')}`,
      });
    if (TLS_CERT.has(code ?? ''))
      return new ModelshipError('NETWORK', `TLS certificate of registry ${host} is not trusted (${code})`, {
        cause: e,
        hint: `install the CA (NODE_EXTRA_CA_CERTS=ca.pem), or pass ${opt('insecure')} to skip verification for this registry`,
      });
    if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH')
      return new ModelshipError('INVALID', `the content sent to ${host} was not the size its descriptor declares`, {
        cause: e,
      });
    return new ModelshipError('NETWORK', `${method} ${redact(url)} failed: ${code ? `${code}: ` : ''}${detail}`, {
      cause: e,
      hint: `the connection to ${host} failed after retries; re-run to resume (finished blobs are skipped)`,
    });
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

/** A Location header against the URL that sent it; a malformed one is NETWORK, not a TypeError. */
export function resolveLocation(location: string, base: URL, what: string): URL {
  try {
    return new URL(location, base);
  } catch (e) {
    throw new ModelshipError('NETWORK', `${what} to an invalid Location "${location.slice(0, 200)}"`, { cause: e });
  }
}

/** URLs in messages lose their query (upload `_state` tokens, signed object-storage URLs). */
function redact(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Whether a request to `url` with `headers` may go outside undici, on a socket of our own
 * (blob-receiver.ts, file-sender.ts): plain HTTP, no userinfo, and no header that could split
 * a line (header values come from a token service too: one with a line break is undici's to
 * refuse).
 */
export function rawHttpSupported(url: URL, headers: Record<string, string>): boolean {
  return (
    url.protocol === 'http:' &&
    url.username === '' &&
    url.password === '' &&
    Object.entries(headers).every(([k, v]) => !/[\r\n]/.test(k) && !/[\r\n]/.test(v))
  );
}

/** Where a request outside undici connects and what its request line and Host header say. */
export function rawTarget(url: URL): { host: string; port: number; hostHeader: string; target: string } {
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 80),
    hostHeader: url.host,
    target: `${url.pathname}${url.search}`,
  };
}
