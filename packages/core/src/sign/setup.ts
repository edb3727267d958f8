import { ModelshipError, opt, type OptionKey } from '../errors.js';
import { keySetup, loadPrivateKey, type KeyPasswordPrompt, type KeySource } from './keys.js';
import { keylessSetup } from './keyless.js';
import type { SigningSetup } from './types.js';

/** Public-good instance defaults (what cosign and actions/attest use for public repositories). */
const DEFAULT_FULCIO_URL = 'https://fulcio.sigstore.dev';
const DEFAULT_REKOR_URL = 'https://rekor.sigstore.dev';

export interface SigningOptions {
  /** Sign with this key instead of keyless. */
  key?: KeySource;
  keyPassword?: string;
  /** Asked for the key's password when `keyPassword` is absent and the key is encrypted. */
  keyPasswordPrompt?: KeyPasswordPrompt;
  /** Explicit OIDC token for keyless signing outside GitHub Actions. */
  identityToken?: string;
  fulcioURL?: string;
  rekorURL?: string;
  tsaURL?: string;
  /**
   * Upload to the transparency log (Rekor). Default yes, with a key too: `cosign sign --key`
   * uploads unless told not to (cosign v2+ `--tlog-upload=true`), and cosign, Kyverno and
   * policy-controller refuse a key-signed bundle without a log entry unless their verifier is
   * told to ignore the log. false is the opt-out for air-gapped signing.
   */
  tlog?: boolean;
  rekorEntryType?: 'dsse' | 'intoto';
  env?: NodeJS.ProcessEnv;
}

/** Key-based when a key is given, keyless otherwise. */
export async function signingSetup(options: SigningOptions): Promise<SigningSetup> {
  if (options.key) {
    const key = await loadPrivateKey(options.key, options.keyPassword, options.keyPasswordPrompt);
    return await keySetup(key, {
      ...(options.tlog !== false ? { rekorURL: options.rekorURL ?? DEFAULT_REKOR_URL } : {}),
      ...(options.tsaURL ? { tsaURL: options.tsaURL } : {}),
      ...(options.rekorEntryType ? { rekorEntryType: options.rekorEntryType } : {}),
    });
  }
  return keylessSetup({
    fulcioURL: options.fulcioURL ?? DEFAULT_FULCIO_URL,
    rekorURL: options.rekorURL ?? DEFAULT_REKOR_URL,
    ...(options.tsaURL ? { tsaURL: options.tsaURL } : {}),
    tlog: options.tlog ?? true,
    ...(options.rekorEntryType ? { rekorEntryType: options.rekorEntryType } : {}),
    ...(options.identityToken ? { identityToken: options.identityToken } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
}

/** `env://NAME` (cosign's spelling), PEM text, or a file path; `option` is the setting it came from (a certificate chain too). */
export function keySourceFrom(
  spec: string,
  env: NodeJS.ProcessEnv = process.env,
  option: Extract<OptionKey, 'key' | 'cert'> = 'key',
): KeySource {
  const what = option === 'key' ? 'the PEM private key' : 'the PEM certificates';
  if (spec.startsWith('env://')) {
    const name = spec.slice('env://'.length);
    const pem = env[name];
    if (!pem)
      throw new ModelshipError(
        'INPUT',
        `environment variable ${name} (named by ${opt(option)} env://${name}) is empty`,
        {
          hint: `export ${name} with ${what}, or pass ${opt(option)} PATH`,
        },
      );
    return { pem, name: `env://${name}` };
  }
  if (spec.includes('-----BEGIN')) return { pem: spec, name: option === 'key' ? 'key input' : 'certificate input' };
  return { path: spec };
}
