import {
  X509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import type { Signer, Witness } from '@sigstore/sign';
import { ModelshipError, opt } from '../errors.js';
import { decryptCosignKey, encryptCosignKey, isCosignKeyLabel } from './cosign-key.js';
import { pemBlocks, readKeySource, type KeySource, type PemBlock } from './pem.js';
import type { SigningSetup } from './types.js';
import { rekorWitness, serviceURL, tsaWitness } from './witnesses.js';

export type { KeySource } from './pem.js';
export { writeKeyPair, type KeyPairPaths } from './key-files.js';
export { COSIGN_PRIVATE_KEY_PEM_TYPE, SIGSTORE_PRIVATE_KEY_PEM_TYPE } from './cosign-key.js';

/**
 * The signing keys modelship takes: those cosign takes (its `SupportedKeyDetails`, plus
 * Ed25519), each signing with the hash sigstore's algorithm registry pairs with it
 * (`GetDefaultPublicKeyDetails`), which is what `cosign verify --key` checks with
 * (docs/signing.md, "With a key" and "Sources").
 */
export type KeyAlgorithm =
  'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ed25519';
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = [
  'ecdsa-p256',
  'ecdsa-p384',
  'ecdsa-p521',
  'rsa-2048',
  'rsa-3072',
  'rsa-4096',
  'ed25519',
];

/** RSA moduli sigstore's registry knows (2048, 3072, 4096): `cosign verify --key` refuses any other. */
const RSA_SIZES = [2048, 3072, 4096] as const;
const EC_CURVES: Record<string, KeyAlgorithm> = {
  prime256v1: 'ecdsa-p256',
  secp384r1: 'ecdsa-p384',
  secp521r1: 'ecdsa-p521',
};

/**
 * The hash a key signs and verifies with, as sigstore's registry pairs them: P-256 SHA-256,
 * P-384 SHA-384, P-521 SHA-512, RSA (PKCS#1 v1.5, node's default padding for an `rsa` key)
 * SHA-256, Ed25519 none (pure: the hash is part of the scheme). `undefined` for other keys
 * (node then picks OpenSSL's default for the key, as @sigstore/verify does).
 */
export function signatureHash(key: KeyObject): 'sha256' | 'sha384' | 'sha512' | null | undefined {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return null;
    case 'rsa':
      return 'sha256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'sha256';
      if (curve === 'secp384r1') return 'sha384';
      if (curve === 'secp521r1') return 'sha512';
      return undefined;
    }
    default:
      return undefined;
  }
}

export interface LoadedKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI `PUBLIC KEY` PEM, what the bundle's signer and Rekor get. */
  publicKeyPem: string;
  /** Hex SHA-256 of the DER SubjectPublicKeyInfo (RFC 6962 §3.2 key id): how reports name the key (`key:<hex>`). */
  hint: string;
  /** The same digest in standard base64: the bundle's `publicKey.hint`, as cosign and sigstore-go write it. */
  bundleHint: string;
  algorithm: KeyAlgorithm;
  /** The path, or "key from <name>": what messages call the key. */
  name: string;
}

export interface LoadedPublicKey {
  publicKey: KeyObject;
  /** Hex SHA-256 of the DER SPKI (see LoadedKey.hint). */
  hint: string;
  /** SPKI `PUBLIC KEY` PEM (re-encoded when the source was a certificate). */
  pem: string;
}

export interface KeySetupOptions {
  /**
   * Upload to this Rekor (transparency log). keySetup uploads only when given one; the default
   * (upload, as `cosign sign --key`) is decided by signingSetup.
   */
  rekorURL?: string;
  /** Add an RFC 3161 timestamp from this TSA. */
  tsaURL?: string;
  rekorEntryType?: 'dsse' | 'intoto';
  /** Per request to Rekor / the TSA (default 10 s). */
  timeoutMs?: number;
  /** Retries per request on network errors and 5xx (default 3). */
  retries?: number;
}

export interface GeneratedKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  hint: string;
  algorithm: KeyAlgorithm;
  /** True when the private key is in cosign's password-encrypted format. */
  encrypted: boolean;
}

const PASSWORD_HINT = `pass the password with ${opt('keyPassword')}`;
const UNSUPPORTED_HINT =
  'create a supported key with `modelship generate-key-pair` (or `cosign generate-key-pair`), ' +
  'or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` ' +
  '(also P-384, P-521, RSA of 2048, 3072 or 4096 bits, Ed25519)';
const SUPPORTED_WORDS = 'ECDSA P-256, P-384 or P-521, RSA of 2048, 3072 or 4096 bits, or Ed25519';

/**
 * Loads a signing key. Accepts PKCS#8 `PRIVATE KEY` (ECDSA, RSA, Ed25519: KEY_ALGORITHMS),
 * PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`
 * (also with OpenSSL's legacy Proc-Type encryption), encrypted PKCS#8 `ENCRYPTED PRIVATE KEY`
 * and cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE KEY`. An empty or
 * missing password is tried as "" first, because `cosign generate-key-pair` with an empty
 * COSIGN_PASSWORD still writes an encrypted file.
 */
export async function loadPrivateKey(
  source: KeySource,
  password?: string,
  askPassword?: KeyPasswordPrompt,
): Promise<LoadedKey> {
  const { text, name } = await readKeySource(source, 'private key');
  const blocks = pemBlocks(text);
  const block = blocks.find((b) => b.label.endsWith('PRIVATE KEY'));
  if (!block) {
    const other = blocks[0]?.label;
    if (other === 'PUBLIC KEY' || other === 'CERTIFICATE')
      throw new ModelshipError('INPUT', `${name} holds a ${other.toLowerCase()}, not a private key`, {
        hint: 'sign with the private key (cosign.key); the .pub file is for verify',
      });
    throw new ModelshipError('INPUT', `${name} is not a PEM private key`, {
      hint: 'expected -----BEGIN PRIVATE KEY-----, EC PRIVATE KEY, ENCRYPTED PRIVATE KEY or cosign ENCRYPTED SIGSTORE PRIVATE KEY',
    });
  }
  const privateKey = await parsePrivateBlock(block, name, password, askPassword);
  const algorithm = signingAlgorithm(privateKey, name);
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: spkiPem(publicKey),
    hint: keyHint(publicKey),
    bundleHint: bundleKeyHint(publicKey),
    algorithm,
    name,
  };
}

/**
 * Asks the user for the password of an encrypted key (the CLI's terminal prompt, as cosign
 * prompts); called only when no password was given and the empty one does not open the key.
 */
export type KeyPasswordPrompt = (keyName: string) => Promise<string>;

async function parsePrivateBlock(
  block: PemBlock,
  name: string,
  password: string | undefined,
  askPassword: KeyPasswordPrompt | undefined,
): Promise<KeyObject> {
  if (block.label === 'OPENSSH PRIVATE KEY')
    throw new ModelshipError('INPUT', `unsupported key type OpenSSH in ${name}; modelship reads PEM keys`, {
      hint: 'convert it with `ssh-keygen -p -m PKCS8 -f KEY` (ECDSA or Ed25519 keys)',
    });
  const encrypted = isCosignKeyLabel(block.label) || block.label === 'ENCRYPTED PRIVATE KEY' || block.legacyEncrypted;
  if (!encrypted) return parsePem(block, name);

  const given = password !== undefined && password !== '';
  const decrypt = async (pw: string): Promise<KeyObject> => {
    if (isCosignKeyLabel(block.label)) return parseDer(await decryptCosignKey(block.body, pw, name), name);
    try {
      return createPrivateKey({ key: block.text, format: 'pem', passphrase: pw });
    } catch (e) {
      // A bad passphrase shows up as "bad decrypt" or, rarely, as garbage that fails to parse.
      throw new ModelshipError('AUTH', `wrong password for ${name}`, { cause: e, hint: PASSWORD_HINT });
    }
  };
  if (given) return decrypt(password);
  try {
    return await decrypt('');
  } catch (e) {
    if (e instanceof ModelshipError && e.code !== 'AUTH') throw e;
    if (askPassword) return decrypt(await askPassword(name));
    throw new ModelshipError('USAGE', `${name} is encrypted and no password was given`, { hint: PASSWORD_HINT });
  }
}

function parsePem(block: PemBlock, name: string): KeyObject {
  try {
    return createPrivateKey({ key: block.text, format: 'pem' });
  } catch (e) {
    throw new ModelshipError('INPUT', `${name} is not a valid ${block.label} (${(e as Error).message})`, {
      cause: e,
      hint: UNSUPPORTED_HINT,
    });
  }
}

function parseDer(der: Buffer, name: string): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new ModelshipError('INPUT', `${name} decrypted, but does not hold a PKCS#8 private key`, {
      cause: e,
      hint: UNSUPPORTED_HINT,
    });
  } finally {
    der.fill(0);
  }
}

/** The algorithm a key signs with, or INPUT for a key cosign would not sign with either. */
function signingAlgorithm(key: KeyObject, name: string): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec') {
    const algorithm = EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (algorithm) return algorithm;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    refuseSmallRsa(key, name);
    if ((RSA_SIZES as readonly number[]).includes(bits)) return `rsa-${bits}` as KeyAlgorithm;
    throw new ModelshipError(
      'INPUT',
      `unsupported key size RSA-${bits} in ${name}; cosign and sigstore-go sign and verify RSA keys of 2048, 3072 or 4096 bits only`,
      { hint: UNSUPPORTED_HINT },
    );
  }
  throw new ModelshipError(
    'INPUT',
    `unsupported key type ${describeKeyType(key)} in ${name}; modelship signs with ${SUPPORTED_WORDS}`,
    { hint: UNSUPPORTED_HINT },
  );
}

/** RSA below 2048 bits is refused for signing and verifying alike (NIST SP 800-131A; cosign refuses it too). */
function refuseSmallRsa(key: KeyObject, name: string): void {
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') return;
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048)
    throw new ModelshipError(
      'INPUT',
      `RSA key in ${name} is ${bits} bits, too small: RSA keys must have at least 2048 bits`,
      { hint: 'create a new key: RSA of 3072 bits, or ECDSA P-256 (what `modelship generate-key-pair` makes)' },
    );
}

const CURVE_NAMES: Record<string, string> = { secp384r1: 'P-384', secp521r1: 'P-521', prime256v1: 'P-256' };

function describeKeyType(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve';
    return `ECDSA ${CURVE_NAMES[curve] ?? curve}`;
  }
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength;
    return bits ? `RSA-${bits}` : 'RSA';
  }
  return type.toUpperCase();
}

function spkiDigest(publicKey: KeyObject): Buffer {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
}

/** Hex SHA-256 of the DER SPKI: modelship's name for a key in reports and policies. */
export function keyHint(publicKey: KeyObject): string {
  return spkiDigest(publicKey).toString('hex');
}

/**
 * What new bundles carry as `verificationMaterial.publicKey.hint`: standard base64 of the
 * SHA-256 of the DER SPKI, as cosign and sigstore-go's signer write it (docs/signing.md,
 * "With a key" and "Sources"). Bundles modelship wrote before carry the hex form;
 * verification reads both (verify/trust.ts), and never takes the hint as the signer's
 * identity.
 */
function bundleKeyHint(publicKey: KeyObject): string {
  return spkiDigest(publicKey).toString('base64');
}

/** The hex SPKI digest a bundle hint names: hex as is (old modelship bundles), base64 decoded (cosign's). */
export function hintToKeyId(hint: string): string | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(hint)) return hint.toLowerCase();
  if (/^[A-Za-z0-9+/]{43}=$/.test(hint)) return Buffer.from(hint, 'base64').toString('hex');
  return undefined;
}

function spkiPem(publicKey: KeyObject): string {
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * Loads a verification key: SPKI `PUBLIC KEY` PEM (cosign.pub) or a certificate, whose key is
 * used. Any signing key type is accepted here, so signatures made by other tools still verify.
 */
export async function loadPublicKey(source: KeySource): Promise<LoadedPublicKey> {
  const { text, name } = await readKeySource(source, 'public key');
  const blocks = pemBlocks(text);
  const block = blocks.find((b) => b.label === 'PUBLIC KEY' || b.label === 'CERTIFICATE');
  if (!block) {
    if (blocks.some((b) => b.label.endsWith('PRIVATE KEY')))
      throw new ModelshipError('INPUT', `${name} holds a private key; verify needs the public key`, {
        hint: 'pass the .pub file written next to the .key (never share the private key)',
      });
    throw new ModelshipError('INPUT', `${name} is not a PEM public key or certificate`, {
      hint: 'expected -----BEGIN PUBLIC KEY----- (e.g. cosign.pub) or -----BEGIN CERTIFICATE-----',
    });
  }
  let publicKey: KeyObject;
  try {
    publicKey =
      block.label === 'CERTIFICATE'
        ? new X509Certificate(block.body).publicKey
        : createPublicKey({ key: block.body, format: 'der', type: 'spki' });
  } catch (e) {
    throw new ModelshipError('INPUT', `${name} is not a valid ${block.label} (${(e as Error).message})`, { cause: e });
  }
  if (!['ec', 'ed25519', 'ed448', 'rsa', 'rsa-pss'].includes(publicKey.asymmetricKeyType ?? ''))
    throw new ModelshipError('INPUT', `unsupported key type ${describeKeyType(publicKey)} in ${name}`, {
      hint: 'a signature verification key is ECDSA, Ed25519 or RSA',
    });
  refuseSmallRsa(publicKey, name);
  return { publicKey, hint: keyHint(publicKey), pem: spkiPem(publicKey) };
}

/**
 * A signing setup for a loaded key: the bundle carries `publicKey.hint` (cosign's base64 form,
 * no certificate) and the DSSE keyid is "" (sign/bundle.ts says why). Rekor and the TSA are
 * witnesses only when their URLs are given.
 */
export async function keySetup(key: LoadedKey, options: KeySetupOptions = {}): Promise<SigningSetup> {
  // ECDSA (DER signature) and RSA (PKCS#1 v1.5) sign the PAE hashed as cosign and sigstore-go
  // verify it (signatureHash); Ed25519 is pure.
  const digest = signatureHash(key.publicKey);
  if (digest === undefined) throw new ModelshipError('INTERNAL', `no signature hash for ${key.algorithm}`);
  const signer: Signer = {
    sign: async (data: Buffer) => ({
      signature: cryptoSign(digest, data, key.privateKey),
      key: { $case: 'publicKey', publicKey: key.publicKeyPem, hint: key.bundleHint },
    }),
  };
  // URLs are checked before anything is signed, as keyless does.
  const rekorURL = options.rekorURL ? serviceURL(options.rekorURL, 'Rekor', opt('rekorUrl')) : undefined;
  // Rekor v1 checks a dsse or intoto entry's envelope with SHA-256 whatever the key
  // (`verifyEnvelope`: docs/signing.md, "With a key" and "Sources"), so it refuses what P-384
  // and P-521 sign (SHA-384, SHA-512): say so before signing rather than after.
  if (rekorURL && digest !== 'sha256' && digest !== null)
    throw new ModelshipError(
      'USAGE',
      `${key.name} is an ${describeKeyType(key.publicKey)} key, which signs with ${digest.toUpperCase()}; the transparency log (Rekor) checks signatures with SHA-256 only and would refuse the entry`,
      { hint: `sign without the transparency log (${opt('noTlog')}), or with an ECDSA P-256, RSA or Ed25519 key` },
    );
  const tsaURL = options.tsaURL ? serviceURL(options.tsaURL, 'timestamp authority', opt('tsaUrl')) : undefined;
  const service = {
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
  };
  const witnesses: Witness[] = [];
  if (rekorURL)
    witnesses.push(
      await rekorWitness(rekorURL, {
        ...service,
        ...(options.rekorEntryType ? { entryType: options.rekorEntryType } : {}),
      }),
    );
  if (tsaURL) witnesses.push(await tsaWitness(tsaURL, service));
  return {
    signer,
    witnesses,
    describe: () => ({ kind: 'key', subject: `key:${key.hint}`, keyHint: key.hint }),
  };
}

/**
 * Creates a signing key pair. With a password the private key is in cosign's encrypted format
 * (`ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt + secretbox), so `cosign sign --key` reads it too;
 * without one it is plain PKCS#8 `PRIVATE KEY` (openssl and modelship read it; cosign needs
 * `cosign import-key-pair` first).
 */
function newKeyPair(algorithm: KeyAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  if (algorithm === 'ed25519') return generateKeyPairSync('ed25519');
  if (algorithm.startsWith('rsa-')) return generateKeyPairSync('rsa', { modulusLength: Number(algorithm.slice(4)) });
  const curve = Object.entries(EC_CURVES).find(([, a]) => a === algorithm)![0];
  return generateKeyPairSync('ec', { namedCurve: curve });
}

export function generateKeyPair(options: { algorithm?: KeyAlgorithm; password?: string } = {}): GeneratedKeyPair {
  const algorithm = options.algorithm ?? 'ecdsa-p256';
  if (!KEY_ALGORITHMS.includes(algorithm))
    throw new ModelshipError('USAGE', `unknown key algorithm "${String(algorithm)}"`, {
      hint: `use one of ${KEY_ALGORITHMS.join(', ')}`,
    });
  const { privateKey, publicKey } = newKeyPair(algorithm);
  const encrypted = options.password !== undefined && options.password !== '';
  let privateKeyPem: string;
  if (encrypted) {
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    try {
      privateKeyPem = encryptCosignKey(der, options.password!);
    } finally {
      der.fill(0);
    }
  } else {
    privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }
  return { privateKeyPem, publicKeyPem: spkiPem(publicKey), hint: keyHint(publicKey), algorithm, encrypted };
}
