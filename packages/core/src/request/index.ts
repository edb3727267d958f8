// The request layer: pure checks and plans the CLI and the actions share, each taking the
// label (a CLI flag or an action input) its messages name.
export { MAX_CONCURRENCY, parseConcurrency } from './concurrency.js';
export { parseCreated } from './created.js';
export { parseChoice } from './choice.js';
export { REKOR_ENTRY_TYPES } from './rekor-entry-type.js';
export { customPredicates, parseAttestationKinds, parseSbomFormats } from './attestation.js';
export { packTags } from './pack-tags.js';
export { parseKeyValues } from './key-values.js';
export { metadataOverrides, type MetadataFields } from './metadata.js';
export {
  passwordFromStdin,
  registryAccess,
  type CredentialLabels,
  type RegistryAccessFields,
} from './registry-access.js';
export { parseRegistryHost } from './registry-host.js';
export { readPublicKeys, type PublicKeyFile } from './public-keys.js';
export { requireReference } from './reference.js';
export { withSubject, type Subject } from './subject.js';
export {
  planPromotion,
  type PromotionDestination,
  type PromotionLabels,
  type PromotionPlan,
  type PromotionRequest,
} from './promotion.js';
export { MODELSHIP_VERSION } from './version.js';
export { parseVariants, type VariantsPlan } from './variants.js';
