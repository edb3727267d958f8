import { randomBytes, scrypt as scryptCb, scryptSync, type ScryptOptions } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa';
import { ModelshipError, opt } from '../errors.js';

/**
 * cosign's password-protected private key: a PEM block whose body is the JSON written by
 * go-securesystemslib `encrypted.Encrypt` (formerly go-tuf): scrypt derives a 32-byte key from
 * the password, NaCl secretbox (XSalsa20-Poly1305) seals the PKCS#8 DER.
 *   {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"<b64>"},
 *    "cipher":{"name":"nacl/secretbox","nonce":"<b64>"},"ciphertext":"<b64 tag||box>"}
 */
export const SIGSTORE_PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED COSIGN PRIVATE KEY';

/**
 * The parameter sets go-securesystemslib knows (Legacy, Standard, OWASP); anything else is
 * refused before deriving, as Go does, because N and r in a file we are handed could otherwise
 * make us allocate gigabytes. Legacy is what every cosign release reads, so we write it.
 */
const KNOWN_SCRYPT_PARAMS = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 131072, r: 8, p: 1 },
] as const;
const WRITE_SCRYPT_PARAMS = KNOWN_SCRYPT_PARAMS[0];
const SALT_SIZE = 32;
const NONCE_SIZE = 24;
const KEY_SIZE = 32;

interface CosignKeyJson {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

export function isCosignKeyLabel(label: string): boolean {
  return label === SIGSTORE_PRIVATE_KEY_PEM_TYPE || label === COSIGN_PRIVATE_KEY_PEM_TYPE;
}

type ScryptParams = { N: number; r: number; p: number };

// Node's default maxmem (32 MiB) is below what N=65536, r=8 needs (128 * N * r = 64 MiB).
const scryptOptions = (params: ScryptParams): ScryptOptions => ({ ...params, maxmem: 256 * params.N * params.r });

function deriveKey(password: string, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(Buffer.from(password, 'utf8'), salt, KEY_SIZE, scryptOptions(params), (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/**
 * Decrypts the JSON body of a cosign key to the PKCS#8 DER. A failed authentication tag is
 * the only sign of a wrong password (the format has no separate check), hence AUTH.
 */
export async function decryptCosignKey(body: Buffer, password: string, name: string): Promise<Buffer> {
  const malformed = (why: string): ModelshipError =>
    new ModelshipError('INPUT', `${name} is not a valid cosign encrypted private key: ${why}`, {
      hint: 'regenerate it with `cosign generate-key-pair` or `modelship generate-key-pair`',
    });
  let data: CosignKeyJson;
  try {
    data = JSON.parse(body.toString('utf8')) as CosignKeyJson;
  } catch {
    throw malformed('the PEM body is not JSON');
  }
  if (data?.kdf?.name !== 'scrypt') throw malformed(`unknown kdf ${JSON.stringify(data?.kdf?.name)}`);
  if (data.cipher?.name !== 'nacl/secretbox') throw malformed(`unknown cipher ${JSON.stringify(data.cipher?.name)}`);
  const p = data.kdf.params;
  const params = KNOWN_SCRYPT_PARAMS.find((k) => k.N === p?.N && k.r === p?.r && k.p === p?.p);
  if (!params) throw malformed(`unexpected scrypt parameters ${JSON.stringify(p)}`);
  const salt = Buffer.from(data.kdf.salt ?? '', 'base64');
  const nonce = Buffer.from(data.cipher.nonce ?? '', 'base64');
  const sealed = Buffer.from(data.ciphertext ?? '', 'base64');
  if (salt.length === 0) throw malformed('empty salt');
  if (nonce.length !== NONCE_SIZE) throw malformed(`nonce is ${nonce.length} bytes, expected ${NONCE_SIZE}`);
  if (sealed.length <= 16) throw malformed('ciphertext too short');

  const key = await deriveKey(password, salt, params);
  try {
    return Buffer.from(xsalsa20poly1305(key, nonce).decrypt(sealed));
  } catch {
    throw new ModelshipError('AUTH', `wrong password for ${name}`, {
      hint: `set the password used when the key was generated: ${opt('keyPassword')}`,
    });
  } finally {
    key.fill(0);
  }
}

/**
 * Encrypts PKCS#8 DER into cosign's PEM. Synchronous (about 0.1 s of scrypt) because key
 * generation is a one-off. `salt`/`nonce` are for known-answer tests only: a reused nonce
 * under the same password-derived key would leak the plaintext.
 */
export function encryptCosignKey(
  pkcs8Der: Uint8Array,
  password: string,
  fixed: { salt?: Uint8Array; nonce?: Uint8Array } = {},
): string {
  const salt = fixed.salt ?? randomBytes(SALT_SIZE);
  const nonce = fixed.nonce ?? randomBytes(NONCE_SIZE);
  const key = scryptSync(Buffer.from(password, 'utf8'), salt, KEY_SIZE, scryptOptions(WRITE_SCRYPT_PARAMS));
  let sealed: Uint8Array;
  try {
    sealed = xsalsa20poly1305(key, nonce).encrypt(pkcs8Der);
  } finally {
    key.fill(0);
  }
  // Same field order and spelling as Go's json.Marshal of the struct, so our files are
  // byte-for-byte what cosign would write for the same salt and nonce.
  const json: CosignKeyJson = {
    kdf: { name: 'scrypt', params: { ...WRITE_SCRYPT_PARAMS }, salt: Buffer.from(salt).toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: Buffer.from(nonce).toString('base64') },
    ciphertext: Buffer.from(sealed).toString('base64'),
  };
  return pemEncode(SIGSTORE_PRIVATE_KEY_PEM_TYPE, Buffer.from(JSON.stringify(json), 'utf8'));
}

function pemEncode(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
