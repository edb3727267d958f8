// Reads action inputs into typed values. Only an action's index.ts calls these (once, before
// run(inputs, ctx)); every check and plan is core's request layer, named by the input.
import { resolve } from 'node:path';
import * as core from '@actions/core';
import {
  IDENTIFIER_FAMILIES,
  LAYER_ENCODINGS,
  ModelshipError,
  gitHubTargetFromEnv,
  keySourceFrom,
  REKOR_ENTRY_TYPES,
  customPredicates,
  metadataOverrides,
  parseAttestationKinds,
  parseChoice,
  parseSbomFormats,
  parseConcurrency,
  parseCreated,
  parseKeyValues,
  parseVariants,
  registryAccess,
  untrustedText,
  type AttestOptions,
  type IdentifierFamily,
  type LayerEncoding,
  type PackOptions,
  type RegistryAccess,
  type SigningOptions,
  type TufOptions,
  type VariantsPlan,
} from '@modelship/core';

/** Multi-line or comma-separated list input; empty entries dropped. */
export function listInput(name: string): string[] {
  return core
    .getInput(name)
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** One entry per line (values may contain commas). */
export function linesInput(name: string): string[] {
  return core
    .getInput(name)
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function choiceInput<T extends string>(name: string, allowed: readonly T[]): T {
  return parseChoice(core.getInput(name), allowed, `input ${name}`);
}

/**
 * A boolean input; empty (not in action.yml, or set to '') reads as `fallback`, which is the
 * action.yml default. Anything but the YAML booleans is a USAGE error naming the input (not
 * @actions/core's bare TypeError, which the failure path would report as INTERNAL).
 */
export function booleanInput(name: string, fallback: boolean): boolean {
  const v = core.getInput(name);
  if (v === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(v)) return true;
  if (['false', 'False', 'FALSE'].includes(v)) return false;
  throw new ModelshipError('USAGE', `input ${name} must be true or false, got "${v}"`);
}

/** `key=value` lines (annotations), checked and trimmed by core's parseKeyValues. */
export function keyValueInput(name: string): Record<string, string> {
  return parseKeyValues(linesInput(name), `input ${name}`);
}

/** Input concurrency (1..64, default 4). */
export function concurrencyInput(name = 'concurrency'): number {
  return parseConcurrency(core.getInput(name), `input ${name}`);
}

/** Input show-summary: whether the action writes its job summary (default true). */
export function showSummaryInput(): boolean {
  return booleanInput('show-summary', true);
}

/**
 * Every input of a modelship action that holds a secret. `runAction` masks them all before
 * the action reads any input, so a parse error, a warning or a crash in between cannot print
 * one unmasked (setup's `logins` is masked by setup itself, field by field, see
 * actions/setup/src/logins.ts). An input the action does not have reads as empty.
 */
export const SECRET_INPUTS = [
  'password',
  'source-password',
  'destination-password',
  'key',
  'key-password',
  'identity-token',
  'github-token',
] as const;

const masked = new Set<string>();

/** Masks a value once (runAction masks every secret input up front; readers ask again). */
export function maskSecret(value: string): void {
  if (!value || masked.has(value)) return;
  masked.add(value);
  core.setSecret(value);
}

/** A secret input, masked in the log before anything else can print it. */
export function secretInput(name: string): string {
  const v = core.getInput(name);
  if (v) {
    maskSecret(v);
    // Multi-line secrets (PEM keys) are masked line by line too: the runner masks per line.
    const lines = v.split(/\r?\n/).map((l) => l.trim());
    if (lines.length > 1) for (const line of lines) if (line.length >= 8) maskSecret(line);
  }
  return v;
}

const warned = new Set<string>();

/**
 * Registry inputs: `<prefix>username`, `<prefix>password` (masked), plain-http, insecure.
 * Promote reads one set per side (`source-`, `destination-`).
 */
export function registryInputs(prefix = ''): RegistryAccess {
  const password = secretInput(`${prefix}password`);
  return {
    ...registryAccess(
      {
        username: core.getInput(`${prefix}username`),
        password: password || undefined,
        plainHttp: booleanInput('plain-http', false),
        insecure: booleanInput('insecure', false),
      },
      { username: `input ${prefix}username`, password: `input ${prefix}password` },
    ),
    // A broken docker config.json on the runner is skipped with a warning annotation (once,
    // however many stores meet it: promote has two sides).
    warn: (m) => {
      if (warned.has(m)) return;
      warned.add(m);
      core.warning(untrustedText(m));
    },
  };
}

function tlogInput(): boolean | undefined {
  const v = core.getInput('tlog').trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ModelshipError('USAGE', `input tlog "${v}" must be true, false or empty`);
}

/** The signing inputs shared by sign, attest, promote and the release action; secrets masked first. */
export function signingInputs(): SigningOptions {
  const key = secretInput('key');
  const keyPassword = secretInput('key-password');
  const identityToken = secretInput('identity-token');
  const entry = core.getInput('rekor-entry-type');
  const entryType = entry ? parseChoice(entry, REKOR_ENTRY_TYPES, 'input rekor-entry-type') : undefined;
  const tlog = tlogInput();
  const fulcioURL = core.getInput('fulcio-url');
  const rekorURL = core.getInput('rekor-url');
  const tsaURL = core.getInput('tsa-url');
  return {
    ...(key ? { key: keySourceFrom(key) } : {}),
    ...(keyPassword ? { keyPassword } : {}),
    ...(identityToken ? { identityToken } : {}),
    ...(fulcioURL ? { fulcioURL } : {}),
    ...(rekorURL ? { rekorURL } : {}),
    ...(tsaURL ? { tsaURL } : {}),
    ...(tlog !== undefined ? { tlog } : {}),
    ...(entryType ? { rekorEntryType: entryType } : {}),
  };
}

/** What sign and attest act on: the artifact (input reference), how to reach it, how to sign. */
export interface SubjectInputs {
  reference: string;
  registry: RegistryAccess;
  signing: SigningOptions;
}

/** Reads reference, the signing inputs and the registry inputs (secrets masked first). */
export function subjectInputs(): SubjectInputs {
  const signing = signingInputs();
  const reference = core.getInput('reference', { required: true });
  return { reference, registry: registryInputs(), signing };
}

/** The `tuf-*` inputs of verify and promote: where the Sigstore trusted root comes from. */
export function tufInputs(): TufOptions {
  const mirrorURL = core.getInput('tuf-mirror');
  const rootPath = core.getInput('tuf-root');
  const cachePath = core.getInput('tuf-cache');
  return {
    ...(mirrorURL ? { mirrorURL } : {}),
    ...(rootPath ? { rootPath } : {}),
    ...(cachePath ? { cachePath } : {}),
    ...(booleanInput('tuf-offline', false) ? { offline: true } : {}),
  };
}

/** What the pack inputs (path, output/push, metadata, layer format, ...) ask for. */
export interface PackInputs {
  dir: string;
  /** `oci:DIR[:TAG]` or `HOST/REPO[:TAG]`, for openTarget. */
  target: string;
  /** The input the target came from (push or output), for messages. */
  targetLabel: string;
  /** Explicit tags (empty: the target's tag, else latest). */
  tags: string[];
  options: Pick<PackOptions, 'family' | 'layerFormat' | 'scan' | 'metadata' | 'createdAt' | 'securityScan'>;
  cache: boolean;
  /** Input dry-run (pack action only): write nothing, report what would be written. */
  dryRun?: boolean;
  /** Inputs variants and base-image. */
  variants: VariantsPlan;
}

/** Inputs `variants` (names, one per line or comma-separated) and, where an action has it, `base-image`. */
export function variantsInput(withBase = true): VariantsPlan {
  const base = withBase ? core.getInput('base-image') : '';
  return parseVariants(listInput('variants'), base || undefined, {
    variants: 'input variants',
    baseImage: 'input base-image',
  });
}

/** Reads the pack inputs shared by the pack and release actions. */
export function packInputs(): PackInputs {
  const dir = resolve(core.getInput('path', { required: true }));
  const pushRef = core.getInput('push');
  const output = core.getInput('output') || './model-oci';
  const layerFormat = choiceInput<LayerEncoding>('layer-format', LAYER_ENCODINGS);
  const family = choiceInput<IdentifierFamily>('identifiers', IDENTIFIER_FAMILIES);
  const created = core.getInput('created');
  const createdAt = parseCreated(
    created === 'true' ? true : created === 'false' || created === '' ? undefined : created,
    'input created',
  );
  const metadata = metadataOverrides({
    name: core.getInput('name'),
    version: core.getInput('model-version'),
    family: core.getInput('family'),
    architecture: core.getInput('architecture'),
    format: core.getInput('format'),
    paramSize: core.getInput('param-size'),
    precision: core.getInput('precision'),
    quantization: core.getInput('quantization'),
    licenses: listInput('licenses'),
    authors: linesInput('authors'),
  });
  const include = listInput('include');
  const exclude = listInput('exclude');
  const spec = core.getInput('spec');
  return {
    dir,
    target: pushRef || (output.startsWith('oci:') ? output : `oci:${output}`),
    targetLabel: pushRef ? 'input push' : 'input output',
    tags: listInput('tags'),
    options: {
      family,
      layerFormat,
      scan: {
        ...(include.length ? { include } : {}),
        ...(exclude.length ? { exclude } : {}),
        ...(spec ? { spec } : {}),
        useDirSpec: booleanInput('dir-spec', true),
        ...(booleanInput('ignore-files', true) ? {} : { ignoreFiles: false }),
      },
      metadata,
      ...(createdAt ? { createdAt } : {}),
      ...(booleanInput('scan', false) ? { securityScan: true } : {}),
    },
    cache: booleanInput('cache', true),
    // The release action has no dry-run input: it reads as false there.
    dryRun: booleanInput('dry-run', false),
    variants: variantsInput(),
  };
}

/** What the attest inputs (types, predicate-type/predicate, mof-overrides, github-upload) ask for. */
export type AttestInputs = Pick<
  AttestOptions,
  | 'kinds'
  | 'custom'
  | 'mofOverridesPath'
  | 'github'
  | 'sbomFormats'
  | 'scanReportPath'
  | 'modelCardPath'
  | 'datasetCardPaths'
>;

/** Reads the attestation inputs shared by the attest and release actions. */
export function attestInputs(): AttestInputs {
  const kinds = parseAttestationKinds(listInput('types'), 'input types');
  const custom = customPredicates(core.getInput('predicate-type'), core.getInput('predicate'), {
    type: 'inputs predicate-type',
    path: 'predicate',
  });
  const mofOverrides = core.getInput('mof-overrides');
  const sbomFormats = parseSbomFormats(listInput('sbom-format'), 'input sbom-format');
  const scanReport = core.getInput('scan-report');
  const modelCard = core.getInput('model-card');
  const datasetCards = linesInput('dataset-cards');
  const githubToken = secretInput('github-token');
  const upload = booleanInput('github-upload', false);
  const github = upload ? gitHubTargetFromEnv(process.env, githubToken) : undefined;
  if (upload && !github) throw new ModelshipError('USAGE', 'github-upload needs a github-token and GITHUB_REPOSITORY');
  return {
    kinds,
    custom,
    ...(mofOverrides ? { mofOverridesPath: mofOverrides } : {}),
    sbomFormats,
    ...(scanReport ? { scanReportPath: scanReport } : {}),
    ...(modelCard ? { modelCardPath: modelCard } : {}),
    ...(datasetCards.length ? { datasetCardPaths: datasetCards } : {}),
    ...(github ? { github } : {}),
  };
}
