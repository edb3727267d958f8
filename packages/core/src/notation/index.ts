export * from './types.js';
export { loadTrustStore, parseCertificates } from './certificates.js';
export { parseTrustedIdentities, parseDistinguishedName, type TrustedIdentity } from './dn.js';
export { verifyEnvelope, signEnvelope, type VerifiedEnvelope } from './jws.js';
export { signNotation, attachNotationSignature, type NotationSignOptions, type NotationSignResult } from './sign.js';
export {
  isNotationSignatureManifest,
  verifyNotationReferrers,
  verifyNotationSignature,
  type NotationSigner,
  type NotationTrust,
} from './verify.js';
