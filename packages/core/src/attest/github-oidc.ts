import type { JWTPayload } from 'jose';
import { request } from 'undici';
import { ModelshipError } from '../errors.js';
import { identitySource } from '../sign/oidc.js';
import { MAX_API_BODY, readCapped } from '../streams.js';

export const DEFAULT_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

/**
 * The claims attest-build-provenance requires (docs/predicates.md, "In GitHub Actions"; its
 * source is in "Sources"). All are strings in GitHub's tokens, including the numeric ids, and
 * the predicate keeps them as strings.
 */
export const REQUIRED_GITHUB_CLAIMS = [
  'iss',
  'ref',
  'sha',
  'repository',
  'event_name',
  'job_workflow_ref',
  'workflow_ref',
  'repository_id',
  'repository_owner_id',
  'runner_environment',
  'run_id',
  'run_attempt',
] as const;

export type GitHubClaims = Record<(typeof REQUIRED_GITHUB_CLAIMS)[number], string>;

const PERMISSIONS_HINT =
  'add to the job (or workflow) in the workflow YAML:\npermissions:\n  id-token: write  # lets the job request an OIDC token for the provenance';

/** Refuses claims that lack one of REQUIRED_GITHUB_CLAIMS, naming the first one missing. */
export function assertGitHubClaims(claims: Record<string, unknown>): GitHubClaims {
  for (const name of REQUIRED_GITHUB_CLAIMS) {
    const v = claims[name];
    if (typeof v !== 'string' || v === '')
      throw new ModelshipError('INVALID', `the GitHub Actions OIDC token has no "${name}" claim`, {
        hint: 'SLSA provenance needs the claims GitHub puts in workflow tokens; is the issuer a GitHub Actions issuer?',
      });
  }
  return Object.fromEntries(REQUIRED_GITHUB_CLAIMS.map((n) => [n, claims[n] as string])) as GitHubClaims;
}

/**
 * The issuer of this runner's tokens: github.com and GHES use the public issuer, GHE.com
 * tenants (`https://<sub>.ghe.com`) have their own (as @actions/attest does).
 */
export function actionsIssuer(env: NodeJS.ProcessEnv): string {
  const server = env.GITHUB_SERVER_URL;
  if (server) {
    try {
      const host = new URL(server).hostname;
      const m = /^([a-z0-9-]+)\.ghe\.com$/i.exec(host);
      if (m) return `https://token.actions.${m[1]!.toLowerCase()}.ghe.com`;
    } catch {
      // A malformed server URL falls back to the public issuer; the token check still decides.
    }
  }
  return DEFAULT_ACTIONS_ISSUER;
}

export interface ActionsClaimsOptions {
  env: NodeJS.ProcessEnv;
  issuer: string;
  jwksURL?: string | undefined;
  now?: (() => Date) | undefined;
  timeoutMs?: number;
  retries?: number;
}

/**
 * Requests an Actions OIDC token for audience `nobody` and returns its claims once the
 * signature, issuer, audience and lifetime check out against the issuer's JWKS. Unverified
 * claims would let anyone with a shell in the job write any repository into the provenance.
 */
export async function verifiedActionsClaims(options: ActionsClaimsOptions): Promise<GitHubClaims> {
  const { env, issuer } = options;
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL)
    throw new ModelshipError(
      'AUTH',
      'no OIDC token for the provenance: this workflow job lacks `permissions: id-token: write`',
      {
        hint: PERMISSIONS_HINT,
      },
    );
  // Only the runner's variables: a SIGSTORE_ID_TOKEN from elsewhere must not stand in for it.
  const source = identitySource({
    env: {
      GITHUB_ACTIONS: env.GITHUB_ACTIONS,
      ACTIONS_ID_TOKEN_REQUEST_URL: env.ACTIONS_ID_TOKEN_REQUEST_URL,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: env.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    },
    timeoutMs: options.timeoutMs ?? 10_000,
    retries: options.retries ?? 3,
    audience: 'nobody',
  });
  const token = await source.getToken();
  const jwksURL = options.jwksURL ?? (await discoverJwksURL(issuer, options.timeoutMs ?? 10_000));
  let payload: JWTPayload;
  // jose (~25 ms to import) is only needed here, in GitHub Actions provenance.
  const { createRemoteJWKSet, errors: joseErrors, jwtVerify } = await import('jose');
  try {
    const jwks = createRemoteJWKSet(new URL(jwksURL), { timeoutDuration: options.timeoutMs ?? 10_000 });
    ({ payload } = await jwtVerify(token, jwks, {
      issuer,
      audience: 'nobody',
      ...(options.now ? { currentDate: options.now() } : {}),
    }));
  } catch (e) {
    throw verifyError(e, issuer, jwksURL, joseErrors);
  }
  return assertGitHubClaims(payload);
}

async function discoverJwksURL(issuer: string, timeoutMs: number): Promise<string> {
  const configURL = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let status: number;
  let text: string;
  try {
    const res = await request(configURL, {
      headers: { accept: 'application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    status = res.statusCode;
    text = (await readCapped(res.body, MAX_API_BODY, `OIDC configuration from ${configURL}`)).toString('utf8');
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    const code = (e as { code?: string }).code;
    throw new ModelshipError('NETWORK', `cannot reach the OIDC issuer ${configURL}${code ? ` (${code})` : ''}`, {
      cause: e,
      hint: 'retry the job; GitHub may be degraded (githubstatus.com)',
    });
  }
  if (status !== 200)
    throw new ModelshipError('NETWORK', `the OIDC issuer ${configURL} answered HTTP ${status}`, {
      hint: 'check the issuer URL; retry the job if GitHub is degraded',
    });
  let jwksURI: unknown;
  try {
    jwksURI = (JSON.parse(text) as { jwks_uri?: unknown }).jwks_uri;
  } catch {
    jwksURI = undefined;
  }
  if (typeof jwksURI !== 'string' || !URL.canParse(jwksURI))
    throw new ModelshipError('INVALID', `the OIDC configuration at ${configURL} has no valid jwks_uri`, {
      hint: 'check that the issuer is a GitHub Actions token issuer',
    });
  return jwksURI;
}

function verifyError(
  e: unknown,
  issuer: string,
  jwksURL: string,
  joseErrors: typeof import('jose').errors,
): ModelshipError {
  if (e instanceof joseErrors.JWTExpired)
    return new ModelshipError('AUTH', 'the GitHub Actions OIDC token for the provenance has expired', {
      cause: e,
      hint: 'tokens live minutes; re-run the step (check the runner clock if it keeps happening)',
    });
  if (e instanceof joseErrors.JWTClaimValidationFailed)
    return new ModelshipError(
      'INVALID',
      `the GitHub Actions OIDC token failed the "${e.claim}" check (${e.reason}) for issuer ${issuer}, audience "nobody"`,
      { cause: e, hint: 'the token must come from this job\'s runner for audience "nobody"' },
    );
  if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWSSignatureVerificationFailed)
    return new ModelshipError('INVALID', `the GitHub Actions OIDC token is not signed by a key of ${jwksURL}`, {
      cause: e,
      hint: 'the token must be issued by the runner of this job; check ACTIONS_ID_TOKEN_REQUEST_URL is not overridden',
    });
  if (e instanceof joseErrors.JWKSTimeout)
    return new ModelshipError('NETWORK', `timed out fetching the OIDC issuer keys ${jwksURL}`, {
      cause: e,
      hint: 'retry the job',
    });
  if (e instanceof joseErrors.JOSEError)
    return new ModelshipError('INVALID', `cannot verify the GitHub Actions OIDC token: ${e.message}`, { cause: e });
  const code = (e as { code?: string }).code;
  return new ModelshipError('NETWORK', `cannot fetch the OIDC issuer keys ${jwksURL}${code ? ` (${code})` : ''}`, {
    cause: e,
    hint: 'retry the job; GitHub may be degraded (githubstatus.com)',
  });
}
