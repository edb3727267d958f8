import { ModelshipError, opt } from '../errors.js';
import { loginHint, parseChallenges } from './auth.js';
import { header, headerAll, type HttpResponse } from './http.js';

/** The `{"errors":[{code,message,detail}]}` body of a distribution error, if there is one. */
export interface RegistryErrorBody {
  codes: string[];
  text: string;
}

const MAX_ERROR_BODY = 64 * 1024;

async function readErrorBody(res: HttpResponse): Promise<RegistryErrorBody> {
  let raw = '';
  try {
    for await (const chunk of res.body) {
      raw += (chunk as Buffer).toString('utf8');
      if (raw.length > MAX_ERROR_BODY) {
        res.body.destroy();
        break;
      }
    }
  } catch {
    // an unreadable error body must not hide the status
  }
  try {
    const j = JSON.parse(raw) as { errors?: { code?: unknown; message?: unknown; detail?: unknown }[] };
    if (Array.isArray(j.errors)) {
      const codes = j.errors.map((e) => String(e.code ?? '')).filter(Boolean);
      const text = j.errors
        .map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x).join(': '))
        .filter(Boolean)
        .join('; ');
      return { codes, text };
    }
  } catch {
    // not JSON: registries MAY answer with any body (distribution's unknown routes are plain text)
  }
  return { codes: [], text: raw.trim().slice(0, 200) };
}

export interface FailureContext {
  /** `host/repo`, used in every message. */
  location: string;
  host: string;
  /** The scopes the request asked for (for 403 messages). */
  scopes: readonly string[];
  hasCredentials: boolean;
}

/**
 * Turns a non-success response into a ModelshipError whose message names what failed and
 * whose hint says what to do. `what` is e.g. `push blob sha256:… to host/repo`.
 */
export async function responseFailure(res: HttpResponse, what: string, ctx: FailureContext): Promise<ModelshipError> {
  const body = await readErrorBody(res);
  const detail = body.text ? `: ${body.text}` : '';
  const s = res.status;
  if (s === 401) {
    // A token service grants what it may without error; the registry then says which scope was missing.
    const insufficient = parseChallenges(headerAll(res, 'www-authenticate')).find(
      (c) => c.params['error'] === 'insufficient_scope',
    );
    if (insufficient && ctx.hasCredentials)
      return new ModelshipError(
        'AUTH',
        `${what}: access denied by ${ctx.host}: the credentials lack ${normalizeScope(insufficient.params['scope'] ?? ctx.scopes.join(' '))}`,
        {
          hint: `grant the account ${ctx.scopes.some((x) => x.endsWith('push')) ? 'push (write)' : 'pull (read)'} access to ${ctx.location}, or use other credentials`,
        },
      );
    return ctx.hasCredentials
      ? new ModelshipError('AUTH', `${what}: registry ${ctx.host} rejected the credentials (HTTP 401${detail})`, {
          hint: `check the username and password/token; ${loginHint(ctx.host)}`,
        })
      : new ModelshipError(
          'AUTH',
          `${what}: registry ${ctx.host} requires authentication and no credentials were found (HTTP 401)`,
          {
            hint: loginHint(ctx.host),
          },
        );
  }
  if (s === 403)
    return new ModelshipError(
      'AUTH',
      `${what}: access denied by ${ctx.host} (HTTP 403${detail}); needed ${ctx.scopes.join(' ') || 'access'}`,
      {
        hint: `the credentials lack permission on ${ctx.location}; grant the account ${ctx.scopes.some((x) => x.endsWith('push')) ? 'push (write)' : 'pull (read)'} access`,
      },
    );
  if (s === 404)
    return new ModelshipError('NOT_FOUND', `${what}: not found in ${ctx.location}${detail}`, {
      hint: body.codes.includes('NAME_UNKNOWN')
        ? `the repository ${ctx.location} does not exist (or is not visible to these credentials)`
        : undefined,
    });
  if (
    s === 413 ||
    body.codes.some((c) =>
      /^(DIGEST_INVALID|SIZE_INVALID|MANIFEST_INVALID|MANIFEST_BLOB_UNKNOWN|MANIFEST_UNVERIFIED|TAG_INVALID|BLOB_UNKNOWN|UNSUPPORTED)$/.test(
        c,
      ),
    )
  )
    return new ModelshipError('INVALID', `${what}: rejected by ${ctx.host} (HTTP ${s}${detail})`, {
      hint: body.codes.includes('MANIFEST_BLOB_UNKNOWN')
        ? 'push the config and layer blobs before the manifest'
        : undefined,
    });
  if (s === 429)
    return new ModelshipError('NETWORK', `${what}: rate limited by ${ctx.host} (HTTP 429${detail})`, {
      hint: `wait and re-run${header(res, 'retry-after') ? ` (Retry-After: ${header(res, 'retry-after')})` : ''}; authenticated pulls get higher limits`,
    });
  if (s >= 500)
    return new ModelshipError('NETWORK', `${what}: registry ${ctx.host} failed with HTTP ${s}${detail}`, {
      hint: 'the registry had a server error after retries; re-run later (finished blobs are skipped)',
    });
  if (s === 400 && /HTTP request to an HTTPS server/i.test(body.text))
    return new ModelshipError('NETWORK', `${what}: ${ctx.host} expects HTTPS`, {
      hint: `drop ${opt('plainHttp')} for this registry`,
    });
  return new ModelshipError('NETWORK', `${what}: unexpected HTTP ${s} from ${ctx.host}${detail}`);
}

/**
 * `repository:x:push,pull` → `repository:x:pull,push`: distribution lists a scope's actions in
 * Go map order, which changes from one answer to the next; messages should not.
 */
function normalizeScope(scope: string): string {
  return scope
    .split(' ')
    .map((one) => {
      const i = one.lastIndexOf(':');
      return i < 0
        ? one
        : `${one.slice(0, i)}:${one
            .slice(i + 1)
            .split(',')
            .sort()
            .join(',')}`;
    })
    .join(' ');
}
