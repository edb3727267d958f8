import { createHash } from 'node:crypto';
import { isModelshipError } from '../errors.js';
import type { Descriptor, Manifest } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';
import { isSubsetDN, leafSubjectMap, type DnMap, type TrustedIdentity } from './dn.js';
import { verifyEnvelope, type VerifiedEnvelope } from './jws.js';
import { NOTATION_ARTIFACT_TYPE, NOTATION_COSE_MEDIA_TYPE, NOTATION_JWS_MEDIA_TYPE } from './types.js';
import { OCI_EMPTY } from '../mediatypes.js';
import { describe, formatSubject, rfc3339, type NotationCertificate } from './x509.js';

/** Largest envelope read: a JWS with a three-certificate chain is a few KiB. */
const MAX_ENVELOPE_BYTES = 4 * 1024 * 1024;

/** One notation signer of a policy, its trust store loaded. */
export interface NotationTrust {
  /** The policy entry's line, for reports. */
  line: number;
  /** Where the trust store came from, for messages. */
  trustStore: string;
  anchors: NotationCertificate[];
  identities: TrustedIdentity[];
}

/** Who made a Notation signature, as the report and `minSignatures` see it. */
export interface NotationSigner {
  /** Leaf subject, `C=US, ST=WA, O=acme, CN=release`. */
  subject: string;
  /** The issuing certificate's subject. */
  issuer: string;
  /** Hex SHA-256 of the leaf's DER SubjectPublicKeyInfo. */
  keyHint: string;
  /** Hex SHA-256 of the leaf's issuer and subject names (DER): the certificate identity. */
  x509Name: string;
  /** Hex SHA-256 of each certificate of the chain, leaf first. */
  thumbprints: string[];
}

export type NotationVerification =
  | { ok: false; reason: string }
  | {
      ok: true;
      signer: NotationSigner;
      envelope: VerifiedEnvelope;
      /** The trusting policy entry, when one trusts it. */
      matchedLine?: number;
      /** Why no policy entry trusts it, when none does. */
      untrusted?: string;
    };

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * One Notation signature (the JWS envelope bytes) against `subject` and the policy's notation
 * signers, with the checks of Notation's trust policy at level strict
 * (trust-store-trust-policy.md, "Signature Verification"; notation-go's verifier, docs/signing.md, "Notation: sources"):
 * integrity (verifyEnvelope, then the signed descriptor is this artifact: media type, digest
 * and size, as notation-go's content.Equal), expiry, and the authentic-timestamp step without a
 * TSA trust store: every certificate of the chain valid now (and, as the spec also demands,
 * at the signing time). Then authenticity per signer: a certificate of the chain is one of the
 * trust store's by its bytes, and the leaf's subject matches a trusted identity. Revocation is
 * not checked (docs/signing.md).
 */
export function verifyNotationSignature(
  envelopeBytes: Buffer,
  subject: Descriptor,
  trust: readonly NotationTrust[],
  now: Date = new Date(),
): NotationVerification {
  const v = verifyEnvelope(envelopeBytes);
  if (!v.ok) return v;
  const env = v.envelope;
  const t = env.payload.targetArtifact;
  if (t.digest !== subject.digest || t.mediaType !== subject.mediaType || t.size !== subject.size)
    return {
      ok: false,
      reason:
        t.digest !== subject.digest
          ? `the signature is for another artifact: it signs ${t.digest}, not ${subject.digest}`
          : `the signed descriptor does not match the artifact (signed ${t.mediaType}, ${t.size} bytes; artifact ${subject.mediaType}, ${subject.size} bytes)`,
    };
  if (env.expiry && now >= env.expiry) return { ok: false, reason: `the signature expired on ${rfc3339(env.expiry)}` };
  for (const cert of env.chain) {
    if (now < cert.notBefore)
      return {
        ok: false,
        reason: `certificate "${describe(cert)}" is not valid yet: it is valid from ${rfc3339(cert.notBefore)}`,
      };
    if (now > cert.notAfter)
      return {
        ok: false,
        reason: `certificate "${describe(cert)}" expired at ${rfc3339(cert.notAfter)} (without a trusted timestamp every certificate of the chain must be valid at verification time)`,
      };
    if (env.signingTime < cert.notBefore || env.signingTime > cert.notAfter)
      return {
        ok: false,
        reason: `certificate "${describe(cert)}" was not valid at the signing time ${rfc3339(env.signingTime)} (valid ${rfc3339(cert.notBefore)} to ${rfc3339(cert.notAfter)})`,
      };
  }
  const leaf = env.chain[0]!;
  const signer: NotationSigner = {
    subject: formatSubject(leaf),
    issuer: formatSubject(env.chain[1] ?? leaf),
    keyHint: sha256Hex(leaf.publicKey.export({ type: 'spki', format: 'der' })),
    x509Name: sha256Hex(Buffer.concat([leaf.rawIssuer, leaf.rawSubject])),
    thumbprints: env.chain.map((c) => c.thumbprint),
  };
  let leafDn: DnMap | Error | undefined;
  const problems: string[] = [];
  for (const entry of trust) {
    const why = untrustedBy(entry, env.chain, () => (leafDn ??= subjectMap(leaf)));
    if (!why) return { ok: true, signer, envelope: env, matchedLine: entry.line };
    problems.push(`the notation signer at line ${entry.line}: ${why}`);
  }
  return {
    ok: true,
    signer,
    envelope: env,
    untrusted: problems.length ? problems.join('; ') : 'the policy names no notation signer',
  };
}

function subjectMap(leaf: NotationCertificate): DnMap | Error {
  try {
    return leafSubjectMap(leaf);
  } catch (e) {
    return e as Error;
  }
}

function untrustedBy(
  entry: NotationTrust,
  chain: NotationCertificate[],
  leafDn: () => DnMap | Error,
): string | undefined {
  if (!chain.some((c) => entry.anchors.some((a) => a.der.equals(c.der))))
    return `the certificate chain does not lead to a certificate in trust store ${entry.trustStore} (authenticity)`;
  if (entry.identities.some((i) => i.wildcard)) return undefined;
  const dn = leafDn();
  if (dn instanceof Error) return `the signing certificate's subject cannot be matched: ${dn.message}`;
  if (entry.identities.some((i) => !i.wildcard && isSubsetDN(i.dn, dn))) return undefined;
  return `the signing certificate's subject matches none of its trusted identities (${entry.identities.map((i) => i.raw).join('; ')})`;
}

export interface NotationReferrer {
  referrer: Descriptor;
  envelopeDigest?: string;
  /** The envelope verified (integrity, time) — trusted or not. */
  verification: NotationVerification;
}

/**
 * Whether a referrer manifest is a Notation signature, by notation-go's rule
 * (signatureReferrers): artifactType application/vnd.cncf.notary.signature
 * with the empty config, or, in the layout before image-spec 1.1, no artifactType and that
 * media type as the config's.
 */
export function isNotationSignatureManifest(m: Manifest): boolean {
  if (m.artifactType === NOTATION_ARTIFACT_TYPE) return m.config?.mediaType === OCI_EMPTY;
  return m.artifactType === undefined && m.config?.mediaType === NOTATION_ARTIFACT_TYPE;
}

/**
 * Verifies the Notation signatures among already-read referrer manifests (discovery hands them
 * over): each envelope is fetched once, size-capped and digest-checked by the store; a second
 * referrer to the same envelope is reported and not counted.
 */
export async function verifyNotationReferrers(
  store: ReadOnlyStore,
  subject: Descriptor,
  referrers: readonly { referrer: Descriptor; manifest: Manifest }[],
  trust: readonly NotationTrust[],
  now: Date = new Date(),
): Promise<NotationReferrer[]> {
  const out: NotationReferrer[] = [];
  const seen = new Map<string, string>();
  for (const { referrer, manifest } of referrers) {
    if (!isNotationSignatureManifest(manifest)) continue;
    const fail = (reason: string, envelopeDigest?: string) =>
      out.push({ referrer, ...(envelopeDigest ? { envelopeDigest } : {}), verification: { ok: false, reason } });
    if (manifest.subject?.digest !== subject.digest) {
      fail('referrer for another digest');
      continue;
    }
    const layer = manifest.layers.length === 1 ? manifest.layers[0] : undefined;
    if (!layer) {
      fail(
        `a Notation signature manifest has exactly one layer, this one has ${manifest.layers.length ? 'more' : 'none'}`,
      );
      continue;
    }
    if (layer.mediaType === NOTATION_COSE_MEDIA_TYPE) {
      fail('COSE envelope (application/cose): modelship verifies JWS Notation signatures only', layer.digest);
      continue;
    }
    if (layer.mediaType !== NOTATION_JWS_MEDIA_TYPE) {
      fail(`unknown signature envelope type ${String(layer.mediaType)}`, layer.digest);
      continue;
    }
    const first = seen.get(layer.digest);
    if (first !== undefined) {
      fail(`same signature as referrer ${first} (counted once)`, layer.digest);
      continue;
    }
    let bytes: Buffer;
    try {
      if (layer.size > MAX_ENVELOPE_BYTES) throw new Error(`envelope is ${layer.size} bytes`);
      bytes = await store.fetchBytes(layer, MAX_ENVELOPE_BYTES);
    } catch (e) {
      if (isModelshipError(e) && e.code === 'NETWORK') throw e;
      fail(`unreadable signature envelope: ${(e as Error).message}`, layer.digest);
      continue;
    }
    seen.set(layer.digest, referrer.digest);
    out.push({
      referrer,
      envelopeDigest: layer.digest,
      verification: verifyNotationSignature(bytes, subject, trust, now),
    });
  }
  return out;
}
