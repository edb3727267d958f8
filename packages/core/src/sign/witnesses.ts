import type { Witness } from '@sigstore/sign';
import { ModelshipError } from '../errors.js';
import { sigstoreError } from './bundle.js';
import { loadSigstoreSign } from './sigstore-sign.js';

/** Per-request settings shared by every Sigstore service client (as actions/attest: 10 s, 3 retries). */
export interface ServiceOptions {
  timeoutMs?: number;
  retries?: number;
}

/** A Rekor v1 witness with modelship's settings, its failures naming the URL. */
export async function rekorWitness(
  url: string,
  options: ServiceOptions & { entryType?: 'dsse' | 'intoto' } = {},
): Promise<Witness> {
  const { RekorWitness } = await loadSigstoreSign();
  const rekor = new RekorWitness({
    rekorBaseURL: url,
    entryType: options.entryType ?? 'dsse',
    // Re-signing identical content must not fail on Rekor's 409 (as actions/attest does):
    // Ed25519 signatures are deterministic, so signing the same statement twice is identical.
    fetchOnConflict: true,
    timeout: options.timeoutMs ?? 10_000,
    retry: options.retries ?? 3,
  });
  return guardWitness(rekor, url);
}

/** An RFC 3161 timestamp authority witness, its failures naming the URL. */
export async function tsaWitness(url: string, options: ServiceOptions = {}): Promise<Witness> {
  const { TSAWitness } = await loadSigstoreSign();
  const tsa = new TSAWitness({ tsaBaseURL: url, timeout: options.timeoutMs ?? 10_000, retry: options.retries ?? 3 });
  return guardWitness(tsa, url);
}

/** Checks a service URL before any work; `flag` names where it came from. */
export function serviceURL(value: string, service: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (e) {
    throw new ModelshipError('USAGE', `${service} URL "${value}" is not a URL`, {
      cause: e,
      hint: `pass ${flag} https://…`,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ModelshipError('USAGE', `${service} URL "${value}" must be http(s)`, { hint: `pass ${flag} https://…` });
  // @sigstore/sign appends /api/v…; a trailing slash would double it.
  return value.replace(/\/+$/, '');
}

function guardWitness(witness: Witness, url: string): Witness {
  return {
    testify: async (content, publicKey) => {
      try {
        return await witness.testify(content, publicKey);
      } catch (e) {
        throw serviceError(e, url);
      }
    },
  };
}

/**
 * @sigstore/sign wraps everything in InternalError: unwrap our own token errors (they carry
 * the hint), let sigstoreError name the service, and add the URL the user configured.
 */
export function serviceError(e: unknown, url: string): ModelshipError {
  if (e instanceof ModelshipError) return e;
  const cause = (e as { cause?: unknown })?.cause;
  if (cause instanceof ModelshipError) return cause;
  const code = (e as { code?: unknown })?.code;
  const status = (cause as { statusCode?: unknown })?.statusCode;
  if (code === 'CA_CREATE_SIGNING_CERTIFICATE_ERROR' && (status === 401 || status === 403))
    return new ModelshipError('AUTH', `Fulcio at ${url} rejected the OIDC identity token (HTTP ${status})`, {
      cause: e,
      hint: 'the token must be for audience "sigstore", unexpired, from an issuer this Fulcio trusts',
    });
  // The parse error of @sigstore/sign quotes the token; never pass that message on.
  if (code === 'IDENTITY_TOKEN_PARSE_ERROR')
    return new ModelshipError('AUTH', 'the OIDC identity token could not be parsed');
  const base = sigstoreError(e);
  const { message: text, hint } = base.template;
  const message = text.includes(url) ? text : `${text} (${url})`;
  return new ModelshipError(base.code, message, { cause: e, ...(hint ? { hint } : {}) });
}
