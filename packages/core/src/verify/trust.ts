import { readFile } from 'node:fs/promises';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { VerificationError, toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { ModelshipError } from '../errors.js';
import { loadPublicKey, type LoadedPublicKey } from '../sign/keys.js';

export interface TrustOptions {
  /** A pinned `trusted_root.json` (Sigstore TrustedRoot, protobuf JSON) on disk. */
  trustedRootPath?: string;
  /** The same, already parsed. */
  trustedRoot?: object;
  /** Public keys (SPKI PEM or certificate PEM) for key-signed bundles, found by hint. */
  publicKeys?: { pem: string; name?: string }[];
}

export interface VerificationTrust {
  /** What `@sigstore/verify`'s Verifier takes. */
  material: TrustMaterial;
  /** The public keys by hint (hex SHA-256 of the DER SPKI). */
  keys: ReadonlyMap<string, LoadedPublicKey>;
  /** A trusted root (CAs, logs, TSAs) was given, so keyless bundles can verify. */
  hasRoot: boolean;
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

/**
 * Trust material for verification: a pinned trusted root and/or public keys (looked up by the
 * bundle's `publicKey.hint`). The Sigstore TUF default is not wired yet.
 */
export async function trustMaterial(options: TrustOptions): Promise<VerificationTrust> {
  const keys = new Map<string, LoadedPublicKey>();
  for (const [i, k] of (options.publicKeys ?? []).entries()) {
    const loaded = await loadPublicKey({ pem: k.pem, name: k.name ?? `public key ${i + 1}` });
    keys.set(loaded.hint, loaded);
  }
  let rootJson: unknown;
  if (options.trustedRoot) rootJson = options.trustedRoot;
  else if (options.trustedRootPath) {
    let text: string;
    try {
      text = await readFile(options.trustedRootPath, 'utf8');
    } catch (e) {
      throw new ModelshipError(
        'INPUT',
        `cannot read trusted root ${options.trustedRootPath}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    try {
      rootJson = JSON.parse(text);
    } catch (e) {
      throw new ModelshipError('INPUT', `trusted root ${options.trustedRootPath} is not JSON`, { cause: e });
    }
  }
  if (rootJson === undefined && keys.size === 0)
    throw new ModelshipError('USAGE', 'verification needs a pinned trusted_root.json or a public key for now', {
      hint: 'pass a trusted root (e.g. from `cosign trusted-root create` or sigstore TUF) or the signer’s public key; the Sigstore TUF default comes next',
    });
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(rootJson ?? EMPTY_ROOT);
  } catch (e) {
    throw new ModelshipError('INPUT', `not a Sigstore trusted root: ${(e as Error).message}`, { cause: e });
  }
  const finder = (hint: string) => {
    const key = keys.get(hint);
    if (!key) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    return { publicKey: key.publicKey, validFor: () => true };
  };
  let material: TrustMaterial;
  try {
    material = toTrustMaterial(root, finder);
  } catch (e) {
    throw new ModelshipError('INPUT', `unusable trusted root: ${(e as Error).message}`, { cause: e });
  }
  return { material, keys, hasRoot: rootJson !== undefined };
}
