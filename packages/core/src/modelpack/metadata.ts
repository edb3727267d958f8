import { basename, dirname, posix } from 'node:path';
import { ModelshipError } from '../errors.js';
import { openFileBytes, type OpenBytes } from './filereader.js';
import { readGitInfo, type GitStatusResult } from './git.js';
import { ggufFileTypeName, ggufFileTypePrecision, readGgufHeader, type GgufSummary } from './gguf.js';
import { readHfConfig } from './hfconfig.js';
import { detectLicenseText, licensesToSpdx } from './license.js';
import { capabilitiesFromPipeline, parseModelCard } from './modelcard.js';
import { readSafetensorsHeader, type SafetensorsSummary } from './safetensors.js';
import { METADATA_STRING_FIELDS, type ModelFile, type ModelMetadata, type ModelMetadataOverrides } from './types.js';
import { resolveModelDir } from './walk.js';
import {
  formatParamSize,
  isRfc3339,
  normalizeParamSize,
  normalizePrecision,
  PARAM_SIZE_HINT,
  precisionFromSafetensorsDtype,
} from './values.js';

export interface InferOptions {
  /** Default true: run `git status` to suffix the revision with `-dirty`. */
  checkGitDirty?: boolean;
  /** Default true: read .git for sourceURL/revision. */
  useGit?: boolean;
  /** The `git status` run to use for the dirty check (pack shares one with the Git LFS digests). */
  gitStatus?: () => Promise<GitStatusResult>;
  /** The name when no file gives one (default: the directory's; `pack FILE`: the file's stem). */
  fallbackName?: string;
  /** Where a file's bytes are read from, when not from its `absPath` (pack's `remoteFiles`). */
  openFile?: (file: ModelFile) => OpenBytes | undefined;
}

/** Merges override layers, earlier ones winning field by field (e.g. flags, then the spec file). */
export function mergeOverrides(...layers: (Partial<ModelMetadataOverrides> | undefined)[]): ModelMetadataOverrides {
  const out: ModelMetadataOverrides = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer) as [keyof ModelMetadataOverrides, unknown][]) {
      if (v === undefined || (out as Record<string, unknown>)[k] !== undefined) continue;
      if (Array.isArray(v) ? v.length === 0 : v === '') continue;
      (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

/** Small text files at the root: read at most `cap` bytes. */
async function readHead(file: ModelFile, cap: number, openBytes: OpenBytes): Promise<string> {
  const fh = await openBytes();
  try {
    const buf = Buffer.alloc(Math.min(cap, file.size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

const FORMAT_BY_EXT: [RegExp, string][] = [
  [/\.safetensors$/, 'safetensors'],
  [/\.gguf$/, 'gguf'],
  [/\.(onnx|onnx_data|onnx\.data|ort)$/, 'onnx'],
  [/\.(pt|pth|bin|ckpt|pt2|pte|ptl|mar)$/, 'pt'],
  [/\.keras$/, 'keras'],
  [/\.(h5|hdf5)$/, 'h5'],
  [/\.(tflite|lite)$/, 'tflite'],
  [/(\.pb|\.data-\d+-of-\d+)$/, 'tensorflow'],
  [/\.msgpack$/, 'flax'],
  [/\.mlmodel$/, 'coreml'],
  [/\.(pdparams|pdmodel)$/, 'paddle'],
  [/\.ggml$/, 'ggml'],
  [/\.llamafile$/, 'llamafile'],
  [/\.npz$/, 'npz'],
  [/\.(pkl|pickle)$/, 'pickle'],
  [/\.joblib$/, 'joblib'],
  [/\.(engine|plan|trt)$/, 'tensorrt'],
  [/\.nemo$/, 'nemo'],
];
/** Tie-break when two formats weigh the same (HF repos often ship safetensors and .bin twins). */
const FORMAT_PRIORITY = ['safetensors', 'gguf', 'onnx', 'pt'];

/** The weight format holding the most bytes. */
export function inferFormat(files: readonly Pick<ModelFile, 'kind' | 'path' | 'size'>[]): string | undefined {
  const bytes = new Map<string, number>();
  for (const f of files) {
    if (f.kind !== 'weight') continue;
    const name = f.path.toLowerCase();
    const hit = FORMAT_BY_EXT.find(([re]) => re.test(name));
    if (hit) bytes.set(hit[1], (bytes.get(hit[1]) ?? 0) + f.size);
  }
  const rank = (fmt: string): number => {
    const i = FORMAT_PRIORITY.indexOf(fmt);
    return i === -1 ? FORMAT_PRIORITY.length : i;
  };
  return [...bytes.entries()].sort((a, b) => b[1] - a[1] || rank(a[0]) - rank(b[0]) || (a[0] < b[0] ? -1 : 1))[0]?.[0];
}

/** `model-00001-of-00004.safetensors` and its siblings form one group; other files stand alone. */
function shardGroup(path: string): string {
  return path.replace(/-\d{3,6}-of-\d{3,6}(\.[^/]+)$/, '$1');
}

/**
 * Sums safetensors shapes. A repo can hold the same weights twice in one directory
 * (Mistral's `consolidated.safetensors` next to the HF shards), so per directory the largest
 * shard group counts; separate directories (diffusers components) add up.
 */
function sumByGroups<T>(items: { path: string; value: T }[], count: (v: T) => number): { total: number; chosen: T[] } {
  const byDir = new Map<string, Map<string, T[]>>();
  for (const it of items) {
    const dir = posix.dirname(it.path);
    const groups = byDir.get(dir) ?? new Map<string, T[]>();
    const g = shardGroup(it.path);
    groups.set(g, [...(groups.get(g) ?? []), it.value]);
    byDir.set(dir, groups);
  }
  let total = 0;
  const chosen: T[] = [];
  for (const groups of byDir.values()) {
    let best: T[] = [];
    let bestCount = -1;
    for (const members of groups.values()) {
      const c = members.reduce((s, m) => s + count(m), 0);
      if (c > bestCount) {
        best = members;
        bestCount = c;
      }
    }
    total += bestCount;
    chosen.push(...best);
  }
  return { total, chosen };
}

function sanitizeName(dirName: string): string {
  const s = dirName
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.]+|-+$/g, '');
  return s || 'model';
}

function ggufString(g: GgufSummary, key: string): string | undefined {
  const v = g.metadata.get(key);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function checkOverrides(o: ModelMetadataOverrides): ModelMetadataOverrides {
  const out = { ...o };
  if (out.paramSize !== undefined) {
    const n = normalizeParamSize(out.paramSize);
    if (n === undefined)
      throw new ModelshipError('USAGE', `paramSize "${out.paramSize}" is not in the spec's <count><scale> form`, {
        hint: PARAM_SIZE_HINT,
      });
    out.paramSize = n;
  }
  if (out.precision !== undefined) out.precision = normalizePrecision(out.precision);
  if (out.licenses !== undefined) out.licenses = licensesToSpdx(out.licenses, undefined, true);
  if (out.createdAt !== undefined && !isRfc3339(out.createdAt))
    throw new ModelshipError('USAGE', `createdAt "${out.createdAt}" is not an RFC 3339 date-time`, {
      hint: 'use a value like 2025-07-21T00:00:00Z',
    });
  return out;
}

/**
 * Reads what the model dir says about itself. Precedence per field: overrides (flags, then
 * spec — merge them with `mergeOverrides`), config.json, the model card, GGUF metadata,
 * safetensors headers, the weight files' extensions, the LICENSE text, git. Unreadable or
 * malformed sources become warnings, never failures: metadata is best effort, the layers are not.
 */
export async function inferModelMetadata(
  dir: string,
  files: ModelFile[],
  overrides: ModelMetadataOverrides = {},
  options: InferOptions = {},
): Promise<ModelMetadata> {
  const root = await resolveModelDir(dir);
  const bytesOf = (f: ModelFile): OpenBytes => options.openFile?.(f) ?? openFileBytes(f.absPath);
  const warnings: string[] = [];
  const sources: ModelMetadata['sources'] = {};
  const acc: Partial<ModelMetadata> = {};
  const set = (field: keyof ModelMetadataOverrides, value: string | string[] | undefined, source: string): void => {
    if (value === undefined || (Array.isArray(value) ? value.length === 0 : value.trim() === '')) return;
    if ((acc as Record<string, unknown>)[field] !== undefined) return;
    (acc as Record<string, unknown>)[field] = Array.isArray(value) ? value : value.trim();
    sources[field] = source;
  };
  const byPath = new Map(files.map((f) => [f.path, f]));
  const rootFile = (re: RegExp): ModelFile | undefined => files.find((f) => !f.path.includes('/') && re.test(f.path));

  const o = checkOverrides(overrides);
  for (const field of METADATA_STRING_FIELDS) set(field, o[field] as string | undefined, 'override');
  set('authors', o.authors, 'override');
  set('licenses', o.licenses, 'override');

  // config.json (Hugging Face transformers)
  const cfgFile = byPath.get('config.json');
  let quantizedPacking = false;
  if (cfgFile) {
    try {
      const facts = readHfConfig(JSON.parse(await readHead(cfgFile, 16 * 1024 * 1024, bytesOf(cfgFile))));
      if (facts) {
        set('family', facts.family, 'config.json model_type');
        set('architecture', facts.architecture, 'config.json');
        set('precision', facts.precision, 'config.json torch_dtype');
        set('quantization', facts.quantization, 'config.json quantization_config.quant_method');
        // GPTQ/AWQ/bitsandbytes pack several weights per stored element; shapes undercount.
        quantizedPacking = facts.quantization !== undefined && !/^fp8|^float8/.test(facts.quantization);
      }
    } catch (e) {
      warnings.push(`config.json is not valid JSON (${(e as Error).message}); not used for metadata`);
    }
  }

  // Model card front matter
  const readme = rootFile(/^readme\.md$/i);
  if (readme) {
    try {
      const card = parseModelCard(await readHead(readme, 1024 * 1024, bytesOf(readme)));
      if (card) {
        set('name', card.modelName, 'README.md model_name');
        set('licenses', card.license ? licensesToSpdx(card.license, card.licenseName) : undefined, 'README.md license');
        set('authors', card.authors, 'README.md authors');
        if (card.baseModels) acc.baseModels = card.baseModels;
        if (card.tags) acc.tags = card.tags;
        if (card.languages) acc.languages = card.languages;
        if (card.datasets) acc.datasets = card.datasets;
        const caps = capabilitiesFromPipeline(card.pipelineTag);
        if (caps) acc.capabilities = caps;
      }
    } catch (e) {
      warnings.push(`${readme.path} front matter is not valid YAML (${(e as Error).message.split('\n')[0]}); not used`);
    }
  }

  // GGUF headers (skip multimodal projectors: they describe the vision tower, not the model)
  const ggufs: { path: string; value: GgufSummary }[] = [];
  for (const f of files) {
    if (f.kind !== 'weight' || !/\.gguf$/i.test(f.path)) continue;
    try {
      const g = await readGgufHeader(f.absPath, f.size, bytesOf(f));
      const type = ggufString(g, 'general.type');
      const arch = ggufString(g, 'general.architecture');
      if (/^mmproj/i.test(basename(f.path)) || type === 'mmproj' || arch === 'clip') continue;
      ggufs.push({ path: f.path, value: g });
    } catch (e) {
      warnings.push(`cannot read the GGUF header of ${f.path}: ${(e as Error).message}`);
    }
  }
  if (ggufs.length > 0) {
    const first = ggufs[0]!.value;
    const arch = ggufString(first, 'general.architecture');
    set('name', ggufString(first, 'general.name'), 'GGUF general.name');
    set('family', arch, 'GGUF general.architecture');
    if (arch) set('architecture', /^mamba/.test(arch) ? 'ssm' : /^rwkv/.test(arch) ? 'rnn' : 'transformer', 'GGUF');
    set('licenses', licensesToSpdx([ggufString(first, 'general.license') ?? '']), 'GGUF general.license');
    set('authors', ggufString(first, 'general.author') ? [ggufString(first, 'general.author')!] : undefined, 'GGUF');
    set('vendor', ggufString(first, 'general.organization'), 'GGUF general.organization');
    set('version', ggufString(first, 'general.version'), 'GGUF general.version');
    set('description', ggufString(first, 'general.description'), 'GGUF general.description');
    set('docURL', ggufString(first, 'general.url'), 'GGUF general.url');

    const types = new Set(
      ggufs.map((g) => g.value.metadata.get('general.file_type')).filter((t) => typeof t === 'number'),
    );
    if (types.size === 1) {
      const t = [...types][0] as number;
      const precision = ggufFileTypePrecision(t);
      if (precision) set('precision', precision, 'GGUF general.file_type');
      else set('quantization', ggufFileTypeName(t), 'GGUF general.file_type');
    } else if (types.size > 1) {
      warnings.push('the GGUF files have different quantizations; config.quantization is left out');
    }
    const { total } = sumByGroups(ggufs, (g) => g.parameterCount);
    if (total > 0) {
      acc.parameterCount ??= total;
      set('paramSize', formatParamSize(total), 'GGUF tensor infos');
    } else if (typeof first.metadata.get('general.parameter_count') === 'number') {
      const n = first.metadata.get('general.parameter_count') as number;
      acc.parameterCount ??= n;
      set('paramSize', formatParamSize(n), 'GGUF general.parameter_count');
    } else {
      const label = ggufString(first, 'general.size_label');
      set('paramSize', label ? normalizeParamSize(label) : undefined, 'GGUF general.size_label');
    }
  }

  // Safetensors headers
  const sts: { path: string; value: SafetensorsSummary }[] = [];
  let stFailed = false;
  for (const f of files) {
    if (f.kind !== 'weight' || !/\.safetensors$/i.test(f.path)) continue;
    try {
      sts.push({ path: f.path, value: await readSafetensorsHeader(f.absPath, f.size, bytesOf(f)) });
    } catch (e) {
      stFailed = true;
      warnings.push(`cannot read the safetensors header of ${f.path}: ${(e as Error).message}`);
    }
  }
  if (sts.length > 0) {
    const { total, chosen } = sumByGroups(sts, (s) => s.parameterCount);
    const dtypes = new Map<string, number>();
    for (const s of chosen) for (const [d, n] of Object.entries(s.dtypes)) dtypes.set(d, (dtypes.get(d) ?? 0) + n);
    const dominant = [...dtypes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0];
    if (!quantizedPacking)
      set('precision', dominant ? precisionFromSafetensorsDtype(dominant) : undefined, 'safetensors dtypes');
    if (stFailed) {
      warnings.push('paramSize not inferred: some safetensors headers could not be read');
    } else if (quantizedPacking) {
      if (!acc.paramSize) warnings.push('paramSize not inferred: quantized tensors are packed; set it explicitly');
    } else if (total > 0) {
      acc.parameterCount ??= total;
      set('paramSize', formatParamSize(total), 'safetensors headers');
    }
  }

  set('format', inferFormat(files), 'weight file extensions');

  // LICENSE text, when nothing declared a license
  if (!acc.licenses) {
    const lic = rootFile(/^(licen[cs]e|copying)(\.(md|txt))?$/i);
    if (lic) {
      try {
        const id = detectLicenseText(await readHead(lic, 64 * 1024, bytesOf(lic)));
        set('licenses', id ? [id] : undefined, `${lic.path} text`);
      } catch (e) {
        warnings.push(`cannot read ${lic.path}: ${(e as Error).message}`);
      }
    }
  }

  if (options.useGit !== false) {
    const git = await readGitInfo(root, {
      checkDirty: options.checkGitDirty !== false,
      ...(options.gitStatus ? { status: options.gitStatus } : {}),
    });
    set('sourceURL', git.sourceURL, 'git remote');
    set('revision', git.revision, 'git HEAD');
    warnings.push(...git.warnings);
  }
  if (ggufs.length > 0) {
    const first = ggufs[0]!.value;
    set(
      'sourceURL',
      ggufString(first, 'general.source.url') ?? ggufString(first, 'general.source.huggingface.repository'),
      'GGUF general.source.url',
    );
  }

  if (options.fallbackName !== undefined) set('name', sanitizeName(options.fallbackName), 'file name');
  set('name', sanitizeName(basename(root) || basename(dirname(root))), 'directory name');

  return { ...(acc as Omit<ModelMetadata, 'name' | 'sources' | 'warnings'>), name: acc.name!, sources, warnings };
}
