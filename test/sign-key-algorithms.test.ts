/**
 * The key types cosign signs with, through the CLI: RSA (PKCS#1 v1.5, SHA-256) of 2048, 3072
 * and 4096 bits, and ECDSA P-384 (SHA-384), besides P-256 and Ed25519 (sign-attach.test.ts).
 * The hash per key is sigstore's algorithm registry (sigstore/sigstore
 * pkg/signature/algorithm_registry.go `GetDefaultPublicKeyDetails`), which is what
 * `cosign verify --key` loads its verifier with. RSA below 2048 bits is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dsse } from '@sigstore/core';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { layoutBundles, verifyWithKey } from './helpers/verify.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

let files = 0;

/** A private key file and its public key, from openssl or node as named. */
function keyFile(name: string, privatePem: string): { key: string; pub: string } {
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  writeFileSync(key, privatePem, { mode: 0o600 });
  writeFileSync(pub, createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }));
  return { key, pub };
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function keyPolicy(pub: string): string {
  const p = join(tmp.dir, `policy-${++files}.yaml`);
  writeFileSync(p, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);
  return p;
}

describe('sign --key and verify with RSA and P-384 keys (OCI layout)', () => {
  const keys: Record<string, { key: string; pub: string; hash: 'sha256' | 'sha384' }> = {};
  beforeAll(() => {
    // node crypto, PKCS#1 `RSA PRIVATE KEY`; openssl, PKCS#8; openssl SEC1 `EC PRIVATE KEY`.
    const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    }) as string;
    keys['RSA-2048'] = { ...keyFile('rsa2048', rsa2048), hash: 'sha256' };
    keys['RSA-4096'] = {
      ...keyFile('rsa4096', openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096')),
      hash: 'sha256',
    };
    keys['P-384'] = {
      ...keyFile('p384', openssl('ecparam', '-name', 'secp384r1', '-genkey', '-noout')),
      hash: 'sha384',
    };
  });

  for (const name of ['RSA-2048', 'RSA-4096', 'P-384'])
    it(`${name}: signs, verifies with modelship, and the signature is over the PAE with cosign's hash`, async () => {
      const { key, pub, hash } = keys[name]!;
      const layout = join(tmp.dir, `layout-${++files}`);
      const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
      const ref = `oci:${layout}@${digest}`;
      const signed = await runCli(['sign', ref, '--key', key, '--no-tlog', '--json']);
      expect(signed.stderr).toBe('');
      expect(signed.status).toBe(0);

      const ok = await runCli(['verify', ref, '--policy', keyPolicy(pub), '--json']);
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      const report = JSON.parse(ok.stdout) as {
        ok: boolean;
        bundles: { trusted: boolean; signer?: { kind: string } }[];
      };
      expect(report.ok).toBe(true);
      expect(report.bundles).toEqual([
        expect.objectContaining({ trusted: true, signer: expect.objectContaining({ kind: 'key' }) }),
      ]);

      // Independently of modelship's verifier: the DSSE signature verifies over the PAE with
      // the registry's hash for this key (what cosign verify --key checks), and only with it.
      const [bundle] = await layoutBundles(layout, digest);
      const env = bundle!.dsseEnvelope!;
      const pae = dsse.preAuthEncoding(env.payloadType, Buffer.from(env.payload, 'base64'));
      const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
      const pubKey = createPublicKey(readFileSync(pub, 'utf8'));
      expect(cryptoVerify(hash, pae, pubKey, sig)).toBe(true);
      if (hash !== 'sha256') expect(cryptoVerify('sha256', pae, pubKey, sig)).toBe(false);
      // RSA and P-256 bundles verify with @sigstore/verify as it is; for P-384 the library
      // checks with OpenSSL's default hash (SHA-256), which is why modelship's verifier checks
      // the signature with the key's own hash (packages/core/src/verify/bundles.ts).
      if (hash === 'sha256')
        expect(verifyWithKey(bundle!, readFileSync(pub, 'utf8')).subject[0]!.digest['sha256']).toBe(digest.slice(7));

      // another key of the same type does not verify it
      const other = keyFile(
        `other-${files}`,
        openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'),
      );
      const bad = await runCli(['verify', ref, '--policy', keyPolicy(other.pub)]);
      expect(bad.status).toBe(9);
    });

  it('P-384 with the transparency log (the default) stops before signing, naming --no-tlog', async () => {
    const layout = join(tmp.dir, `layout-${++files}`);
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const r = await runCli(['sign', `oci:${layout}@${digest}`, '--key', keys['P-384']!.key]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('signs with SHA384');
    expect(r.stderr).toMatch(/hint: .*--no-tlog/);
    expect(await layoutBundles(layout, digest)).toEqual([]);
  });

  it('a 1024-bit RSA key is refused for signing (exit 3) and as a policy key (exit 3)', async () => {
    const weak = keyFile('rsa1024', openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'));
    const layout = join(tmp.dir, `layout-${++files}`);
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;
    const r = await runCli(['sign', ref, '--key', weak.key, '--no-tlog']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(
      `error: RSA key in ${weak.key} is 1024 bits, too small: RSA keys must have at least 2048 bits`,
    );
    expect(await layoutBundles(layout, digest)).toEqual([]);
    const v = await runCli(['verify', ref, '--policy', keyPolicy(weak.pub)]);
    expect(v.status).toBe(3);
    expect(v.stderr).toContain('1024 bits, too small');
  });
});
