import { ModelshipError, opt } from '../errors.js';

export type SignatureFormat = 'sigstore' | 'notation';
export const SIGNATURE_FORMATS: readonly SignatureFormat[] = ['sigstore', 'notation'];

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A Notation expiry as seconds: a whole number with a unit, `s`, `m`, `h` or `d` (`30d`,
 * `12h`), or Go duration units combined as `notation sign --expiry` takes them (`1h30m`).
 */
export function parseExpiry(value: string, label: string): number {
  const parts = [...value.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value)
    throw new ModelshipError('USAGE', `${label} "${value}" is not a duration`, {
      hint: 'write a number and a unit: 90d, 12h, 30m, 45s, or combined as 1h30m',
    });
  const seconds = parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
  if (seconds <= 0) throw new ModelshipError('USAGE', `${label} "${value}" must be longer than 0`);
  return seconds;
}

/**
 * Checks that the signing settings given fit the format: a Notation signature needs a key and
 * its certificate chain and takes none of the Sigstore services (Notation signing here has no
 * keyless mode, no transparency log and no timestamp authority); the chain and the expiry are
 * for Notation only. `sigstoreSettings` are the labels (flags, inputs) of the Sigstore
 * settings the user set.
 */
export function checkSignatureFormat(request: {
  format: SignatureFormat;
  key: boolean;
  cert: boolean;
  expiry: boolean;
  sigstoreSettings: readonly string[];
}): void {
  if (request.format === 'notation') {
    if (!request.key || !request.cert)
      throw new ModelshipError(
        'USAGE',
        `a Notation signature needs ${opt('key')} and ${opt('cert')}: the signing key and its X.509 certificate chain`,
        {
          hint: 'Notation signs with a key whose certificate chains to a CA the verifier trusts (docs/signing.md, "Notation")',
        },
      );
    if (request.sigstoreSettings.length)
      throw new ModelshipError(
        'USAGE',
        `${request.sigstoreSettings.join(', ')} ${request.sigstoreSettings.length > 1 ? 'are' : 'is'} for Sigstore signatures, not Notation ones`,
        { hint: `drop ${request.sigstoreSettings.length > 1 ? 'them' : 'it'}, or sign in the sigstore format` },
      );
    return;
  }
  const notationOnly = [request.cert ? opt('cert') : '', request.expiry ? opt('expiry') : ''].filter(Boolean);
  if (notationOnly.length)
    throw new ModelshipError(
      'USAGE',
      `${notationOnly.join(' and ')} ${notationOnly.length > 1 ? 'are' : 'is'} for Notation signatures`,
      {
        hint: `add ${opt('signatureFormat')} notation`,
      },
    );
}
