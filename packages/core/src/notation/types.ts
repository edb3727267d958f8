/**
 * Names from the Notary Project specifications (notaryproject/specifications, specs/
 * signature-specification.md and signature-envelope-jws.md) and the values notation-go writes
 * (notation-go and notation-core-go; docs/signing.md, "Notation: sources").
 */

/** The referrer manifest's `artifactType` (and, in the pre-1.1 layout, its config media type). */
export const NOTATION_ARTIFACT_TYPE = 'application/vnd.cncf.notary.signature';
/** Layer media type of a JWS envelope. */
export const NOTATION_JWS_MEDIA_TYPE = 'application/jose+json';
/** Layer media type of a COSE envelope (recognised, not verified: docs/signing.md). */
export const NOTATION_COSE_MEDIA_TYPE = 'application/cose';
/** The payload's content type (`cty`). */
export const NOTATION_PAYLOAD_MEDIA_TYPE = 'application/vnd.cncf.notary.payload.v1+json';
/** The referrer annotation with the SHA-256 of each certificate of the chain, as a JSON array string. */
export const ANNOTATION_X509_CHAIN_THUMBPRINT = 'io.cncf.notary.x509chain.thumbprint#S256';
/** Annotation keys with this prefix are reserved by the specification (notation-go refuses them as user metadata). */
export const NOTARY_RESERVED_PREFIX = 'io.cncf.notary';

export const HEADER_SIGNING_SCHEME = 'io.cncf.notary.signingScheme';
export const HEADER_SIGNING_TIME = 'io.cncf.notary.signingTime';
export const HEADER_AUTHENTIC_SIGNING_TIME = 'io.cncf.notary.authenticSigningTime';
export const HEADER_EXPIRY = 'io.cncf.notary.expiry';
export const HEADER_SIGNING_AGENT = 'io.cncf.notary.signingAgent';
export const HEADER_TIMESTAMP_SIGNATURE = 'io.cncf.notary.timestampSignature';

export const SIGNING_SCHEME_X509 = 'notary.x509';
export const SIGNING_SCHEME_X509_SIGNING_AUTHORITY = 'notary.x509.signingAuthority';

/** The JWS algorithms the specification allows, each tied to one key type and size. */
export type NotationAlgorithm = 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';

/** The flattened JWS JSON serialization, the only form the specification allows. */
export interface NotationJwsEnvelope {
  payload: string;
  protected: string;
  header: {
    /** Standard base64 DER certificates, leaf first, root last. */
    x5c: string[];
    [HEADER_SIGNING_AGENT]?: string;
    [HEADER_TIMESTAMP_SIGNATURE]?: string;
  };
  signature: string;
}

/** The payload: the descriptor of the signed manifest. */
export interface NotationPayload {
  targetArtifact: {
    mediaType: string;
    digest: string;
    size: number;
    annotations?: Record<string, string>;
  };
}
