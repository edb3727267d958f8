/**
 * The DSSE check that cosign v3, Kyverno, policy-controller and `gh attestation verify` run,
 * against bundles modelship writes.
 *
 * Those verifiers are Go programs built on sigstore-go, which verifies a bundle's DSSE envelope
 * with go-securesystemslib's EnvelopeVerifier and no expected key id. `goSecureSystemsLibVerify`
 * below is a RE-IMPLEMENTATION of that check in TypeScript, written from these sources:
 *
 * - secure-systems-lab/go-securesystemslib dsse/verify.go and dsse/envelope.go at commit
 *   8b6ec9cb6eef425465c35e3d0668516fd9992a0d: `EnvelopeVerifier.VerifyAndDecode` (PAE, the
 *   key-id rule, the threshold), `SHA256KeyID`, `PAE`, `b64Decode`.
 * - sigstore/sigstore-go pkg/verify/signature.go at commit
 *   4594ab4c779d08be1f4419803a8249188f35ed5f: `verifyEnvelope` (exactly one signature, then
 *   `dsse.NewEnvelopeVerifier(&VerifierAdapter{SignatureVerifier, Pub})`: threshold 1, and
 *   the adapter's `PubKeyID` is empty, so `KeyID()` returns "").
 * - sigstore/sigstore pkg/signature/dsse/adapters.go (`VerifierAdapter.KeyID` returns
 *   `PubKeyID`).
 * - golang/crypto ssh/keys.go (`FingerprintSHA256`, and the `Marshal` of ECDSA and Ed25519
 *   public keys that it hashes).
 *
 * The rule that matters: with an empty expected key id the verifier computes its own,
 * `SHA256:<unpadded base64 of SHA-256 of the SSH wire-format key>`, and SKIPS any signature
 * whose keyid is non-empty and different; with none left it fails "accepted signatures do not
 * match threshold, Found: 0, Expected 1". The keyid is not covered by the signature, so
 * cosign and sigstore-go write "".
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { X509Certificate, createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import {
  OciLayoutStore,
  generateKeyPair,
  keySetup,
  keylessSetup,
  loadPrivateKey,
  pack,
  signArtifact,
  trustMaterial,
  verifyBundle,
  type SerializedBundleJson,
} from '@modelship/core';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { copySample, tempDir } from './helpers/tmp.js';

// ---- the re-implementation ------------------------------------------------------------------

interface DsseEnvelopeJson {
  payloadType: string;
  payload: string;
  signatures: { keyid?: string; sig: string }[];
}

type GoResult = { ok: true; acceptedKeyIds: string[]; body: Buffer } | { ok: false; error: string };

/** dsse/envelope.go b64Decode: standard encoding, then URL encoding. */
function b64Decode(s: string): Buffer {
  const std = /^[A-Za-z0-9+/]*={0,2}$/;
  const url = /^[A-Za-z0-9_-]*={0,2}$/;
  if (s.length % 4 === 0 && std.test(s)) return Buffer.from(s, 'base64');
  if (s.length % 4 === 0 && url.test(s)) return Buffer.from(s, 'base64url');
  throw new Error('unable to base64 decode payload (is payload in the right format?)');
}

/** dsse/envelope.go PAE: "DSSEv1 <len(type)> <type> <len(body)> <body>". */
function pae(payloadType: string, body: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** RFC 4251 `string`: uint32 length, then the bytes (what ssh.Marshal writes for string/[]byte). */
function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/**
 * dsse/verify.go SHA256KeyID = ssh.FingerprintSHA256(ssh.NewPublicKey(pub)). Undefined where
 * ssh.NewPublicKey fails (key types ssh does not know), as the Go code then has no key id.
 */
function sha256KeyID(pub: KeyObject): string | undefined {
  let wire: Buffer;
  if (pub.asymmetricKeyType === 'ed25519') {
    const raw = Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
    wire = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);
  } else if (pub.asymmetricKeyType === 'ec') {
    const jwk = pub.export({ format: 'jwk' });
    const ids: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };
    const id = ids[jwk.crv ?? ''];
    if (!id) return undefined;
    // elliptic.Marshal: uncompressed point 0x04 || X || Y.
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    wire = Buffer.concat([sshString(Buffer.from(`ecdsa-sha2-${id}`)), sshString(Buffer.from(id)), sshString(point)]);
  } else if (pub.asymmetricKeyType === 'rsa') {
    // ssh-rsa: string "ssh-rsa", mpint e, mpint n (RFC 4253 §6.6; mpint: big-endian, a leading
    // zero byte when the top bit is set).
    const jwk = pub.export({ format: 'jwk' });
    const mpint = (b64: string): Buffer => {
      const raw = Buffer.from(b64, 'base64url');
      return sshString(raw[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
    };
    wire = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(jwk.e!), mpint(jwk.n!)]);
  } else {
    return undefined;
  }
  return `SHA256:${createHash('sha256').update(wire).digest('base64').replace(/=+$/, '')}`;
}

/**
 * The verifier cosign v3 loads for `--key` (sigstore/cosign pkg/signature/keys.go:
 * `signature.LoadDefaultVerifier`), with the hash sigstore's algorithm registry pairs with the
 * key (sigstore/sigstore pkg/signature/algorithm_registry.go `GetDefaultPublicKeyDetails`):
 * ECDSA P-256 SHA-256, P-384 SHA-384, P-521 SHA-512 (ASN.1 signature), RSA PKCS#1 v1.5
 * SHA-256, Ed25519 pure.
 */
function signatureVerifies(pub: KeyObject, data: Buffer, sig: Buffer): boolean {
  const curveHash: Record<string, string> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };
  const hash =
    pub.asymmetricKeyType === 'ed25519'
      ? null
      : pub.asymmetricKeyType === 'rsa'
        ? 'sha256'
        : curveHash[pub.asymmetricKeyDetails?.namedCurve ?? ''];
  if (hash === undefined) return false;
  try {
    return cryptoVerify(hash, data, pub, sig);
  } catch {
    return false;
  }
}

/**
 * sigstore-go verifyEnvelope + go-securesystemslib EnvelopeVerifier.VerifyAndDecode with one
 * provider (the bundle's verification key), threshold 1, provider key id "".
 */
function goSecureSystemsLibVerify(envelope: DsseEnvelopeJson, pub: KeyObject): GoResult {
  // sigstore-go: "A DSSE envelope in a Sigstore bundle MUST only contain one signature".
  if (envelope.signatures.length !== 1)
    return { ok: false, error: 'DSSE envelope does not contain exactly one signature' };
  let body: Buffer;
  try {
    body = b64Decode(envelope.payload);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  const paeEnc = pae(envelope.payloadType, body);
  const providers = [{ pub, keyID: () => '' }];
  const threshold = 1;
  let unverified = [...providers];
  const usedKeyids = new Set<string>();
  const accepted: string[] = [];
  for (const s of envelope.signatures) {
    let sig: Buffer;
    try {
      sig = b64Decode(s.sig);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
    const sKeyID = s.keyid ?? '';
    for (const [i, v] of unverified.entries()) {
      let keyID = v.keyID();
      let err = false;
      // "Verifiers that do not provide a keyid will be generated one using public."
      if (keyID === '') {
        const computed = sha256KeyID(v.pub);
        if (computed === undefined) {
          keyID = '';
          err = true;
        } else keyID = computed;
      }
      // "If provider and signature include key IDs but do not match skip."
      if (sKeyID !== '' && keyID !== '' && !err && sKeyID !== keyID) continue;
      if (!signatureVerifies(v.pub, paeEnc, sig)) continue;
      unverified = unverified.filter((_, j) => j !== i);
      if (usedKeyids.has(keyID)) continue;
      usedKeyids.add(keyID);
      accepted.push(keyID);
      break;
    }
  }
  if (usedKeyids.size < threshold)
    return {
      ok: false,
      error: `accepted signatures do not match threshold, Found: ${accepted.length}, Expected ${threshold}`,
    };
  return { ok: true, acceptedKeyIds: accepted, body };
}

/** The key sigstore-go verifies with: the bundle's public key (key-signed), or the leaf certificate's (keyless). */
function verificationKey(bundle: SerializedBundleJson, trustedPem?: string): KeyObject {
  const vm = bundle.verificationMaterial as {
    certificate?: { rawBytes: string };
    x509CertificateChain?: { certificates: { rawBytes: string }[] };
    publicKey?: { hint: string };
  };
  const der = vm.certificate?.rawBytes ?? vm.x509CertificateChain?.certificates[0]?.rawBytes;
  if (der) return new X509Certificate(Buffer.from(der, 'base64')).publicKey;
  if (!trustedPem) throw new Error('a key-signed bundle needs the trusted public key');
  return createPublicKey(trustedPem);
}

function envelopeOf(bundle: SerializedBundleJson): DsseEnvelopeJson {
  if (!bundle.dsseEnvelope) throw new Error('not a DSSE bundle');
  return bundle.dsseEnvelope;
}

// ---- bundles modelship writes ---------------------------------------------------------------

const tmp = tempDir();
let si: SigstoreStandins;
let layout: OciLayoutStore;

beforeAll(async () => {
  si = await startSigstoreStandins();
  layout = await OciLayoutStore.open(join(tmp.dir, 'layout'), { create: true });
  await pack({ dir: copySample(tmp.dir, 'model'), target: layout, tags: ['v1'], cache: null });
});
afterAll(async () => {
  await layout?.close();
  await si?.stop();
  tmp.cleanup();
});

describe('the re-implemented check itself', () => {
  test('computes the key id of ssh-keygen -l -E sha256 (ECDSA P-256, RSA and Ed25519)', () => {
    // Fixed keys; the fingerprints are OpenSSH's own. P-256: `openssl genpkey` then
    // `ssh-keygen -i -m PKCS8 -f p.pub > p.ssh; ssh-keygen -l -E sha256 -f p.ssh`. Ed25519
    // (ssh-keygen cannot import it from PKCS#8): `ssh-keygen -t ed25519`, `ssh-keygen -l -E
    // sha256 -f ed.pub`, and the 32 key bytes of ed.pub wrapped in an SPKI for node.
    const p256 = createPublicKey(
      '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPhaPAcpDwqHB0GelsHzQhYv/RE3K\naEr7+7AIPFDRzeuEZdCLEwnDmXXZtAEbTaJ3vpuymvXB5CmGjhrgFlm+mQ==\n-----END PUBLIC KEY-----\n',
    );
    const ed = createPublicKey(
      '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAE9M32ayas042a+TZ/BA7HMiAwYWXOnC/WbiVaaFf4pk=\n-----END PUBLIC KEY-----\n',
    );
    // RSA-2048: `openssl genpkey -algorithm RSA`, then the same ssh-keygen import as P-256.
    const rsa = createPublicKey(
      '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA+byyHvh7GJoPMqCEUFrD\nTOxwzkkp5ReShqkokBweIdqu3uYMDg1Q/UVAvQ7itRTkLCijDRxr89rdYbekWLSz\nT0O3sRfcDSPCkiodqQJTPXqqREfx22r7qxiz+DH/pgsXm/uWq6erqSxDl+drjrzQ\nH1mcf2mQBuHZFycgqjAmpl/pfNvVCDta81XWy2kq178bVeI7bLhYag9gUyInqxTI\ngXAfs0WHdVp5NDhariC6UZa+P2t8N2okuVx5RAZDBT4iVmJXvpiO1k+3G2VGAPeK\nkEHW4MIvmnxrsk2WLlD3S+WbpKwfBqtqO+7yHVubKG8M3zrdbp8mvIPTfuhC4gh9\nawIDAQAB\n-----END PUBLIC KEY-----\n',
    );
    expect(sha256KeyID(rsa)).toBe('SHA256:ZhMlqm/ZAadWIaefIOp8g3SKaTgMurUbnY80pofksBw');
    expect(sha256KeyID(p256)).toBe('SHA256:sf5DXzWcgpaIjoOzQtV2bleJlPFu1HvyAShM9Ppk1hs');
    expect(sha256KeyID(ed)).toBe('SHA256:vVdNRjcca9s0UINQxxT7xzOyeY8i14akJ8Pko4e7Yas');
  });

  test('accepts a matching keyid, skips a different one, rejects a bad signature', async () => {
    const pair = generateKeyPair();
    const key = await loadPrivateKey({ pem: pair.privateKeyPem });
    const r = await signArtifact({ store: layout, reference: 'v1', name: 'oci:model', setup: await keySetup(key) });
    const pub = createPublicKey(pair.publicKeyPem);
    const env = envelopeOf(r.bundle);
    const sig = env.signatures[0]!.sig;
    expect(goSecureSystemsLibVerify({ ...env, signatures: [{ keyid: sha256KeyID(pub)!, sig }] }, pub).ok).toBe(true);
    expect(goSecureSystemsLibVerify({ ...env, signatures: [{ keyid: 'SHA256:other', sig }] }, pub)).toEqual({
      ok: false,
      error: 'accepted signatures do not match threshold, Found: 0, Expected 1',
    });
    const tampered = Buffer.from(sig, 'base64');
    tampered[tampered.length - 1]! ^= 1;
    expect(
      goSecureSystemsLibVerify({ ...env, signatures: [{ keyid: '', sig: tampered.toString('base64') }] }, pub).ok,
    ).toBe(false);
    expect(goSecureSystemsLibVerify({ ...env, signatures: [] }, pub).ok).toBe(false);
  });
});

describe('bundles modelship writes pass the go-securesystemslib DSSE check', () => {
  for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as const) {
    test(`key-signed, ${algorithm}: keyid "", cosign's base64 hint, and @sigstore/verify still accepts it`, async () => {
      const pair = generateKeyPair({ algorithm });
      const key = await loadPrivateKey({ pem: pair.privateKeyPem });
      const r = await signArtifact({ store: layout, reference: 'v1', name: 'oci:model', setup: await keySetup(key) });
      const env = envelopeOf(r.bundle);
      // protobuf JSON leaves the empty keyid out, as cosign's protojson does.
      expect(env.signatures.map((s) => s.keyid ?? '')).toEqual(['']);
      const spki = createPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' });
      expect((r.bundle.verificationMaterial['publicKey'] as { hint: string }).hint).toBe(
        createHash('sha256').update(spki).digest('base64'),
      );

      const go = goSecureSystemsLibVerify(env, verificationKey(r.bundle, pair.publicKeyPem));
      expect(go).toMatchObject({ ok: true, acceptedKeyIds: [sha256KeyID(createPublicKey(pair.publicKeyPem))] });

      const trust = await trustMaterial({ publicKeys: [{ pem: pair.publicKeyPem }] });
      expect(verifyBundle(r.bundle, r.subject.digest, trust)).toMatchObject({
        ok: true,
        signer: { kind: 'key', keyHint: createHash('sha256').update(spki).digest('hex') },
      });
    });
  }

  test('keyless-shaped (Fulcio stand-in certificate, Rekor and TSA stand-ins): the leaf key verifies', async () => {
    const setup = await keylessSetup({
      fulcioURL: si.fulcioURL,
      rekorURL: si.rekorURL,
      tsaURL: si.tsaURL,
      rekorEntryType: 'intoto',
      identityToken: si.oidc.issueToken(),
      retries: 0,
      timeoutMs: 5000,
    });
    const r = await signArtifact({ store: layout, reference: 'v1', name: 'oci:model', setup });
    const env = envelopeOf(r.bundle);
    expect(env.signatures.map((s) => s.keyid ?? '')).toEqual(['']);
    expect(goSecureSystemsLibVerify(env, verificationKey(r.bundle)).ok).toBe(true);

    const trust = await trustMaterial({ trustedRoot: si.trustedRoot });
    expect(verifyBundle(r.bundle, r.subject.digest, trust)).toMatchObject({ ok: true, signer: { kind: 'keyless' } });
  });

  test('bundles written before (hex keyid and hint) fail the Go check but still verify in modelship', async () => {
    const pair = generateKeyPair();
    const key = await loadPrivateKey({ pem: pair.privateKeyPem });
    const r = await signArtifact({ store: layout, reference: 'v1', name: 'oci:model', setup: await keySetup(key) });
    const spki = createPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' });
    const hex = createHash('sha256').update(spki).digest('hex');
    // The shape modelship wrote until now: keyid = hint = hex SHA-256 of the DER SPKI. Neither
    // field is signed, so the signature stays valid.
    const env = envelopeOf(r.bundle);
    const old: SerializedBundleJson = {
      ...r.bundle,
      verificationMaterial: { ...r.bundle.verificationMaterial, publicKey: { hint: hex } },
      dsseEnvelope: { ...env, signatures: [{ keyid: hex, sig: env.signatures[0]!.sig }] },
    };
    expect(goSecureSystemsLibVerify(envelopeOf(old), createPublicKey(pair.publicKeyPem))).toEqual({
      ok: false,
      error: 'accepted signatures do not match threshold, Found: 0, Expected 1',
    });
    const trust = await trustMaterial({ publicKeys: [{ pem: pair.publicKeyPem }] });
    expect(verifyBundle(old, r.subject.digest, trust)).toMatchObject({
      ok: true,
      signer: { kind: 'key', keyHint: hex },
    });
  });

  test('a hint in no known spelling: each trusted key is tried, and the signer is the one that verified', async () => {
    const right = generateKeyPair();
    const wrong = generateKeyPair({ algorithm: 'ed25519' });
    const key = await loadPrivateKey({ pem: right.privateKeyPem });
    const r = await signArtifact({ store: layout, reference: 'v1', name: 'oci:model', setup: await keySetup(key) });
    const rightHex = createHash('sha256')
      .update(createPublicKey(right.publicKeyPem).export({ type: 'spki', format: 'der' }))
      .digest('hex');
    for (const hint of ['', 'projects/acme/keys/release', `SHA256:${rightHex}`]) {
      const other: SerializedBundleJson = {
        ...r.bundle,
        verificationMaterial: { ...r.bundle.verificationMaterial, publicKey: { hint } },
      };
      const both = await trustMaterial({ publicKeys: [{ pem: wrong.publicKeyPem }, { pem: right.publicKeyPem }] });
      expect(verifyBundle(other, r.subject.digest, both)).toMatchObject({
        ok: true,
        signer: { kind: 'key', keyHint: rightHex, subject: `key:${rightHex}` },
      });
      const onlyWrong = await trustMaterial({ publicKeys: [{ pem: wrong.publicKeyPem }] });
      expect(verifyBundle(other, r.subject.digest, onlyWrong)).toEqual({
        ok: false,
        reason:
          'no trusted public key for this bundle (PUBLIC_KEY_ERROR: its key hint names none of the 1 trusted key(s), and none of them verifies its signature)',
      });
    }
  });
});
