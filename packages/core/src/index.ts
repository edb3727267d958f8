export * from './errors.js';
export * from './mediatypes.js';
export * from './oci.js';
export * from './store.js';
export * from './digest.js';
export * from './copy.js';
export * from './manifest.js';
export * from './progress.js';
export * from './pack.js';
export * from './target.js';
export * from './extract.js';
export * from './pull.js';
export * from './hash-pool.js';
export * from './digest-cache.js';
export * from './reference.js';
export * from './registry/index.js';
export * from './layout.js';
export * from './memory-store.js';
export * from './modelpack/index.js';
export * from './streams.js';
export * from './compression.js';
export * from './sign/index.js';
export * from './attest/index.js';
export * from './verify/index.js';
export * from './policy/index.js';
export * from './promote.js';
export * from './untrusted-text.js';
export {
  MAX_CONCURRENCY,
  MODELSHIP_VERSION,
  REKOR_ENTRY_TYPES,
  customPredicates,
  metadataOverrides,
  packTags,
  parseAttestationKinds,
  parseChoice,
  parseConcurrency,
  parseCreated,
  parseKeyValues,
  planPromotion,
  readPublicKeys,
  registryAccess,
  requireReference,
  withSubject,
  type CredentialLabels,
  type MetadataFields,
  type PromotionDestination,
  type PromotionLabels,
  type PromotionPlan,
  type PromotionRequest,
  type PublicKeyFile,
  type RegistryAccessFields,
  type Subject,
} from './request/index.js';
