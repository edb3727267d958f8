import type { Signer, Witness } from '@sigstore/sign';
import { loadSigstoreSign } from './sigstore-sign.js';
import { ModelshipError } from '../errors.js';
import { sigstoreError } from './bundle.js';
import { bundleCertificate, certificateIdentity } from './certificate.js';
import { identitySource } from './oidc.js';
import type { SigningSetup } from './types.js';

export { certificateIdentity } from './certificate.js';

export interface KeylessOptions {
  /** Default https://fulcio.sigstore.dev. */
  fulcioURL?: string;
  /** Default https://rekor.sigstore.dev. */
  rekorURL?: string;
  /** RFC 3161 timestamp authority; none by default. */
  tsaURL?: string;
  /** Upload to Rekor (default true). false = GitHub's private-instance shape: Fulcio + TSA. */
  tlog?: boolean;
  /**
   * Rekor entry kind (default `dsse`, as actions/attest). `intoto` exists for @sigstore/mock,
   * which stores dsse entries verbatim where real Rekor canonicalises them.
   */
  rekorEntryType?: 'dsse' | 'intoto';
  /** Explicit OIDC token; else GitHub Actions OIDC, else SIGSTORE_ID_TOKEN. */
  identityToken?: string;
  env?: NodeJS.ProcessEnv;
  /** Per request to each service (default 10 s, as actions/attest). */
  timeoutMs?: number;
  /** Retries per request on network errors and 5xx (default 3, as actions/attest). */
  retries?: number;
}

const FULCIO_URL = 'https://fulcio.sigstore.dev';
const REKOR_URL = 'https://rekor.sigstore.dev';

/**
 * Keyless signing: an ephemeral key certified by Fulcio for the OIDC identity, witnessed by
 * Rekor and/or a TSA (a short-lived certificate is only checkable against a trusted time).
 * Problems that need no network (no token source, bad URLs) throw here, before any work.
 */
export async function keylessSetup(options: KeylessOptions = {}): Promise<SigningSetup> {
  const tlog = options.tlog ?? true;
  if (!tlog && !options.tsaURL)
    throw new ModelshipError('USAGE', 'keyless signing without a transparency log needs a timestamp authority', {
      hint: 'a Fulcio certificate lives 10 minutes, so the signature needs a trusted time: keep the tlog (drop --no-tlog) or pass --tsa-url',
    });
  const fulcioURL = serviceURL(options.fulcioURL ?? FULCIO_URL, 'Fulcio', '--fulcio-url');
  const rekorURL = tlog ? serviceURL(options.rekorURL ?? REKOR_URL, 'Rekor', '--rekor-url') : undefined;
  const tsaURL = options.tsaURL ? serviceURL(options.tsaURL, 'timestamp authority', '--tsa-url') : undefined;
  const timeout = options.timeoutMs ?? 10_000;
  const retries = options.retries ?? 3;
  const source = identitySource({
    identityToken: options.identityToken,
    env: options.env ?? process.env,
    timeoutMs: timeout,
    retries,
  });

  const { FulcioSigner, RekorWitness, TSAWitness } = await loadSigstoreSign();
  const fulcio = new FulcioSigner({
    identityProvider: source,
    fulcioBaseURL: fulcioURL,
    timeout,
    retry: retries,
  });
  const signer: Signer = {
    sign: async (data) => {
      try {
        return await fulcio.sign(data);
      } catch (e) {
        throw serviceError(e, fulcioURL);
      }
    },
  };
  const witnesses: Witness[] = [];
  if (rekorURL) {
    const rekor = new RekorWitness({
      rekorBaseURL: rekorURL,
      entryType: options.rekorEntryType ?? 'dsse',
      // Re-signing identical content must not fail on Rekor's 409 (as actions/attest does).
      fetchOnConflict: true,
      timeout,
      retry: retries,
    });
    witnesses.push(guardWitness(rekor, rekorURL));
  }
  if (tsaURL) witnesses.push(guardWitness(new TSAWitness({ tsaBaseURL: tsaURL, timeout, retry: retries }), tsaURL));

  return {
    signer,
    witnesses,
    describe: (bundleJson) => certificateIdentity(bundleCertificate(bundleJson)),
  };
}

function serviceURL(value: string, service: string, flag: string): string {
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
function serviceError(e: unknown, url: string): ModelshipError {
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
  const message = base.message.includes(url) ? base.message : `${base.message} (${url})`;
  return new ModelshipError(base.code, message, { cause: e, ...(base.hint ? { hint: base.hint } : {}) });
}
