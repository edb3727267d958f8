import { verify as cryptoVerify } from 'node:crypto';
import { X509Certificate, dsse } from '@sigstore/core';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import {
  PolicyError,
  VerificationError,
  Verifier,
  toSignedEntity,
  type SignedEntity,
  type TrustMaterial,
  type VerifierOptions,
} from '@sigstore/verify';
import { isModelshipError } from '../errors.js';
import { digestHex, isDigest } from '../oci.js';
import { certificateIdentity } from '../sign/certificate.js';
import { signatureHash, type LoadedPublicKey } from '../sign/keys.js';
import { parseStatement } from '../sign/statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement } from '../sign/types.js';
import type { VerificationTrust } from './trust.js';

/**
 * Fulcio's certificate extensions under 1.3.6.1.4.1.57264.1, .9–.22 (Fulcio's OID list, linked
 * from docs/policy.md, "Where `require.slsa` values come from").
 */
export const FULCIO_EXTENSION_OIDS = {
  buildSignerURI: '1.3.6.1.4.1.57264.1.9',
  buildSignerDigest: '1.3.6.1.4.1.57264.1.10',
  runnerEnvironment: '1.3.6.1.4.1.57264.1.11',
  sourceRepositoryURI: '1.3.6.1.4.1.57264.1.12',
  sourceRepositoryDigest: '1.3.6.1.4.1.57264.1.13',
  sourceRepositoryRef: '1.3.6.1.4.1.57264.1.14',
  sourceRepositoryIdentifier: '1.3.6.1.4.1.57264.1.15',
  sourceRepositoryOwnerURI: '1.3.6.1.4.1.57264.1.16',
  sourceRepositoryOwnerIdentifier: '1.3.6.1.4.1.57264.1.17',
  buildConfigURI: '1.3.6.1.4.1.57264.1.18',
  buildConfigDigest: '1.3.6.1.4.1.57264.1.19',
  buildTrigger: '1.3.6.1.4.1.57264.1.20',
  runInvocationURI: '1.3.6.1.4.1.57264.1.21',
  sourceRepositoryVisibilityAtSigning: '1.3.6.1.4.1.57264.1.22',
} as const;

export type FulcioExtensionName = keyof typeof FULCIO_EXTENSION_OIDS;

export interface VerifiedSigner {
  kind: 'keyless' | 'key' | 'notation';
  /** Certificate SAN (keyless), `key:<hint>` (key-based) or the leaf certificate's subject DN (notation). */
  subject: string;
  /** OIDC issuer (keyless); the issuing CA's subject DN (notation). */
  issuer?: string;
  /**
   * Key-based: hex SHA-256 of the DER SPKI of the trusted public key that verified the
   * signature, computed from that key (not the bundle's own hint string).
   */
  keyHint?: string;
  /** Notation: hex SHA-256 of the leaf certificate's issuer and subject names (DER). */
  x509Name?: string;
  /** Fulcio extensions .1.9–.1.22 present in the certificate, decoded (keyless; empty for keys). */
  extensions: Partial<Record<FulcioExtensionName, string>>;
}

/**
 * The identities of a signer as `minSignatures` counts it: the trusted public key that
 * verified (its SPKI SHA-256), or the certificate identity (issuer + SAN), so two bundles by
 * one key, or by one workflow identity on two certificates, are one signer. A Notation signer
 * has two: its certificate name (issuer and subject, so a renewed certificate is the same
 * signer) and its key (SPKI SHA-256, the form a Sigstore key signer has, so one key signing in
 * both formats is one signer).
 */
function signerIdentities(signer: VerifiedSigner): string[] {
  if (signer.kind === 'key') return [`key:sha256:${signer.keyHint ?? ''}`];
  if (signer.kind === 'notation') return [`x509:${signer.x509Name ?? ''}`, `key:sha256:${signer.keyHint ?? ''}`];
  return [`keyless:${JSON.stringify([signer.issuer ?? '', signer.subject])}`];
}

/**
 * How many distinct signers `signers` are: two are one when they share any identity
 * (signerIdentities), transitively.
 */
export function countDistinctSigners(signers: readonly VerifiedSigner[]): number {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const s of signers) {
    const ids = signerIdentities(s);
    for (const id of ids) if (!parent.has(id)) parent.set(id, id);
    for (const id of ids.slice(1)) parent.set(find(id), find(ids[0]!));
  }
  return new Set(signers.map((s) => find(signerIdentities(s)[0]!))).size;
}

export interface VerifyBundleOptions {
  /**
   * Keyless bundles must carry a transparency-log entry whenever the trusted root has a
   * transparency log (default true). false accepts a TSA timestamp instead (policy
   * `trust.requireTlog: false`, for private deployments). A root without a log always
   * needs a TSA timestamp.
   */
  requireTlog?: boolean;
}

export type VerifiedBundle =
  | { ok: true; signer: VerifiedSigner; statement: InTotoStatement; predicateType: string }
  | { ok: false; reason: string };

/**
 * Cryptographically verifies one bundle (parsed JSON) against the trust material and checks the
 * in-toto statement it carries is about `artifactDigest` (`sha256:<hex>`), which
 * `@sigstore/verify` does not. No identity policy here: the signer is returned for the caller.
 */
export function verifyBundle(
  bundleJson: unknown,
  artifactDigest: string,
  trust: VerificationTrust,
  options: VerifyBundleOptions = {},
): VerifiedBundle {
  if (!isDigest(artifactDigest)) return { ok: false, reason: `not a sha256 artifact digest: ${artifactDigest}` };
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(bundleJson);
  } catch (e) {
    return { ok: false, reason: `malformed bundle: ${short(e)}` };
  }
  if (bundle.content.$case !== 'dsseEnvelope')
    return { ok: false, reason: 'not a DSSE bundle (a message signature carries no statement)' };
  const envelope = bundle.content.dsseEnvelope;
  const material = bundle.verificationMaterial.content;
  const keyBased = material.$case === 'publicKey';
  if (!keyBased && !trust.hasRoot)
    return { ok: false, reason: 'keyless bundle, but no trusted root was given (only public keys)' };

  // What the bundle carries never lowers the bar: a keyless bundle without a log entry is
  // accepted only when the trusted root has no log (GitHub's private instance: Fulcio + TSA)
  // or the policy relaxed it. The certificate lives minutes, so a trusted time is needed
  // either way: timestampThreshold 1 is met by a verified log entry's time or a TSA token.
  const rootHasTlog = trust.material.tlogs.length > 0;
  const tlogRequired = rootHasTlog && options.requireTlog !== false;
  if (!keyBased && tlogRequired && bundle.verificationMaterial.tlogEntries.length === 0)
    return {
      ok: false,
      reason:
        'no transparency log entry, but the trusted root has a transparency log (a timestamp alone is accepted only with the policy’s trust.requireTlog: false)',
    };
  let signer: VerifiedSigner;
  if (material.$case === 'publicKey') {
    const verified = verifyKeySigned(bundle, material.publicKey.hint, trust);
    if (!verified.ok) return verified;
    const key = verified.key;
    signer = { kind: 'key', subject: `key:${key.hint}`, keyHint: key.hint, extensions: {} };
  } else {
    const thresholds: VerifierOptions = {
      tlogThreshold: tlogRequired ? 1 : 0,
      timestampThreshold: 1,
      ctlogThreshold: 1,
    };
    const failed = runVerifier(trust.material, thresholds, signedEntity(bundle), bundle.mediaType);
    if (failed) return failed;
    try {
      const der =
        material.$case === 'certificate'
          ? material.certificate.rawBytes
          : material.x509CertificateChain.certificates[0]!.rawBytes;
      const id = certificateIdentity(der);
      signer = {
        kind: 'keyless',
        subject: id.subject,
        ...(id.issuer ? { issuer: id.issuer } : {}),
        extensions: fulcioExtensions(der),
      };
    } catch (e) {
      return { ok: false, reason: `unreadable signer: ${short(e)}` };
    }
  }

  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { ok: false, reason: `payload type is ${envelope.payloadType || '(empty)'}, not an in-toto statement` };
  let statement: InTotoStatement;
  try {
    statement = parseStatement(envelope.payload);
  } catch (e) {
    return { ok: false, reason: short(e) };
  }
  const hex = digestHex(artifactDigest);
  const about = statement.subject.some(
    (s) => s && typeof s === 'object' && s.digest && typeof s.digest === 'object' && s.digest['sha256'] === hex,
  );
  if (!about) return { ok: false, reason: 'statement is about another digest' };
  return { ok: true, signer, statement, predicateType: statement.predicateType };
}

const KEY_THRESHOLDS: VerifierOptions = { tlogThreshold: 0, timestampThreshold: 0, ctlogThreshold: 0 };

/**
 * A key-signed bundle against the trusted keys. The key its hint names (hex or cosign's
 * base64, trust.ts) is tried; a hint naming no trusted key (another tool's spelling, or none)
 * falls back to trying each trusted key, as cosign does with its one `--key`: the hint is a
 * lookup aid, not evidence. The signer is the trusted key whose check passed, so a hint can
 * never make one key's signature count as another's.
 *
 * Log entries are checked when the trusted root has transparency logs. With keys alone (no
 * root: key-only policies never fetch one) there is no log key to check an entry against, so
 * the entries are left out of the check — what `cosign verify --insecure-ignore-tlog` does —
 * and the key signature alone decides, as it does for a bundle signed with --no-tlog.
 */
function verifyKeySigned(
  bundle: Bundle,
  hint: string,
  trust: VerificationTrust,
): { ok: true; key: LoadedPublicKey } | { ok: false; reason: string } {
  const named = trust.keyForHint(hint);
  const candidates = named ? [named] : [...trust.keys.values()];
  if (candidates.length === 0) return { ok: false, reason: 'no trusted public key for this bundle' };
  let entity = signedEntity(bundle);
  if (trust.material.tlogs.length === 0)
    entity = {
      ...entity,
      tlogEntries: [],
      timestamps: entity.timestamps.filter((t) => t.$case !== 'transparency-log'),
    };
  let first: { ok: false; reason: string } | undefined;
  for (const key of candidates) {
    const failed = runVerifier(trust.materialForKey(key), KEY_THRESHOLDS, entity, bundle.mediaType);
    if (!failed) return { ok: true, key };
    first ??= failed;
  }
  if (named || !first) return first ?? { ok: false, reason: 'no trusted public key for this bundle' };
  // Only a signature failure means "none of the keys"; a bad log entry is the bundle's fault.
  if (!first.reason.includes('SIGNATURE_ERROR')) return first;
  return {
    ok: false,
    reason: `no trusted public key for this bundle (PUBLIC_KEY_ERROR: its key hint names none of the ${candidates.length} trusted key(s), and none of them verifies its signature)`,
  };
}

/**
 * @sigstore/verify's view of a DSSE bundle, except that the envelope signature is checked with
 * the hash that belongs to the key (sign/keys.ts `signatureHash`). @sigstore/verify 3.1 (and
 * sigstore-js main: docs/signing.md, "Sources") calls `crypto.verify` without an algorithm, so OpenSSL's default for the key type applies: SHA-256
 * for RSA and every EC curve. That is cosign's pairing for P-256 and RSA, but cosign and
 * sigstore-go sign and verify P-384 with SHA-384 and P-521 with SHA-512, which the library
 * would refuse. Only that check changes; which key, the log entries and the timestamps stay
 * the library's.
 */
function signedEntity(bundle: Bundle): SignedEntity {
  const entity = toSignedEntity(bundle);
  if (bundle.content.$case !== 'dsseEnvelope') return entity;
  const envelope = bundle.content.dsseEnvelope;
  const pae = dsse.preAuthEncoding(envelope.payloadType, envelope.payload);
  const library = entity.signature;
  const signature: SignedEntity['signature'] = {
    signature: library.signature,
    compareSignature: (sig) => library.compareSignature(sig),
    compareDigest: (digest) => library.compareDigest(digest),
    verifySignature: (key) => {
      try {
        return cryptoVerify(signatureHash(key), pae, key, library.signature);
      } catch {
        return false; // a malformed signature throws in some OpenSSL versions
      }
    },
  };
  return { ...entity, signature };
}

/** Runs @sigstore/verify; undefined when the bundle verifies, else the reason. */
function runVerifier(
  material: TrustMaterial,
  thresholds: VerifierOptions,
  entity: SignedEntity,
  mediaType: string,
): { ok: false; reason: string } | undefined {
  try {
    new Verifier(material, thresholds).verify(entity);
    return undefined;
  } catch (e) {
    // @sigstore/verify 3.1 throws TypeErrors on some old shapes (a v0.1 inclusion proof
    // without a checkpoint): say so instead of passing on "cannot read properties of undefined".
    if (e instanceof TypeError)
      return {
        ok: false,
        reason: `bundle shape not supported by the verifier (${mediaType}): ${e.message}; re-sign to get a v0.3 bundle`,
      };
    return { ok: false, reason: sigstoreReason(e) };
  }
}

/** Decodes the Fulcio .1.9–.1.22 extensions (DER UTF8String values) of a certificate. */
export function fulcioExtensions(der: Buffer): Partial<Record<FulcioExtensionName, string>> {
  const cert = X509Certificate.parse(der as Buffer<ArrayBuffer>);
  const out: Partial<Record<FulcioExtensionName, string>> = {};
  for (const [name, oid] of Object.entries(FULCIO_EXTENSION_OIDS) as [FulcioExtensionName, string][]) {
    const ext = cert.extension(oid);
    if (!ext) continue;
    const inner = ext.valueObj.subs[0]?.value ?? ext.value;
    out[name] = inner.toString('utf8');
  }
  return out;
}

/** A short reason for what @sigstore/verify (or bundle parsing) threw. */
function sigstoreReason(e: unknown): string {
  if (e instanceof VerificationError || e instanceof PolicyError) {
    const what: Record<string, string> = {
      SIGNATURE_ERROR: 'signature does not verify',
      PUBLIC_KEY_ERROR: 'no trusted public key for this bundle',
      CERTIFICATE_ERROR: 'certificate not valid for the trusted root at signing time',
      TIMESTAMP_ERROR: 'no trusted timestamp',
      TLOG_ERROR: 'transparency log entry not verified',
      TLOG_INCLUSION_PROOF_ERROR: 'transparency log inclusion proof invalid',
      TLOG_INCLUSION_PROMISE_ERROR: 'transparency log inclusion promise invalid',
      TLOG_MISSING_INCLUSION_ERROR: 'transparency log entry has no inclusion proof or promise',
      TLOG_BODY_ERROR: 'transparency log entry does not match the bundle',
      UNTRUSTED_SIGNER_ERROR: 'untrusted signer',
    };
    // The library's message is generic ("Failed to verify certificate chain"); the cause says
    // which (expired at the log's time, unknown CA, …).
    const cause = e.cause instanceof Error && e.cause.message !== e.message ? `: ${e.cause.message}` : '';
    return `${what[e.code] ?? e.code.toLowerCase()} (${e.code}: ${e.message}${cause})`;
  }
  return short(e);
}

function short(e: unknown): string {
  if (isModelshipError(e)) return e.message;
  return e instanceof Error ? e.message : String(e);
}
