import { readFile } from 'node:fs/promises';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { VerificationError, toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import { ModelshipError, opt } from '../errors.js';
import type { PolicyTrust } from '../policy/types.js';
import { hintToKeyId, loadPublicKey, type LoadedPublicKey } from '../sign/keys.js';
import { SIGSTORE_TUF_MIRROR, fetchTrustedRoot, type TufOptions } from './tuf.js';

export { SIGSTORE_TUF_MIRROR, defaultTufCacheDir, fetchTrustedRoot, type TufOptions } from './tuf.js';

export interface TrustOptions {
  /** A pinned `trusted_root.json` (Sigstore TrustedRoot, protobuf JSON) on disk. */
  trustedRootPath?: string;
  /** The same, already parsed. */
  trustedRoot?: object;
  /** Public keys (SPKI PEM or certificate PEM) for key-signed bundles. */
  publicKeys?: { pem: string; name?: string }[];
  /**
   * Fetch the trusted root from a TUF repository (`{}` = Sigstore public-good) when none is
   * pinned. Absent: no network, so only key-signed bundles can verify.
   */
  tuf?: TufOptions;
}

export type TrustRootSource = { kind: 'pinned'; path?: string } | { kind: 'tuf'; mirrorURL: string } | { kind: 'none' };

export interface VerificationTrust {
  /** What `@sigstore/verify`'s Verifier takes. */
  material: TrustMaterial;
  /** The public keys by hex SHA-256 of the DER SPKI. */
  keys: ReadonlyMap<string, LoadedPublicKey>;
  /**
   * The trusted key a bundle's `publicKey.hint` names, in either spelling: hex (bundles
   * modelship wrote before) or standard base64 (cosign, sigstore-go, modelship now). A hint
   * only says which key to try; it is never the signer's identity.
   */
  keyForHint(hint: string): LoadedPublicKey | undefined;
  /** Trust material that checks a key-signed bundle against `key` alone, whatever its hint says. */
  materialForKey(key: LoadedPublicKey): TrustMaterial;
  /** A trusted root (CAs, logs, TSAs) was given, so keyless bundles can verify. */
  hasRoot: boolean;
  /** Where the trusted root came from. */
  root: TrustRootSource;
}

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
};

async function readPinnedRoot(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read trusted root ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelshipError('INPUT', `trusted root ${path} is not JSON`, { cause: e });
  }
}

/**
 * Trust material for verification: a pinned trusted root, else one from a TUF repository when
 * `tuf` is given, plus public keys (the one a bundle's `publicKey.hint` names is tried
 * first). A pinned root wins over TUF, so air-gapped use never touches the network.
 */
export async function trustMaterial(options: TrustOptions): Promise<VerificationTrust> {
  const keys = new Map<string, LoadedPublicKey>();
  for (const [i, k] of (options.publicKeys ?? []).entries()) {
    const loaded = await loadPublicKey({ pem: k.pem, name: k.name ?? `public key ${i + 1}` });
    keys.set(loaded.hint, loaded);
  }
  let root: TrustedRoot | undefined;
  let source: TrustRootSource = { kind: 'none' };
  let rootJson: unknown;
  if (options.trustedRoot) {
    rootJson = options.trustedRoot;
    source = { kind: 'pinned' };
  } else if (options.trustedRootPath) {
    rootJson = await readPinnedRoot(options.trustedRootPath);
    source = { kind: 'pinned', path: options.trustedRootPath };
  } else if (options.tuf) {
    // Already protobuf-decoded by @sigstore/tuf (and validated by its TUF target hash).
    root = await fetchTrustedRoot(options.tuf);
    source = { kind: 'tuf', mirrorURL: (options.tuf.mirrorURL ?? SIGSTORE_TUF_MIRROR).replace(/\/+$/, '') };
  }
  if (source.kind === 'none' && keys.size === 0)
    throw new ModelshipError(
      'USAGE',
      'verification needs a pinned trusted_root.json or a public key, or a TUF source',
      {
        hint: 'pass a trusted root (e.g. from `cosign trusted-root create`), the signer’s public key, or TUF options (`tuf: {}` = Sigstore public-good)',
      },
    );
  if (!root) {
    try {
      root = TrustedRoot.fromJSON(rootJson ?? EMPTY_ROOT);
    } catch (e) {
      throw new ModelshipError('INPUT', `not a Sigstore trusted root: ${(e as Error).message}`, { cause: e });
    }
  }
  const keyForHint = (hint: string): LoadedPublicKey | undefined => {
    const id = hintToKeyId(hint);
    return id === undefined ? undefined : keys.get(id);
  };
  const finder = (hint: string) => {
    const key = keyForHint(hint);
    if (!key) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    return { publicKey: key.publicKey, validFor: () => true };
  };
  let material: TrustMaterial;
  try {
    material = toTrustMaterial(root, finder);
  } catch (e) {
    const what = source.kind === 'tuf' ? `trusted root from TUF ${source.mirrorURL}` : 'trusted root';
    throw new ModelshipError(source.kind === 'tuf' ? 'INVALID' : 'INPUT', `unusable ${what}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const perKey = new Map<string, TrustMaterial>();
  const parsedRoot = root;
  const materialForKey = (key: LoadedPublicKey): TrustMaterial => {
    let m = perKey.get(key.hint);
    if (!m) {
      m = toTrustMaterial(parsedRoot, () => ({ publicKey: key.publicKey, validFor: () => true }));
      perKey.set(key.hint, m);
    }
    return m;
  };
  return { material, keys, keyForHint, materialForKey, hasRoot: source.kind !== 'none', root: source };
}

/**
 * Where the trusted root for a policy comes from: `--trusted-root` over the policy's pinned
 * `trust.trustedRoot`, else TUF (flags over `trust.tufMirror` / `trust.tufRoot`) but only when
 * the policy names a keyless signer: a key-only policy cannot be satisfied by a keyless bundle,
 * so it never needs Sigstore's root and never touches the network.
 */
export function policyTrustSource(
  policy: { source: string; signers: readonly { type: string }[]; trust: PolicyTrust },
  overrides: { trustedRootPath?: string; tuf?: TufOptions } = {},
): Pick<TrustOptions, 'trustedRootPath' | 'tuf'> {
  const tuf = overrides.tuf ?? {};
  const tufFlags = [tuf.mirrorURL ? opt('tufMirror') : '', tuf.rootPath ? opt('tufRoot') : ''].filter(Boolean);
  const pinned = overrides.trustedRootPath ?? policy.trust.trustedRoot;
  if (pinned) {
    if (tufFlags.length > 0)
      throw new ModelshipError(
        'USAGE',
        `${tufFlags.join(' and ')} cannot apply: the trusted root is pinned (${overrides.trustedRootPath ? opt('trustedRoot') : `trust.trustedRoot in ${policy.source}`})`,
        { hint: 'use either a pinned trusted_root.json or a TUF repository, not both' },
      );
    return { trustedRootPath: pinned };
  }
  if (!policy.signers.some((s) => s.type === 'keyless')) return {};
  const out: TufOptions = { ...tuf };
  if (tuf.mirrorURL) {
    // The policy's initial root belongs to the policy's mirror, not to one given on the command line.
    if (!tuf.rootPath && policy.trust.tufRoot && sameMirror(tuf.mirrorURL, policy.trust.tufMirror))
      out.rootPath = policy.trust.tufRoot;
  } else {
    if (policy.trust.tufMirror) out.mirrorURL = policy.trust.tufMirror;
    if (!tuf.rootPath && policy.trust.tufRoot) out.rootPath = policy.trust.tufRoot;
  }
  return { tuf: out };
}

function sameMirror(a: string, b: string | undefined): boolean {
  return b !== undefined && a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}
