export type {
  ModelCapabilities,
  Modality,
  ModelFile,
  ModelMetadata,
  ModelMetadataOverrides,
  ModelSpec,
  ScanOptions,
  SpecEntry,
  SpecFormat,
} from './types.js';
export { scanModelDir, sortModelFiles, type ScanModelDirOptions, type ScanResult } from './scan.js';
export type { IgnoredPath } from './ignore-files.js';
export { classifyPath, KIND_ORDER, LARGE_UNKNOWN_FILE } from './classify.js';
export {
  detectSpecFormat,
  findDirSpec,
  loadSpecFile,
  parseKitfile,
  parseModelfile,
  parseSpec,
  parseYamlSpec,
} from './spec.js';
export { inferFormat, inferModelMetadata, mergeOverrides, type InferOptions } from './metadata.js';
export { buildModelConfig, serializeConfig, validateModelConfig } from './config.js';
export { fileMetadata, layerAnnotations, normalizedMode, type FileMetadata } from './annotations.js';
export { createLayerStream, diffIdNeeded, layerTarSize, type LayerStream, tarHeaderBytes } from './tar.js';
export { readSafetensorsHeader, type SafetensorsSummary } from './safetensors.js';
export { ggufFileTypeName, readGgufHeader, type GgufScalar, type GgufSummary } from './gguf.js';
export { parseModelCard, type ModelCard } from './modelcard.js';
export { readHfConfig, type HfConfigFacts } from './hfconfig.js';
export { detectLicenseText, licensesToSpdx, toSpdx } from './license.js';
export { parseGitRemotes, readGitInfo, stripUrlCredentials, type GitInfo } from './git.js';
export { formatParamSize, isRfc3339, normalizeParamSize, normalizePrecision } from './values.js';
export { MODELPACK_CONFIG_SCHEMA } from './schema.js';
