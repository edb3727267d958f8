import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { ModelshipError, opt } from '../errors.js';
import { MAX_API_BODY, readCapped } from '../streams.js';

/**
 * Where a keyless signature's OIDC identity token comes from. Resolved once (so a missing
 * permission fails before any work is done) and fetched on every `getToken()`, because
 * Actions tokens live minutes and Fulcio refuses expired ones.
 */
export interface IdentitySource {
  /** For messages: never the token itself. */
  describe: string;
  getToken(): Promise<string>;
}

export interface IdentitySourceOptions {
  identityToken?: string | undefined;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  retries: number;
  /** Audience Fulcio expects. */
  audience?: string;
}

const PERMISSIONS_YAML = 'permissions:\n  id-token: write  # lets the job request an OIDC token for Sigstore';

export function identitySource(options: IdentitySourceOptions): IdentitySource {
  const { env } = options;
  if (options.identityToken) {
    const token = options.identityToken;
    return {
      describe: `the ${opt('identityToken')} value`,
      getToken: async () => checkJwt(token, `the ${opt('identityToken')} value`),
    };
  }
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (url && requestToken) return actionsSource(url, requestToken, options);
  const envToken = env.SIGSTORE_ID_TOKEN;
  if (envToken) return { describe: 'SIGSTORE_ID_TOKEN', getToken: async () => checkJwt(envToken, 'SIGSTORE_ID_TOKEN') };
  if (url && !requestToken)
    throw new ModelshipError(
      'AUTH',
      'no OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is set but ACTIONS_ID_TOKEN_REQUEST_TOKEN is not',
      {
        hint: 'both variables come from GitHub Actions for jobs with `permissions: id-token: write`; do not override them',
      },
    );
  if (env.GITHUB_ACTIONS === 'true')
    throw new ModelshipError('AUTH', 'no OIDC token: this workflow job lacks `permissions: id-token: write`', {
      hint: `add to the job (or workflow) in the workflow YAML:\n${PERMISSIONS_YAML}\nor sign with a key (${opt('key')})`,
    });
  throw new ModelshipError('AUTH', 'no OIDC identity token for keyless signing', {
    hint: `set SIGSTORE_ID_TOKEN or pass ${opt('identityToken')} with an OIDC token for audience "sigstore", or sign with ${opt('key')}`,
  });
}

function actionsSource(rawURL: string, requestToken: string, options: IdentitySourceOptions): IdentitySource {
  let host: string;
  try {
    host = new URL(rawURL).host;
  } catch (e) {
    throw new ModelshipError('AUTH', 'ACTIONS_ID_TOKEN_REQUEST_URL is not a URL', {
      cause: e,
      hint: 'GitHub Actions sets this variable; do not override it',
    });
  }
  // Appended by hand, not with URLSearchParams: that would re-encode the runner's own query.
  const sep = rawURL.includes('?') ? (/[?&]$/.test(rawURL) ? '' : '&') : '?';
  const url = `${rawURL}${sep}audience=${encodeURIComponent(options.audience ?? 'sigstore')}`;
  const describe = `the GitHub Actions OIDC endpoint ${host}`;
  return {
    describe,
    getToken: async () => checkJwt(await fetchActionsToken(url, host, requestToken, options), describe),
  };
}

async function fetchActionsToken(
  url: string,
  host: string,
  requestToken: string,
  options: IdentitySourceOptions,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const last = attempt >= options.retries;
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      status = res.statusCode;
      text = (await readCapped(res.body, MAX_API_BODY, `OIDC token answer from ${host}`)).toString('utf8');
    } catch (e) {
      if (e instanceof ModelshipError) throw e; // an oversized answer is not worth a retry
      if (!last) {
        await sleep(250 * 2 ** attempt);
        continue;
      }
      const code = (e as { code?: string }).code;
      throw new ModelshipError(
        'NETWORK',
        `cannot reach the GitHub Actions OIDC endpoint ${host}${code ? ` (${code})` : ''}`,
        {
          cause: e,
          hint: 'the token endpoint is only reachable from inside a running job; retry the job',
        },
      );
    }
    if (status === 401 || status === 403)
      throw new ModelshipError(
        'AUTH',
        `the GitHub Actions OIDC endpoint ${host} refused the token request (HTTP ${status})`,
        {
          hint: 'ACTIONS_ID_TOKEN_REQUEST_TOKEN is valid only inside the job that received it and needs `permissions: id-token: write`',
        },
      );
    if (status >= 500 || status === 429 || status === 408) {
      if (!last) {
        await sleep(250 * 2 ** attempt);
        continue;
      }
      throw new ModelshipError('NETWORK', `the GitHub Actions OIDC endpoint ${host} answered HTTP ${status}`, {
        hint: 'retry the job; GitHub may be degraded (githubstatus.com)',
      });
    }
    if (status !== 200)
      throw new ModelshipError('AUTH', `the GitHub Actions OIDC endpoint ${host} answered HTTP ${status}`, {
        hint: 'check that ACTIONS_ID_TOKEN_REQUEST_URL is the one the runner set',
      });
    let value: unknown;
    try {
      value = (JSON.parse(text) as { value?: unknown }).value;
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string' || !value)
      throw new ModelshipError('AUTH', `the GitHub Actions OIDC endpoint ${host} answered without a token`);
    return value;
  }
}

/**
 * Checks a token is a usable JWT before it reaches @sigstore/sign, whose parse error would
 * quote the whole token in its message.
 */
function checkJwt(token: string, source: string): string {
  const parts = token.trim().split('.');
  let claims: Record<string, unknown> | undefined;
  if (parts.length === 3) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) claims = parsed as Record<string, unknown>;
    } catch {
      claims = undefined;
    }
  }
  if (!claims)
    throw new ModelshipError('AUTH', `the identity token from ${source} is not a JWT`, {
      hint: 'pass the raw OIDC ID token (three base64url parts separated by dots)',
    });
  if (typeof claims.email === 'string' && claims.email_verified !== true)
    throw new ModelshipError('AUTH', `the identity token from ${source} has an unverified email`, {
      hint: 'Fulcio certifies only emails the OIDC provider verified',
    });
  if (typeof claims.sub !== 'string' && typeof claims.email !== 'string')
    throw new ModelshipError('AUTH', `the identity token from ${source} has neither a "sub" nor an "email" claim`);
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now())
    throw new ModelshipError(
      'AUTH',
      `the identity token from ${source} expired at ${new Date(claims.exp * 1000).toISOString()}`,
      {
        hint: 'OIDC tokens live minutes: fetch a fresh one right before signing',
      },
    );
  return token.trim();
}
