import type { Signer, Witness } from '@sigstore/sign';

/** in-toto Statement v1 (https://in-toto.io/Statement/v1). */
export interface InTotoStatement {
  _type: 'https://in-toto.io/Statement/v1';
  subject: { name: string; digest: Record<string, string>; annotations?: Record<string, unknown> }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** What `cosign sign` v3 signs: a statement with an empty predicate over the manifest digest. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const ANNOTATION_BUNDLE_CONTENT = 'dev.sigstore.bundle.content';
export const ANNOTATION_BUNDLE_PREDICATE_TYPE = 'dev.sigstore.bundle.predicateType';

/** Who signed, as a report/summary shows it. */
export interface SignerIdentity {
  kind: 'keyless' | 'key';
  /** Certificate SAN (keyless) or `key:<hint>` (key-based). */
  subject: string;
  /** OIDC issuer from the certificate (keyless). */
  issuer?: string;
  /** Public key hint (key-based): hex SHA-256 of the DER SubjectPublicKeyInfo. */
  keyHint?: string;
}

/**
 * Everything needed to turn a statement into a bundle: the @sigstore/sign signer, the
 * witnesses (Rekor, TSA) and a way to describe the identity once a bundle exists.
 */
export interface SigningSetup {
  signer: Signer;
  witnesses: Witness[];
  /** Releases nothing today; kept so keyless setups can drop cached tokens. */
  describe(bundleJson: SerializedBundleJson): SignerIdentity;
}

/** A Sigstore bundle in its JSON form (protobuf JSON mapping). */
export type SerializedBundleJson = {
  mediaType: string;
  verificationMaterial: Record<string, unknown>;
  dsseEnvelope?: { payload: string; payloadType: string; signatures: { sig: string; keyid?: string }[] };
  messageSignature?: Record<string, unknown>;
};
