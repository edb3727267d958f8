import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ModelshipError } from '../errors.js';
import { DIGEST_RE } from '../oci.js';
import { isRfc3339 } from './values.js';
import { MODELPACK_CONFIG_SCHEMA } from './schema.js';
import type { ModelMetadata } from './types.js';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
// ajv-formats is CommonJS: depending on the loader the function is the default export or its `.default`.
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'string') return v.trim() !== '';
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (nonEmpty(v)) out[k] = v;
  return out;
}

function dedupe(list: readonly string[] | undefined): string[] | undefined {
  if (!list) return undefined;
  const out = [...new Set(list.map((s) => s.trim()).filter((s) => s !== ''))];
  return out.length > 0 ? out : undefined;
}

/**
 * The ModelPack config blob. Only fields that v0.0.7 consumers (CRI-O, Harbor main, KitOps,
 * modctl) understand are written: no `datasetsURL`, no `capabilities.languages`, no
 * `embedding`. `createdAt` only when asked, so the same dir gives the same digest.
 */
export function buildModelConfig(
  meta: ModelMetadata,
  diffIds: string[],
  options: { createdAt?: string } = {},
): Record<string, unknown> {
  const createdAt = options.createdAt ?? meta.createdAt;
  if (createdAt !== undefined && !isRfc3339(createdAt))
    throw new ModelshipError('USAGE', `createdAt "${createdAt}" is not an RFC 3339 date-time`, {
      hint: 'use a value like 2025-07-21T00:00:00Z, or leave it out for a reproducible config',
    });
  const descriptor = compact({
    createdAt,
    authors: dedupe(meta.authors),
    vendor: meta.vendor,
    family: meta.family,
    name: meta.name,
    version: meta.version,
    title: meta.title,
    description: meta.description,
    docURL: meta.docURL,
    sourceURL: meta.sourceURL,
    revision: meta.revision,
    licenses: dedupe(meta.licenses),
  });
  const caps = meta.capabilities
    ? compact({ inputTypes: meta.capabilities.inputTypes, outputTypes: meta.capabilities.outputTypes })
    : {};
  const config = compact({
    architecture: meta.architecture,
    format: meta.format,
    paramSize: meta.paramSize,
    precision: meta.precision,
    quantization: meta.quantization,
    capabilities: caps,
  });
  return { descriptor, config, modelfs: { type: 'layers', diffIds: [...diffIds] } };
}

let validator: ValidateFunction | undefined;

function getValidator(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    validator = ajv.compile(MODELPACK_CONFIG_SCHEMA);
  }
  return validator;
}

function describe(e: ErrorObject): string {
  const where = e.instancePath || '/';
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') return `${where}: unknown property "${String(p['additionalProperty'])}"`;
  if (e.keyword === 'required') return `${where}: missing required property "${String(p['missingProperty'])}"`;
  if (e.keyword === 'enum')
    return `${where}: must be one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return `${where}: ${e.message ?? e.keyword}`;
}

/**
 * Checks a config blob against the official ModelPack JSON schema (modelpack/model-spec
 * main, draft 2020-12, formats asserted like the Go validator) and that every diffId is a
 * sha256 digest (the Go type is a digest; the schema only says "string").
 */
export function validateModelConfig(config: unknown): void {
  const validate = getValidator();
  const problems: string[] = [];
  if (!validate(config)) problems.push(...(validate.errors ?? []).map(describe));
  const diffIds = (config as { modelfs?: { diffIds?: unknown } } | null)?.modelfs?.diffIds;
  if (Array.isArray(diffIds))
    diffIds.forEach((d, i) => {
      if (typeof d === 'string' && !DIGEST_RE.test(d))
        problems.push(`/modelfs/diffIds/${i}: "${d}" is not a sha256 digest`);
    });
  if (problems.length > 0) {
    const unique = [...new Set(problems)];
    throw new ModelshipError('INVALID', `model config does not match the ModelPack schema:\n  ${unique.join('\n  ')}`, {
      hint: 'fix the values named above (flags, spec file or model card); the schema is modelpack/model-spec config-schema.json',
    });
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** Compact JSON with keys sorted at every level, so equal configs are equal bytes (and digests). */
export function serializeConfig(config: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(sortKeys(config)), 'utf8');
}

/** What `inspect` shows of a ModelPack config: its descriptor and config fields that are strings. */
export interface ModelConfigSummary {
  name?: string;
  version?: string;
  family?: string;
  architecture?: string;
  format?: string;
  paramSize?: string;
  precision?: string;
  quantization?: string;
  licenses?: string[];
  authors?: string[];
  createdAt?: string;
}

const SUMMARY_DESCRIPTOR_FIELDS = ['name', 'version', 'family', 'createdAt'] as const;
const SUMMARY_CONFIG_FIELDS = ['architecture', 'format', 'paramSize', 'precision', 'quantization'] as const;
/** A hostile config may list anything: a summary shows the first few entries of a list. */
const SUMMARY_LIST_MAX = 20;

/**
 * The summary of a parsed config blob, read leniently: a field of the wrong type is left out
 * rather than refused (inspect shows what an artifact holds; `validateModelConfig` judges it).
 */
export function summarizeModelConfig(config: unknown): ModelConfigSummary {
  const obj = (v: unknown): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const descriptor = obj(obj(config).descriptor);
  const fields = obj(obj(config).config);
  const out: ModelConfigSummary = {};
  for (const k of SUMMARY_DESCRIPTOR_FIELDS) if (typeof descriptor[k] === 'string') out[k] = descriptor[k];
  for (const k of SUMMARY_CONFIG_FIELDS) if (typeof fields[k] === 'string') out[k] = fields[k];
  for (const k of ['licenses', 'authors'] as const) {
    const list = descriptor[k];
    if (Array.isArray(list)) {
      const strings = list.filter((s): s is string => typeof s === 'string').slice(0, SUMMARY_LIST_MAX);
      if (strings.length) out[k] = strings;
    }
  }
  return out;
}
