// The public surface: what the CLI, the actions, the scripts and the integration tests
// import. Add a name here when a front end needs it; the rest stays internal to core (unit
// tests import the module itself).
export { attestArtifact, ATTESTATION_KINDS, type AttestOptions, type AttestResult } from './attest/attest.js';
export { collectArtifactFacts } from './attest/facts.js';
export { FILES_PREDICATE_TYPE } from './attest/files.js';
export { type GitHubClaims } from './attest/github-oidc.js';
export { gitHubTargetFromEnv } from './attest/github.js';
export { MOF_PREDICATE_TYPE } from './attest/mof/predicate.js';
export { provenanceFromClaims, SLSA_PROVENANCE_V1 } from './attest/provenance.js';
export {
  convertArtifact,
  type ConvertResult,
  DOCKER_AI_CONFIG_V01,
  DOCKER_AI_CONFIG_V02,
  KITOPS_CONFIG,
  KITOPS_MANIFEST,
} from './convert.js';
export {
  CYCLONEDX_PREDICATE_TYPE,
  SBOM_FORMATS,
  SBOM_PREDICATE_TYPES,
  SPDX_PREDICATE_TYPE,
  SPDX_VERSION,
  type SbomFormat,
} from './attest/sbom/index.js';
export { copyGraph, type CopyStats } from './copy.js';
export { type InspectNode, inspectArtifact, type InspectResult } from './inspect.js';
export { defaultCacheDir, DigestCache } from './digest-cache.js';
export { sha256Digest, sha256Hex } from './digest.js';
export {
  ERROR_CODES,
  isModelshipError,
  ModelshipError,
  opt,
  OPTION_WORDS,
  renderOptions,
  toModelshipError,
  type OptionKey,
  type OptionNamer,
} from './errors.js';
export { ExtractConflictError } from './extract.js';
export { DEFAULT_GC_MIN_AGE_MS, type GcResult } from './layout/gc.js';
export { OciLayoutStore } from './layout/store.js';
export {
  IDENTIFIER_FAMILIES,
  type IdentifierFamily,
  LAYER_ENCODINGS,
  type LayerEncoding,
  OCI_EMPTY,
  OCI_EMPTY_DIGEST,
  OCI_IMAGE_CONFIG,
  OCI_INDEX,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
  parseLayerMediaType,
} from './mediatypes.js';
export { MemoryStore } from './memory-store.js';
export { validateModelConfig } from './modelpack/config.js';
export { attachNotationSignature, type NotationSignResult, signNotation } from './notation/sign.js';
export { NOTATION_ARTIFACT_TYPE } from './notation/types.js';
export { type Descriptor, digestHex, type Index, isDigest, type Manifest, referrersFallbackTag } from './oci.js';
export { pack, type PackOptions, type PackResult } from './pack.js';
export { EXPORT_TARGETS, exportPolicy, type ExportTarget, loadExportInputs } from './policy/export.js';
export { loadPolicy, parsePolicy, policyDigest } from './policy/parse.js';
export { type Policy } from './policy/types.js';
export { createProgress, formatBytes, type BlobOutcome, type Progress, type ProgressMode } from './progress.js';
export { formatTimings, Timings, type TimingKind, type TimingsSummary } from './timings.js';
export { collectGarbage, removeReference } from './remove.js';
export { promoteArtifact, type PromoteResult, PROMOTION_PREDICATE_TYPE } from './promote.js';
export { extractArtifact, resolveReference, transfer } from './pull.js';
export { credentialKey, dockerConfigPath } from './registry/credentials.js';
export {
  checkRegistryLogin,
  registryLogin,
  registryLogout,
  type RegistryLoginOptions,
  type RegistryLoginResult,
  type RegistryLogoutResult,
} from './registry/login.js';
export { RegistryStore } from './registry/registry-store.js';
export { customPredicates, parseAttestationKinds, parseSbomFormats } from './request/attestation.js';
export { parseChoice } from './request/choice.js';
export { parseConcurrency } from './request/concurrency.js';
export { parseCreated } from './request/created.js';
export { parseDuration } from './request/duration.js';
export { parseKeyValues } from './request/key-values.js';
export { metadataOverrides } from './request/metadata.js';
export { copyTags, settableTag } from './request/copy-tags.js';
export { packTags } from './request/pack-tags.js';
export { planPromotion, type PromotionDestination } from './request/promotion.js';
export { readPublicKeys } from './request/public-keys.js';
export { requireNoReference, requireReference } from './request/reference.js';
export { passwordFromStdin, registryAccess } from './request/registry-access.js';
export { parseRegistryHost } from './request/registry-host.js';
export { REKOR_ENTRY_TYPES } from './request/rekor-entry-type.js';
export {
  checkSignatureFormat,
  parseExpiry,
  SIGNATURE_FORMATS,
  type SignatureFormat,
} from './request/signature-format.js';
export { withSubject } from './request/subject.js';
export { MODELSHIP_VERSION } from './request/version.js';
export { parseVariants, type VariantsPlan } from './request/variants.js';
export { signStatement } from './sign/bundle.js';
export { writeKeyPair } from './sign/key-files.js';
export { keylessSetup } from './sign/keyless.js';
export {
  generateKeyPair,
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  keySetup,
  type KeySource,
  type LoadedKey,
  loadPrivateKey,
  loadPublicKey,
} from './sign/keys.js';
export { attachBundle } from './sign/referrer.js';
export { keySourceFrom, type SigningOptions, signingSetup } from './sign/setup.js';
export { signArtifact, type SignResult } from './sign/sign.js';
export { parseStatement, signatureStatement } from './sign/statement.js';
export {
  BUNDLE_V03_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE_TYPE,
  type InTotoStatement,
  type SerializedBundleJson,
  type SigningSetup,
} from './sign/types.js';
export {
  type ContentStore,
  type DryRunLog,
  type DryRunWrite,
  type RemovedReference,
  mountSourcesFor,
} from './store.js';
export { DryRunStore } from './dry-run-store.js';
export { type ListedTag, listTags, tagArtifact } from './tags.js';
export { isLayoutSpec, type OpenedTarget, openTarget, type RegistryAccess } from './target.js';
export {
  findingNames,
  SCAN_PREDICATE_TYPE,
  SCANNER,
  scanTableRows,
  type ScannedFile,
  type ScanPredicate,
} from './scan/predicate.js';
export { type ScanFinding, type ScanVerdict } from './scan/report.js';
export { safe, safeHtml, untrustedHtml, untrustedJson, untrustedLines, untrustedText } from './untrusted-text.js';
export { linkedVariants, VARIANT_LINK_TYPE, VARIANT_NAMES, type VariantName, variantTag } from './variants/link.js';
export { type ModelcarBase, openModelcarBase } from './variants/modelcar.js';
export {
  copyWithVariants,
  type CopyWithVariantsResult,
  type PublishedVariant,
  summarizeVariants,
  type VariantRequest,
  type VariantSummary,
} from './variants/publish.js';
export {
  type CoveredVariant,
  signWithVariants,
  type SignWithVariantsResult,
  type SkippedVariant,
  VARIANT_PREDICATE_TYPE,
} from './variants/record.js';
export { fulcioExtensions, type VerifiedSigner, verifyBundle } from './verify/bundles.js';
export { discoverBundles, discoverReferrers } from './verify/discover.js';
export { matchSigner, verifyArtifact, type VerifyReport } from './verify/evaluate.js';
export {
  findModelRefsInList,
  findModelRefsInManifests,
  githubAnnotation,
  type ModelRef,
  modelRefAnnotations,
  verifyModelRefs,
  type VerifyModelRefsOptions,
  type VerifyModelRefsResult,
} from './verify/model-refs.js';
export { certificateBuildClaims, evaluateSlsa, repositoryMatches } from './verify/slsa.js';
export { policyTrustSource, trustMaterial, type VerificationTrust } from './verify/trust.js';
export { defaultTufCacheDir, fetchTrustedRoot, SIGSTORE_TUF_MIRROR, type TufOptions } from './verify/tuf.js';
export { DEFAULT_HUB_ENDPOINT, hubAccessFromEnv, type HubAccess } from './hub/access.js';
export { importFromHub, type ImportOptions, type ImportResult } from './hub/import.js';
export { formatHubReference, parseHubReference, type HubReference } from './hub/reference.js';
export {
  loadMirrorFile,
  MIRROR_SCHEMA,
  mirror,
  parseMirrorFile,
  type MirrorFile,
  type MirrorResult,
} from './hub/mirror.js';
