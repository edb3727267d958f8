import type { Signer, Witness } from '@sigstore/sign';
import { loadSigstoreSign } from './sigstore-sign.js';
import { ModelshipError, opt } from '../errors.js';
import { bundleCertificate, certificateIdentity } from './certificate.js';
import { identitySource } from './oidc.js';
import type { SigningSetup } from './types.js';
import { rekorWitness, serviceError, serviceURL, tsaWitness } from './witnesses.js';

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
      hint: `a Fulcio certificate lives 10 minutes, so the signature needs a trusted time: keep the tlog (drop ${opt('noTlog')}) or pass ${opt('tsaUrl')}`,
    });
  const fulcioURL = serviceURL(options.fulcioURL ?? FULCIO_URL, 'Fulcio', opt('fulcioUrl'));
  const rekorURL = tlog ? serviceURL(options.rekorURL ?? REKOR_URL, 'Rekor', opt('rekorUrl')) : undefined;
  const tsaURL = options.tsaURL ? serviceURL(options.tsaURL, 'timestamp authority', opt('tsaUrl')) : undefined;
  const timeout = options.timeoutMs ?? 10_000;
  const retries = options.retries ?? 3;
  const source = identitySource({
    identityToken: options.identityToken,
    env: options.env ?? process.env,
    timeoutMs: timeout,
    retries,
  });

  const { FulcioSigner } = await loadSigstoreSign();
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
  if (rekorURL)
    witnesses.push(await rekorWitness(rekorURL, { timeoutMs: timeout, retries, entryType: options.rekorEntryType }));
  if (tsaURL) witnesses.push(await tsaWitness(tsaURL, { timeoutMs: timeout, retries }));

  return {
    signer,
    witnesses,
    describe: (bundleJson) => certificateIdentity(bundleCertificate(bundleJson)),
  };
}
