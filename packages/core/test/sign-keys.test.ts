import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  scryptSync,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { ModelshipError, opt } from '../src/errors.js';
import { signStatement } from '../src/sign/bundle.js';
import { encryptCosignKey } from '../src/sign/cosign-key.js';
import {
  generateKeyPair,
  keySetup,
  loadPrivateKey,
  loadPublicKey,
  writeKeyPair,
  type KeySource,
  type LoadedKey,
} from '../src/sign/keys.js';
import type { InTotoStatement, SerializedBundleJson } from '../src/sign/types.js';

const run = promisify(execFile);
const PASSWORD = 'correct horse battery staple';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelship-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openssl(...args: string[]): Promise<string> {
  return (await run('openssl', args)).stdout;
}

async function fixture(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Hint computed by openssl, independently of node's export: sha256(DER SPKI). */
async function opensslHint(privatePath: string, passin?: string): Promise<string> {
  const der = join(dir, `${Math.random().toString(36).slice(2)}.der`);
  await openssl(
    'pkey',
    '-in',
    privatePath,
    ...(passin ? ['-passin', `pass:${passin}`] : []),
    '-pubout',
    '-outform',
    'DER',
    '-out',
    der,
  );
  return createHash('sha256')
    .update(await readFile(der))
    .digest('hex');
}

async function failure(p: Promise<unknown>): Promise<ModelshipError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ModelshipError);
    return e as ModelshipError;
  }
  throw new Error('expected a rejection');
}

const statement: InTotoStatement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'registry.example/models/tiny', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://sigstore.dev/cosign/sign/v1',
  predicate: {},
};

const emptyRoot = TrustedRoot.fromJSON({
  mediaType: 'application/vnd.dev.sigstore.trustedroot.v0.2+json',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

function verifyWith(bundle: SerializedBundleJson, keys: Record<string, KeyObject>): void {
  const tm = toTrustMaterial(emptyRoot, (hint) => {
    const publicKey = keys[hint];
    if (!publicKey) throw new Error(`no key for hint ${hint}`);
    return { publicKey, validFor: () => true };
  });
  const verifier = new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundleFromJSON(bundle)));
}

describe('loadPrivateKey: accepted formats', () => {
  it('PKCS#8 P-256 from node, with the RFC 6962 hint openssl computes', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const path = await fixture('p256-pkcs8.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const key = await loadPrivateKey({ path });
    expect(key.algorithm).toBe('ecdsa-p256');
    expect(key.name).toBe(path);
    expect(key.hint).toMatch(/^[0-9a-f]{64}$/);
    expect(key.hint).toBe(await opensslHint(path));
    expect(key.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
  });

  it('PKCS#8 Ed25519 from openssl genpkey', async () => {
    const path = await fixture('ed25519.pem', await openssl('genpkey', '-algorithm', 'ed25519'));
    const key = await loadPrivateKey({ path });
    expect(key.algorithm).toBe('ed25519');
    expect(key.hint).toBe(await opensslHint(path));
  });

  it('SEC1 EC PRIVATE KEY, alone and after an EC PARAMETERS block', async () => {
    const sec1 = await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout');
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    const a = await loadPrivateKey({ path: await fixture('sec1.pem', sec1) });
    expect(a.algorithm).toBe('ecdsa-p256');
    const withParams = await openssl('ecparam', '-name', 'prime256v1', '-genkey');
    expect(withParams).toContain('BEGIN EC PARAMETERS');
    const b = await loadPrivateKey({ path: await fixture('sec1-params.pem', withParams) });
    expect(b.algorithm).toBe('ecdsa-p256');
  });

  it('encrypted PKCS#8 (openssl pkcs8 -topk8 -v2 aes-256-cbc) with its password', async () => {
    const sec1 = await fixture('enc-src.pem', await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout'));
    const enc = await openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', sec1, '-passout', `pass:${PASSWORD}`);
    expect(enc).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const key = await loadPrivateKey({ path: await fixture('enc.pem', enc) }, PASSWORD);
    expect(key.algorithm).toBe('ecdsa-p256');
    expect(key.hint).toBe(await opensslHint(sec1));
  });

  it('OpenSSL legacy Proc-Type encrypted SEC1 with its password', async () => {
    const sec1 = await fixture('legacy-src.pem', await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout'));
    const legacy = await openssl('ec', '-in', sec1, '-aes256', '-passout', `pass:${PASSWORD}`);
    expect(legacy).toContain('Proc-Type: 4,ENCRYPTED');
    const path = await fixture('legacy.pem', legacy);
    expect((await loadPrivateKey({ path }, PASSWORD)).hint).toBe(await opensslHint(sec1));
    expect((await failure(loadPrivateKey({ path }))).code).toBe('USAGE');
  });

  it('PEM text from a secret, also base64-wrapped, named without its content', async () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const a = await loadPrivateKey({ pem, name: 'MODELSHIP_KEY' });
    expect(a.name).toBe('key from MODELSHIP_KEY');
    const b = await loadPrivateKey({ pem: Buffer.from(pem).toString('base64') });
    expect(b.hint).toBe(a.hint);
    expect(b.name).toBe('key from PEM input');
  });
});

describe('loadPrivateKey: refusals', () => {
  it('missing file → INPUT naming the path', async () => {
    const path = join(dir, 'no-such.key');
    const e = await failure(loadPrivateKey({ path }));
    expect(e.code).toBe('INPUT');
    expect(e.message).toContain(path);
    expect(e.hint).toBeTruthy();
  });

  it('not PEM, or a public key → INPUT', async () => {
    const e = await failure(loadPrivateKey({ pem: 'hello world', name: 'KEY' }));
    expect(e.code).toBe('INPUT');
    expect(e.message).toContain('not a PEM private key');
    const pub = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const f = await failure(loadPrivateKey({ pem: pub }));
    expect(f.code).toBe('INPUT');
    expect(f.message).toContain('public key, not a private key');
  });

  it('RSA below 2048 bits → INPUT "too small"; other RSA sizes and curves → INPUT "unsupported"', async () => {
    const rsa1024 = await fixture(
      'rsa1024.pem',
      await openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'),
    );
    const e = await failure(loadPrivateKey({ path: rsa1024 }));
    expect(e.code).toBe('INPUT');
    expect(e.message).toBe(`RSA key in ${rsa1024} is 1024 bits, too small: RSA keys must have at least 2048 bits`);
    expect(e.hint).toContain('generate-key-pair');
    // the public half is refused for verification too, as cosign's LoadDefaultVerifier does
    const pub1024 = await openssl('pkey', '-in', rsa1024, '-pubout');
    expect((await failure(loadPublicKey({ pem: pub1024, name: 'old.pub' }))).message).toContain('too small');
    // PKCS#1 RSA (traditional label) is judged the same way
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    });
    expect((await failure(loadPrivateKey({ pem: pkcs1.toString() }))).message).toContain('1024 bits, too small');
    // 2560 bits: no sigstore algorithm (2048, 3072, 4096 only), so cosign could not verify it
    const rsa2560 = generateKeyPairSync('rsa', { modulusLength: 2560 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const f = await failure(loadPrivateKey({ pem: rsa2560.toString() }));
    expect(f.code).toBe('INPUT');
    expect(f.message).toContain('unsupported key size RSA-2560');
    const k256 = await fixture('k256.pem', await openssl('ecparam', '-name', 'secp256k1', '-genkey', '-noout'));
    const g = await failure(loadPrivateKey({ path: k256 }));
    expect(g.code).toBe('INPUT');
    expect(g.message).toMatch(
      /^unsupported key type ECDSA secp256k1 .*; modelship signs with ECDSA P-256, P-384 or P-521/,
    );
  });

  it('RSA (PKCS#8 and PKCS#1), P-384 and P-521 load, each with the hash cosign pairs with it', async () => {
    const cases = [
      { pem: await openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'), algorithm: 'rsa-2048' },
      {
        pem: generateKeyPairSync('rsa', { modulusLength: 3072 })
          .privateKey.export({ type: 'pkcs1', format: 'pem' })
          .toString(),
        algorithm: 'rsa-3072',
      },
      { pem: await openssl('ecparam', '-name', 'secp384r1', '-genkey', '-noout'), algorithm: 'ecdsa-p384' },
      {
        pem: await openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'),
        algorithm: 'ecdsa-p521',
      },
    ];
    const hashes: Record<string, string> = {
      'rsa-2048': 'sha256',
      'rsa-3072': 'sha256',
      'ecdsa-p384': 'sha384',
      'ecdsa-p521': 'sha512',
    };
    for (const c of cases) {
      const key = await loadPrivateKey({ pem: c.pem, name: c.algorithm });
      expect(key.algorithm).toBe(c.algorithm);
      const setup = await keySetup(key);
      const data = Buffer.from('DSSEv1 28 application/vnd.in-toto+json 2 {}');
      const { signature } = await setup.signer.sign(data);
      expect(cryptoVerify(hashes[c.algorithm]!, data, key.publicKey, signature)).toBe(true);
      if (hashes[c.algorithm] !== 'sha256') expect(cryptoVerify('sha256', data, key.publicKey, signature)).toBe(false);
    }
  });

  it('P-384 and P-521 with a transparency log → USAGE before signing (Rekor checks with SHA-256)', async () => {
    const key = await loadPrivateKey({ pem: await openssl('ecparam', '-name', 'secp384r1', '-genkey', '-noout') });
    const e = await failure(keySetup(key, { rekorURL: 'https://rekor.example.com' }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('ECDSA P-384 key, which signs with SHA384');
    expect(e.template.hint).toContain(opt('noTlog'));
  });

  it('encrypted keys: missing password → USAGE, wrong password → AUTH; the password is never echoed', async () => {
    const sec1 = await fixture('pw-src.pem', await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout'));
    const pkcs8 = await fixture(
      'pw-enc.pem',
      await openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', sec1, '-passout', `pass:${PASSWORD}`),
    );
    const cosign = await fixture('pw-cosign.key', generateKeyPair({ password: PASSWORD }).privateKeyPem);
    const wrong = 'hunter2-not-it';
    const errors: ModelshipError[] = [];
    for (const path of [pkcs8, cosign]) {
      const missing = await failure(loadPrivateKey({ path }));
      expect(missing.code).toBe('USAGE');
      expect(missing.message).toContain(path);
      expect(missing.template.hint).toContain(opt('keyPassword'));
      const bad = await failure(loadPrivateKey({ path }, wrong));
      expect(bad.code).toBe('AUTH');
      expect(bad.message).toBe(`wrong password for ${path}`);
      errors.push(missing, bad);
    }
    for (const e of errors) {
      const text = `${e.message}\n${e.hint ?? ''}\n${e.stack ?? ''}\n${String((e.cause as Error | undefined)?.message)}`;
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(PASSWORD);
    }
  });
});

describe("cosign's encrypted key format", () => {
  // Fixed inputs: an Ed25519 PKCS#8 from a fixed seed, salt, nonce and password.
  const seed = Buffer.alloc(32, 7);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const salt = Buffer.alloc(32, 0x5a);
  const nonce = Buffer.alloc(24, 0xa5);

  /** The format as go-securesystemslib `encrypted.Encrypt` documents it, built by hand. */
  function expectedPem(label: string): string {
    const key = scryptSync(PASSWORD, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const sealed = xsalsa20poly1305(key, nonce).encrypt(pkcs8);
    expect(sealed.length).toBe(pkcs8.length + 16); // secretbox: 16-byte Poly1305 tag, then the box
    const json =
      `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"${salt.toString('base64')}"},` +
      `"cipher":{"name":"nacl/secretbox","nonce":"${nonce.toString('base64')}"},` +
      `"ciphertext":"${Buffer.from(sealed).toString('base64')}"}`;
    const b64 = Buffer.from(json)
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n');
    return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
  }

  it('known answer: we write exactly the documented bytes and read them back', async () => {
    const pem = expectedPem('ENCRYPTED SIGSTORE PRIVATE KEY');
    expect(encryptCosignKey(pkcs8, PASSWORD, { salt, nonce })).toBe(pem);
    const key = await loadPrivateKey({ pem, name: 'kat' }, PASSWORD);
    expect(key.algorithm).toBe('ed25519');
    const want = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    expect(
      key.privateKey.export({ type: 'pkcs8', format: 'der' }).equals(want.export({ type: 'pkcs8', format: 'der' })),
    ).toBe(true);
  });

  it('reads the older ENCRYPTED COSIGN PRIVATE KEY label', async () => {
    const key = await loadPrivateKey({ pem: expectedPem('ENCRYPTED COSIGN PRIVATE KEY') }, PASSWORD);
    expect(key.algorithm).toBe('ed25519');
  });

  it('an empty password is tried when none is given (cosign with COSIGN_PASSWORD="")', async () => {
    const der = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' });
    const key = await loadPrivateKey({ pem: encryptCosignKey(der, '') });
    expect(key.algorithm).toBe('ecdsa-p256');
  });

  it('refuses unexpected scrypt parameters before deriving (DoS guard) and a tampered box', async () => {
    const body = (pem: string): Record<string, unknown> =>
      JSON.parse(Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s/g, ''), 'base64').toString()) as Record<
        string,
        unknown
      >;
    const wrap = (json: unknown): string =>
      `-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n${Buffer.from(JSON.stringify(json)).toString('base64')}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n`;
    const data = body(expectedPem('ENCRYPTED SIGSTORE PRIVATE KEY')) as {
      kdf: { params: { N: number } };
      ciphertext: string;
    };
    const huge = structuredClone(data);
    huge.kdf.params.N = 1 << 24;
    const e = await failure(loadPrivateKey({ pem: wrap(huge) }, PASSWORD));
    expect(e.code).toBe('INPUT');
    expect(e.message).toContain('unexpected scrypt parameters');
    const tampered = structuredClone(data);
    const ct = Buffer.from(tampered.ciphertext, 'base64');
    ct[ct.length - 1]! ^= 1;
    tampered.ciphertext = ct.toString('base64');
    expect((await failure(loadPrivateKey({ pem: wrap(tampered) }, PASSWORD))).code).toBe('AUTH');
  });
});

describe('keySetup + signStatement → bundle verified by @sigstore/verify', () => {
  for (const algorithm of ['ecdsa-p256', 'ed25519'] as const) {
    it(`${algorithm}: publicKey.hint bundle verifies; a flipped byte or another key fails`, async () => {
      const pair = generateKeyPair({ algorithm });
      const key = await loadPrivateKey({ pem: pair.privateKeyPem });
      const setup = await keySetup(key);
      expect(setup.witnesses).toHaveLength(0);
      const bundle = await signStatement(statement, setup);
      expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
      // cosign's hint (base64 of the SPKI SHA-256), and keyid "" (protobuf JSON omits it), as
      // cosign and sigstore-go write them (test/dsse-go-securesystemslib.test.ts says why).
      expect(key.bundleHint).toBe(Buffer.from(key.hint, 'hex').toString('base64'));
      expect(bundle.verificationMaterial['publicKey']).toEqual({ hint: key.bundleHint });
      expect(bundle.verificationMaterial['certificate']).toBeUndefined();
      expect(bundle.verificationMaterial['tlogEntries']).toBeUndefined();
      expect(bundle.dsseEnvelope!.signatures[0]!.keyid ?? '').toBe('');

      const pub = await loadPublicKey({ pem: pair.publicKeyPem });
      expect(pub.hint).toBe(key.hint);
      verifyWith(bundle, { [key.bundleHint]: pub.publicKey });

      const flipped = structuredClone(bundle);
      const payload = Buffer.from(flipped.dsseEnvelope!.payload, 'base64');
      payload[10]! ^= 1;
      flipped.dsseEnvelope!.payload = payload.toString('base64');
      expect(() => verifyWith(flipped, { [key.bundleHint]: pub.publicKey })).toThrow();

      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      expect(() => verifyWith(bundle, { [key.bundleHint]: other })).toThrow();
      expect(() => verifyWith(bundle, {})).toThrow(/key/i);

      expect(setup.describe(bundle)).toEqual({ kind: 'key', subject: `key:${key.hint}`, keyHint: key.hint });
    });
  }

  it('witnesses only when asked; an unreachable one is named, Rekor with the opt-out', async () => {
    const key: LoadedKey = await loadPrivateKey({ pem: generateKeyPair().privateKeyPem });
    expect((await keySetup(key)).witnesses).toHaveLength(0);
    // Port 1 on loopback refuses at once: nothing listens there.
    const down = 'http://127.0.0.1:1';
    const both = await keySetup(key, { rekorURL: down, tsaURL: down, retries: 0 });
    expect(both.witnesses).toHaveLength(2);
    const rekor = await failure(signStatement(statement, await keySetup(key, { rekorURL: down, retries: 0 })));
    expect(rekor).toMatchObject({
      code: 'NETWORK',
      message: expect.stringContaining('Rekor (transparency log) failed'),
    });
    expect(rekor.message).toContain(down);
    expect(rekor.template.hint).toContain(opt('noTlog'));
    const tsa = await failure(signStatement(statement, await keySetup(key, { tsaURL: down, retries: 0 })));
    expect(tsa).toMatchObject({ code: 'NETWORK', message: expect.stringContaining('timestamp authority failed') });
    await expect(keySetup(key, { rekorURL: 'ftp://rekor' })).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('loadPublicKey', () => {
  it('reads SPKI PEM and a certificate, with the same hint; refuses a private key', async () => {
    const keyPath = await fixture('cert.key', await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout'));
    const cert = await openssl('req', '-x509', '-key', keyPath, '-subj', '/CN=modelship test', '-days', '1');
    const fromCert = await loadPublicKey({ path: await fixture('cert.pem', cert) });
    const priv = await loadPrivateKey({ path: keyPath });
    expect(fromCert.hint).toBe(priv.hint);
    expect(fromCert.pem).toBe(priv.publicKeyPem);
    const fromPub = await loadPublicKey({ pem: priv.publicKeyPem });
    expect(fromPub.hint).toBe(priv.hint);
    const e = await failure(loadPublicKey({ path: keyPath }));
    expect(e.code).toBe('INPUT');
    expect(e.message).toContain('holds a private key');
    expect((await failure(loadPublicKey({ path: join(dir, 'missing.pub') }))).code).toBe('INPUT');
  });
});

describe('generateKeyPair / writeKeyPair', () => {
  for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as const)
    for (const password of [undefined, PASSWORD])
      it(`${algorithm} ${password ? 'with' : 'without'} a password round-trips through files`, async () => {
        const pair = generateKeyPair({ algorithm, ...(password ? { password } : {}) });
        expect(pair.algorithm).toBe(algorithm);
        expect(pair.encrypted).toBe(Boolean(password));
        expect(pair.privateKeyPem).toContain(
          password ? '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----' : '-----BEGIN PRIVATE KEY-----',
        );
        if (password) expect(pair.privateKeyPem).not.toContain(password);
        const prefix = join(dir, `gen-${algorithm}-${password ? 'pw' : 'plain'}`, 'cosign');
        const paths = await writeKeyPair(prefix, pair);
        expect(paths).toEqual({ privateKeyPath: `${prefix}.key`, publicKeyPath: `${prefix}.pub` });
        const key = await loadPrivateKey({ path: paths.privateKeyPath }, password);
        expect(key.algorithm).toBe(algorithm);
        expect(key.hint).toBe(pair.hint);
        expect((await loadPublicKey({ path: paths.publicKeyPath })).hint).toBe(pair.hint);
      });

  it('writes 0600/0644, refuses to overwrite unless forced, leaves no temp files', async () => {
    const sub = await mkdtemp(join(dir, 'write-'));
    const prefix = join(sub, 'cosign');
    const first = generateKeyPair();
    const paths = await writeKeyPair(prefix, first);
    expect((await stat(paths.privateKeyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(paths.publicKeyPath)).mode & 0o777).toBe(0o644);

    const second = generateKeyPair();
    const e = await failure(writeKeyPair(prefix, second));
    expect(e.code).toBe('INPUT');
    expect(e.message).toContain(paths.privateKeyPath);
    expect(e.template.hint).toContain(opt('force'));
    expect(await readFile(paths.privateKeyPath, 'utf8')).toBe(first.privateKeyPem);

    // only the .pub in the way still refuses, and writes no .key
    const other = join(sub, 'other');
    await writeFile(`${other}.pub`, 'keep me');
    expect((await failure(writeKeyPair(other, second))).message).toContain(`${other}.pub`);
    await expect(stat(`${other}.key`)).rejects.toThrow();

    await writeKeyPair(prefix, second, { force: true });
    expect(await readFile(paths.privateKeyPath, 'utf8')).toBe(second.privateKeyPem);
    expect(await readFile(paths.publicKeyPath, 'utf8')).toBe(second.publicKeyPem);
    expect((await stat(paths.privateKeyPath)).mode & 0o777).toBe(0o600);
    expect((await readdir(sub)).sort()).toEqual(['cosign.key', 'cosign.pub', 'other.pub']);
  });

  it('refuses an unknown algorithm with USAGE', () => {
    expect(() => generateKeyPair({ algorithm: 'rsa' as unknown as 'ed25519' })).toThrow(
      expect.objectContaining({ code: 'USAGE' }) as unknown as Error,
    );
  });
});

// Keep the KeySource type exercised so a rename breaks compilation of this test.
const _source: KeySource = { path: '/dev/null' };
void _source;
