import { bundleCertificate, certificateIdentity } from '../sign/certificate.js';
import { parseStatement } from '../sign/statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type SerializedBundleJson } from '../sign/types.js';

/**
 * Who a bundle says signed it: a key's hint, or the SAN and OIDC issuer of its certificate.
 * Read from the bundle, not verified: anyone can write any of this into a bundle.
 */
export type ClaimedSigner =
  { kind: 'key'; keyHint: string | undefined } | { kind: 'keyless'; subject: string; issuer: string | undefined };

/** What a Sigstore bundle claims about itself, read without any verification (inspect). */
export interface BundleClaims {
  /** The bundle's own mediaType field. */
  mediaType: string | undefined;
  signer: ClaimedSigner | undefined;
  /** The in-toto statement's predicateType (DSSE bundles). */
  predicateType: string | undefined;
  /** Whether the statement names the artifact (its digest) among its subjects; undefined without a statement. */
  aboutArtifact: boolean | undefined;
  /** Transparency log entries the bundle carries (none checked). */
  tlogEntries: number;
  /** What could not be read, each a short phrase (a certificate that does not parse, a payload that is no statement). */
  problems: string[];
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function short(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The claims of a parsed bundle, as cosign tree shows them: the signer from the verification
 * material and, for a DSSE envelope, the statement's predicate type and subjects. The certificate
 * and the statement are parsed by the same functions signing and verification use; nothing here
 * checks a signature, a certificate chain or a log entry.
 */
export function bundleClaims(bundle: unknown, artifactDigest: string): BundleClaims {
  const b = record(bundle) ?? {};
  const material = record(b.verificationMaterial) ?? {};
  const problems: string[] = [];
  let signer: ClaimedSigner | undefined;
  const publicKey = record(material.publicKey);
  if (publicKey) signer = { kind: 'key', keyHint: typeof publicKey.hint === 'string' ? publicKey.hint : undefined };
  else if (material.certificate !== undefined || material.x509CertificateChain !== undefined) {
    try {
      const id = certificateIdentity(bundleCertificate(b as SerializedBundleJson));
      signer = { kind: 'keyless', subject: id.subject, issuer: id.issuer };
    } catch (e) {
      problems.push(`certificate: ${short(e)}`);
    }
  } else problems.push('no public key hint or certificate');

  let predicateType: string | undefined;
  let aboutArtifact: boolean | undefined;
  const envelope = record(b.dsseEnvelope);
  if (envelope) {
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) problems.push('the DSSE payload is not an in-toto statement');
    else if (typeof envelope.payload !== 'string') problems.push('the DSSE envelope has no payload');
    else
      try {
        const statement = parseStatement(Buffer.from(envelope.payload, 'base64'));
        predicateType = statement.predicateType;
        aboutArtifact = statement.subject.some(
          (s) => `sha256:${String(record(record(s)?.digest)?.sha256)}` === artifactDigest,
        );
      } catch (e) {
        problems.push(`statement: ${short(e)}`);
      }
  } else if (!record(b.messageSignature)) problems.push('neither a DSSE envelope nor a message signature');

  const tlog = material.tlogEntries;
  return {
    mediaType: typeof b.mediaType === 'string' ? b.mediaType : undefined,
    signer,
    predicateType,
    aboutArtifact,
    tlogEntries: Array.isArray(tlog) ? tlog.length : 0,
    problems,
  };
}
