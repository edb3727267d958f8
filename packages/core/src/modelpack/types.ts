import type { LayerKind } from '../mediatypes.js';

/** One regular file of the model directory; becomes one layer. */
export interface ModelFile {
  /** Relative to the model dir, '/'-separated, no leading './'. For a followed symlink: the link's path. */
  path: string;
  /** Where the bytes are read from (the resolved target for a followed symlink). */
  absPath: string;
  size: number;
  mode: number;
  mtimeMs: number;
  ino: number;
  dev: number;
  /** On-disk owner, only used when real metadata is asked for. */
  uid?: number;
  gid?: number;
  kind: LayerKind;
  /** The kind was guessed by extension/name rules, not declared by the user or a spec file. */
  untested: boolean;
}

export interface ScanOptions {
  /**
   * Globs relative to the dir (`**` supported, anchored at the dir root, a directory match
   * covers everything below it). When given, only matching files are packed; a pattern that
   * names a hidden or junk path explicitly (e.g. `.env`) also brings it back.
   */
  include?: string[];
  /** Globs like `include`; exclude wins over include and over spec entries. */
  exclude?: string[];
  /** A Modelfile, Kitfile or YAML per-kind spec. Relative paths resolve against the cwd. */
  spec?: string;
  /** Default true: read `Modelfile` or `Kitfile`/`kitfile`/`.kitfile` from the dir when no `spec` is given. */
  useDirSpec?: boolean;
  /**
   * Default true: paths that `.gitignore` (the dir's, its subdirectories', its parents' up to
   * the git work tree root, and `.git/info/exclude`), `.modelshipignore` or a root `.kitignore`
   * ignore are not packed (modelpack/ignore-files.ts). False packs them.
   */
  ignoreFiles?: boolean;
}

export interface ModelMetadataOverrides {
  name?: string;
  version?: string;
  family?: string;
  authors?: string[];
  licenses?: string[];
  description?: string;
  title?: string;
  vendor?: string;
  docURL?: string;
  sourceURL?: string;
  revision?: string;
  architecture?: string;
  format?: string;
  paramSize?: string;
  precision?: string;
  quantization?: string;
  createdAt?: string;
}

export type Modality = 'text' | 'image' | 'audio' | 'video' | 'embedding' | 'other';

export interface ModelCapabilities {
  inputTypes?: Modality[];
  outputTypes?: Modality[];
}

/** Everything known about the model; `buildModelConfig` picks the ModelPack fields from it. */
/** The single-string metadata fields, as flags, specs and overrides name them. */
export const METADATA_STRING_FIELDS: readonly (keyof ModelMetadataOverrides)[] = [
  'name',
  'version',
  'family',
  'description',
  'title',
  'vendor',
  'docURL',
  'sourceURL',
  'revision',
  'architecture',
  'format',
  'paramSize',
  'precision',
  'quantization',
  'createdAt',
];

export interface ModelMetadata extends ModelMetadataOverrides {
  name: string;
  capabilities?: ModelCapabilities;
  /** Parameter count when it was computed (safetensors shapes, GGUF tensor infos). */
  parameterCount?: number;
  /** Model card facts with no v0.0.7 config field; kept for callers (annotations, reports). */
  baseModels?: string[];
  tags?: string[];
  languages?: string[];
  datasets?: string[];
  /** Where each inferred field came from, e.g. `paramSize: safetensors headers`. */
  sources: Partial<Record<keyof ModelMetadataOverrides, string>>;
  /** Things that could not be read; inference carries on without them. */
  warnings: string[];
}

export type SpecFormat = 'modelfile' | 'kitfile' | 'yaml';

/** One "these paths are of this kind" statement of a spec file. */
export interface SpecEntry {
  kind: LayerKind;
  /** Glob or literal path relative to the model dir. */
  pattern: string;
  /** For messages: `Modelfile:12` or `Kitfile: code[0].path`. */
  origin: string;
  /** A literal path (no glob characters) must exist. */
  literal: boolean;
  /**
   * For Kitfile model entries: the spec says "model", the file rules decide between weight
   * and weight config (a model directory holds both).
   */
  modelGroup?: boolean;
}

export interface ModelSpec {
  format: SpecFormat;
  /** File name or path, for messages. */
  source: string;
  entries: SpecEntry[];
  metadata: Partial<ModelMetadataOverrides>;
}
