/**
 * Offline STAND-INS for Sigstore's services and the GitHub Actions OIDC token endpoint, for
 * tests only. Fulcio, Rekor and the TSA are @sigstore/mock's real-protocol handlers served by
 * node:http on 127.0.0.1, so @sigstore/sign talks to them exactly as it talks to the
 * public-good instance. They are not the real services: mock Fulcio decodes the OIDC token
 * without verifying it, and mock Rekor stores `dsse` entries verbatim (real Rekor
 * canonicalises them), so dsse tlog entries from it fail body verification.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
  type HandlerFn,
} from '@sigstore/mock';

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';
/** The SAN the Fulcio stand-in certifies for the default token (real Fulcio's GitHub mapping). */
export const STANDIN_WORKFLOW_SAN = 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main';

export interface SigstoreStandinOptions {
  /** Serve Fulcio (default true). */
  fulcio?: boolean;
  /** Serve Rekor v1 (default true). */
  rekor?: boolean;
  /** Serve an RFC 3161 timestamp authority (default true). */
  tsa?: boolean;
  /** `iss` of issued tokens (default the GitHub Actions issuer). */
  issuer?: string;
  /**
   * The Fulcio stand-in issues every certificate as if it were this time (10 minutes of
   * validity from it, as real Fulcio), while Rekor and the TSA keep the real clock: a date
   * well in the past (or future) gives certificates that were not valid when the log or the
   * TSA saw the signature. Default: now.
   */
  certificateTime?: Date;
}

export interface OidcStandin {
  /** What ACTIONS_ID_TOKEN_REQUEST_URL holds: already has a query, as GitHub's does. */
  requestURL: string;
  /** What ACTIONS_ID_TOKEN_REQUEST_TOKEN holds. */
  requestToken: string;
  /** An Actions-like JWT (RS256 with a throwaway key; nobody verifies it). `undefined` drops a claim. */
  issueToken(claims?: Record<string, unknown>): string;
  /** Request paths (with query) the endpoint has seen, for assertions. */
  requests: string[];
}

export type TrustedRootJson = Record<string, unknown>;

export interface SigstoreStandins {
  fulcioURL: string;
  rekorURL: string;
  tsaURL: string;
  oidc: OidcStandin;
  /** `application/vnd.dev.sigstore.trustedroot.v0.2+json` for the stand-ins' keys. */
  trustedRoot: TrustedRootJson;
  stopFulcio(): Promise<void>;
  stopRekor(): Promise<void>;
  stopTSA(): Promise<void>;
  stop(): Promise<void>;
}

type Route = (req: IncomingMessage, body: string, res: ServerResponse) => Promise<void>;

async function listen(route: Route): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      route(req, Buffer.concat(chunks).toString('utf8'), res).catch((e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(e instanceof Error ? e.message : String(e));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

/** Closes the listener and the keep-alive sockets, so a stopped service refuses connections at once. */
function closer(server: Server): () => Promise<void> {
  let closed: Promise<void> | undefined;
  return () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
}

/** Serves @sigstore/mock handlers by POST path; an unknown path is a 404 like the real services. */
function handlerRoute(handlers: { path: string; fn: HandlerFn }[]): Route {
  return async (req, body, res) => {
    const path = (req.url ?? '').split('?')[0];
    const h = handlers.find((x) => x.path === path);
    if (req.method !== 'POST' || !h) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 404, message: `no route ${req.method} ${path}` }));
      return;
    }
    const out = await h.fn(body);
    res.writeHead(out.statusCode, { 'content-type': out.contentType ?? 'text/plain' });
    res.end(typeof out.response === 'string' ? out.response : Buffer.from(out.response.buffer));
  };
}

const b64 = (data: ArrayBufferView | Buffer): string =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

function b64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function ecKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

/**
 * Real Fulcio certifies `https://github.com/<job_workflow_ref>` for GitHub Actions tokens; the
 * mock can only copy a claim. So the stand-in adds that URL as a claim before the mock reads
 * the token (the token's signature is not checked by anyone here).
 */
const SAN_CLAIM = 'x_standin_san';
function withGithubSan(body: string): string {
  const req = JSON.parse(body) as { credentials?: { oidcIdentityToken?: string } };
  const token = req.credentials?.oidcIdentityToken;
  if (!token) return body;
  const [header, payload, signature] = token.split('.');
  if (!header || !payload) return body;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const san =
    typeof claims.job_workflow_ref === 'string' ? `https://github.com/${claims.job_workflow_ref}` : claims.sub;
  req.credentials = { oidcIdentityToken: [header, b64urlJson({ ...claims, [SAN_CLAIM]: san }), signature].join('.') };
  return JSON.stringify(req);
}

function defaultClaims(issuer: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: 'sigstore',
    sub: 'repo:acme/models:ref:refs/heads/main',
    repository: 'acme/models',
    repository_owner: 'acme',
    repository_id: '123456',
    repository_owner_id: '654321',
    repository_visibility: 'public',
    ref: 'refs/heads/main',
    ref_type: 'branch',
    sha: 'a'.repeat(40),
    workflow: 'release',
    workflow_ref: 'acme/models/.github/workflows/release.yml@refs/heads/main',
    workflow_sha: 'a'.repeat(40),
    job_workflow_ref: 'acme/models/.github/workflows/release.yml@refs/heads/main',
    job_workflow_sha: 'a'.repeat(40),
    event_name: 'push',
    runner_environment: 'github-hosted',
    run_id: '1000',
    run_number: '7',
    run_attempt: '1',
    actor: 'octocat',
    jti: randomBytes(8).toString('hex'),
    nbf: now - 5,
    iat: now - 5,
    exp: now + 300,
  };
}

/**
 * The mock TSA writes genTime with milliseconds, trailing zeros stripped (".12Z", as DER
 * wants), which @sigstore/core 3.x's time parser refuses ("invalid time"): about one run in
 * ten. A live clock truncated to whole seconds avoids it; real TSAs send whole seconds or
 * three digits. Truncating down keeps the time within the certificate, whose notBefore also
 * has whole seconds.
 */
function wholeSecondClock(): Date {
  return new Proxy(new Date(), {
    get(_target, prop) {
      const now = new Date(Math.floor(Date.now() / 1000) * 1000);
      const value: unknown = Reflect.get(now, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(now) : value;
    },
  });
}

function validFor(): { start: string } {
  // In the past: the verifier wants every key valid at signing time, and clocks skew.
  return { start: new Date(Date.now() - 3600_000).toISOString() };
}

/** A TrustedRoot (protobuf JSON mapping) for the stand-ins' CA, CT log, tlog and TSA. */
export function assembleTrustedRoot(material: {
  fulcioURL: string;
  caRoot: ArrayBufferView;
  ctlog: { publicKey: Buffer; logID: ArrayBufferView };
  rekorURL?: string;
  tlogPublicKey?: Buffer;
  tsaURL?: string;
  tsaChain?: ArrayBufferView[];
}): TrustedRootJson {
  const key = (der: Buffer) => ({ rawBytes: b64(der), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: validFor() });
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    tlogs: material.tlogPublicKey
      ? [
          {
            baseUrl: material.rekorURL,
            hashAlgorithm: 'SHA2_256',
            publicKey: key(material.tlogPublicKey),
            logId: { keyId: createHash('sha256').update(material.tlogPublicKey).digest('base64') },
          },
        ]
      : [],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: material.fulcioURL,
        certChain: { certificates: [{ rawBytes: b64(material.caRoot) }] },
        validFor: validFor(),
      },
    ],
    ctlogs: [
      {
        baseUrl: 'https://ctfe.standin.invalid',
        hashAlgorithm: 'SHA2_256',
        publicKey: key(material.ctlog.publicKey),
        logId: { keyId: b64(material.ctlog.logID) },
      },
    ],
    timestampAuthorities: material.tsaChain
      ? [
          {
            subject: { organization: 'sigstore.mock', commonName: 'sigstore-tsa' },
            uri: material.tsaURL,
            certChain: { certificates: material.tsaChain.map((c) => ({ rawBytes: b64(c) })) },
            validFor: validFor(),
          },
        ]
      : [],
  };
}

/** Starts the stand-ins on free 127.0.0.1 ports. A disabled service gets a URL nobody listens on. */
export async function startSigstoreStandins(opts: SigstoreStandinOptions = {}): Promise<SigstoreStandins> {
  const issuer = opts.issuer ?? GITHUB_ACTIONS_ISSUER;
  const servers: (() => Promise<void>)[] = [];

  const ctlog = await initializeCTLog(ecKeyPair());
  const ca = await initializeCA(ecKeyPair(), ctlog, opts.certificateTime);
  const fulcio = fulcioHandler(ca, { subjectClaim: SAN_CLAIM });
  const f = await listen(handlerRoute([{ path: fulcio.path, fn: (body) => fulcio.fn(withGithubSan(body)) }]));
  const stopFulcio = closer(f.server);
  servers.push(stopFulcio);

  // Rekor needs its own URL before it exists (the checkpoint origin is the host), hence a late route.
  let rekorRoute: Route = handlerRoute([]);
  const r = await listen((req, body, res) => rekorRoute(req, body, res));
  const stopRekor = closer(r.server);
  servers.push(stopRekor);
  const tlogKeys = ecKeyPair();
  const tlog = await initializeTLog(r.url, tlogKeys);
  rekorRoute = handlerRoute([rekorHandler(tlog)]);

  const tsa = await initializeTSA(ecKeyPair(), wholeSecondClock());
  const t = await listen(handlerRoute([tsaHandler(tsa)]));
  const stopTSA = closer(t.server);
  servers.push(stopTSA);

  // The Actions OIDC endpoint: GET <url>&audience=... with the request token as Bearer.
  const requestToken = randomBytes(16).toString('hex');
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const issueToken = (claims: Record<string, unknown> = {}): string => {
    const merged: Record<string, unknown> = { ...defaultClaims(issuer), ...claims };
    for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
    const head = `${b64urlJson({ typ: 'JWT', alg: 'RS256', kid: 'standin' })}.${b64urlJson(merged)}`;
    return `${head}.${sign('sha256', Buffer.from(head), signingKey).toString('base64url')}`;
  };
  const requests: string[] = [];
  const o = await listen(async (req, _body, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://standin');
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method !== 'GET' || url.pathname !== '/token') return json(404, { message: 'not found' });
    if (req.headers.authorization !== `Bearer ${requestToken}`) return json(401, { message: 'bad request token' });
    const audience = url.searchParams.get('audience');
    if (!audience) return json(400, { message: 'audience missing' });
    json(200, { count: 1, value: issueToken({ aud: audience }) });
  });
  servers.push(closer(o.server));

  // Services switched off are stopped up front, so their URL refuses connections.
  if (opts.fulcio === false) await stopFulcio();
  if (opts.rekor === false) await stopRekor();
  if (opts.tsa === false) await stopTSA();

  return {
    fulcioURL: f.url,
    rekorURL: r.url,
    tsaURL: t.url,
    oidc: { requestURL: `${o.url}/token?api-version=2.0`, requestToken, issueToken, requests },
    trustedRoot: assembleTrustedRoot({
      fulcioURL: f.url,
      caRoot: ca.rootCertificate,
      ctlog,
      ...(opts.rekor === false ? {} : { rekorURL: r.url, tlogPublicKey: tlog.publicKey }),
      ...(opts.tsa === false ? {} : { tsaURL: t.url, tsaChain: [tsa.intCertificate, tsa.rootCertificate] }),
    }),
    stopFulcio,
    stopRekor,
    stopTSA,
    stop: async () => {
      await Promise.all(servers.map((s) => s()));
    },
  };
}
