import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { isMap, isScalar, parseDocument, type Node } from 'yaml';
import { ModelshipError } from '../errors.js';
import type { LayerKind } from '../mediatypes.js';
import { normalizePattern } from './glob.js';
import { licensesToSpdx } from './license.js';
import {
  METADATA_STRING_FIELDS,
  type ModelMetadataOverrides,
  type ModelSpec,
  type SpecEntry,
  type SpecFormat,
} from './types.js';
import { normalizeParamSize, normalizePrecision, PARAM_SIZE_HINT } from './values.js';
import { YamlReader } from './yamlnodes.js';

// ---------------------------------------------------------------------------------------------
// Modelfile (modctl): line-oriented, one argument per directive.

const MODELFILE_KINDS: Record<string, LayerKind> = {
  CONFIG: 'weight.config',
  MODEL: 'weight',
  CODE: 'code',
  DATASET: 'dataset', // modctl parses DATASET but never builds it; here it makes dataset layers
  DOC: 'doc',
};

const MODELFILE_FIELDS: Record<string, keyof ModelMetadataOverrides> = {
  NAME: 'name',
  FAMILY: 'family',
  ARCH: 'architecture',
  FORMAT: 'format',
  QUANTIZATION: 'quantization',
  PARAMSIZE: 'paramSize',
  PRECISION: 'precision',
};

const MODELFILE_HINT = `Modelfile directives: ${[...Object.keys(MODELFILE_KINDS), ...Object.keys(MODELFILE_FIELDS)].join(', ')}; one argument each, quoted if it contains spaces`;

/** Reads the single argument, honouring "double" or 'single' quotes and backslash escapes inside them. */
function parseArgument(rest: string, fail: (msg: string) => never, keyword: string): string {
  const s = rest.trim();
  if (s === '') fail(`${keyword} needs one argument`);
  const q = s[0];
  if (q !== '"' && q !== "'") {
    if (/\s/.test(s)) fail(`${keyword} takes one argument; quote it if it contains spaces`);
    return s;
  }
  let out = '';
  let i = 1;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      out += s[++i];
      continue;
    }
    if (c === q) break;
    out += c;
  }
  if (i >= s.length) fail(`unterminated quote in the argument of ${keyword}`);
  if (s.slice(i + 1).trim() !== '') fail(`${keyword} takes one argument; found more after the closing quote`);
  return out;
}

/** Validates and normalises one metadata value from any spec format. */
function metadataValue(
  field: keyof ModelMetadataOverrides,
  value: string,
  fail: (msg: string, hint?: string) => never,
): string {
  const v = value.trim();
  if (v === '') fail(`${field} must not be empty`);
  if (field === 'paramSize') {
    const n = normalizeParamSize(v);
    if (n === undefined) fail(`paramSize "${v}" is not in the spec's <count><scale> form`, PARAM_SIZE_HINT);
    return n;
  }
  if (field === 'precision') return normalizePrecision(v);
  return v;
}

export function parseModelfile(text: string, source = 'Modelfile'): ModelSpec {
  const entries: SpecEntry[] = [];
  const metadata: Partial<ModelMetadataOverrides> = {};
  const seenAt = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const fail = (msg: string, hint = MODELFILE_HINT): never => {
      throw new ModelshipError('INPUT', `${source}:${lineNo}: ${msg}`, { hint });
    };
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(line)!;
    const keyword = m[1]!.toUpperCase();
    const rest = m[2] ?? '';
    const kind = MODELFILE_KINDS[keyword];
    const field = MODELFILE_FIELDS[keyword];
    if (!kind && !field) fail(`unknown directive "${m[1]}"`);
    const arg = parseArgument(rest, fail, keyword);
    if (kind) {
      const pattern = normalizePattern(arg, 'INPUT', `${source}:${lineNo}`);
      entries.push({ kind, pattern, origin: `${source}:${lineNo}`, literal: !/[*?[\]{}!]/.test(pattern) });
      return;
    }
    const prev = seenAt.get(keyword);
    if (prev !== undefined) fail(`${keyword} is given twice (first on line ${prev})`);
    seenAt.set(keyword, lineNo);
    (metadata as Record<string, string>)[field!] = metadataValue(field!, arg, fail);
  });
  return { format: 'modelfile', source, entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// Kitfile (KitOps): strict YAML.

const KITFILE_HINT = 'see https://kitops.org/docs/kitfile/format/ for the Kitfile keys';
const REFERENCE_RE = /^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?\/[^\s]+[:@][^\s/]+$/i;

export function parseKitfile(text: string, source = 'Kitfile'): ModelSpec {
  const y = new YamlReader(text, source, KITFILE_HINT);
  const top = y.map(y.root, 'the Kitfile', [
    'manifestVersion',
    'package',
    'model',
    'code',
    'datasets',
    'docs',
    'prompts',
  ]);
  if (!top.has('manifestVersion')) y.fail(y.root, 'manifestVersion is required (e.g. manifestVersion: "1.0")');
  y.string(top.get('manifestVersion'), 'manifestVersion');

  const entries: SpecEntry[] = [];
  const metadata: Partial<ModelMetadataOverrides> = {};
  const licenses: string[] = [];
  const addLicense = (m: Map<string, Node | null>, where: string): void => {
    const l = y.optString(m, 'license', where);
    if (l !== undefined) licenses.push(l);
  };
  const addPath = (node: Node | null | undefined, kind: LayerKind, where: string, modelGroup = false): void => {
    const path = y.string(node, where);
    if (REFERENCE_RE.test(path))
      y.fail(node, `${where} "${path}" refers to another ModelKit; modelship packs files of the directory only`);
    const pattern = normalizePattern(path, 'INPUT', `${source}: ${where}`);
    entries.push({
      kind,
      pattern,
      origin: `${source}:${y.line(node) ?? '?'} (${where})`,
      literal: true, // Kitfile paths are files or directories, never globs
      ...(modelGroup ? { modelGroup } : {}),
    });
  };

  if (top.has('package')) {
    const p = y.map(top.get('package'), 'package', ['name', 'version', 'description', 'license', 'authors']);
    const name = y.optString(p, 'name', 'package');
    const version = y.optString(p, 'version', 'package');
    const description = y.optString(p, 'description', 'package');
    if (name) metadata.name = name;
    if (version) metadata.version = version;
    if (description) metadata.description = description;
    if (p.has('authors')) {
      const authors = y.stringList(p.get('authors'), 'package.authors').filter((a) => a.trim() !== '');
      if (authors.length > 0) metadata.authors = authors;
    }
    addLicense(p, 'package');
  }

  if (top.has('model')) {
    const m = y.map(top.get('model'), 'model', [
      'name',
      'path',
      'license',
      'framework',
      'format',
      'version',
      'description',
      'parts',
      'parameters',
    ]);
    const name = y.optString(m, 'name', 'model');
    const version = y.optString(m, 'version', 'model');
    const description = y.optString(m, 'description', 'model');
    const format = y.optString(m, 'format', 'model');
    y.optString(m, 'framework', 'model');
    if (name && !metadata.name) metadata.name = name;
    if (version && !metadata.version) metadata.version = version;
    if (description && !metadata.description) metadata.description = description;
    if (format) metadata.format = format.toLowerCase();
    addLicense(m, 'model');
    if (m.has('path')) addPath(m.get('path'), 'weight', 'model.path', true);
    y.seq(m.get('parts'), 'model.parts').forEach((node, i) => {
      const part = y.map(node, `model.parts[${i}]`, ['name', 'path', 'license', 'type']);
      y.optString(part, 'name', `model.parts[${i}]`);
      y.optString(part, 'type', `model.parts[${i}]`);
      addLicense(part, `model.parts[${i}]`);
      // KitOps maps model parts to weight config; a part that is itself a weight file stays a weight.
      if (part.has('path')) addPath(part.get('path'), 'weight.config', `model.parts[${i}].path`, true);
    });
  }

  const sections: [string, LayerKind, string[]][] = [
    ['datasets', 'dataset', ['name', 'path', 'description', 'license', 'parameters']],
    ['docs', 'doc', ['path', 'description']],
    ['prompts', 'doc', ['path', 'description']],
    ['code', 'code', ['path', 'description', 'license']],
  ];
  for (const [key, kind, allowed] of sections) {
    y.seq(top.get(key), key).forEach((node, i) => {
      const where = `${key}[${i}]`;
      const e = y.map(node, where, allowed);
      for (const k of ['name', 'description'] as const) if (allowed.includes(k)) y.optString(e, k, where);
      if (allowed.includes('license')) addLicense(e, where);
      if (!e.has('path')) y.fail(node, `${where}.path is required`);
      addPath(e.get('path'), kind, `${where}.path`);
    });
  }

  const spdx = licensesToSpdx(licenses).sort();
  if (spdx.length > 0) metadata.licenses = spdx;
  return { format: 'kitfile', source, entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// modelship YAML spec: per-kind glob lists plus metadata keys.

const YAML_SPEC_HINT =
  'YAML spec keys: weights, config, code, datasets, docs (lists of globs) and the metadata keys name, version, family, authors, licenses, description, title, vendor, docURL, sourceURL, revision, architecture, format, paramSize, precision, quantization, createdAt';

const YAML_KIND_KEYS: Record<string, LayerKind> = {
  weights: 'weight',
  config: 'weight.config',
  code: 'code',
  datasets: 'dataset',
  docs: 'doc',
};

export function parseYamlSpec(text: string, source = 'modelship.yaml'): ModelSpec {
  const y = new YamlReader(text, source, YAML_SPEC_HINT);
  if (isScalar(y.root) && y.root.value === null) return { format: 'yaml', source, entries: [], metadata: {} };
  const allowed = [...Object.keys(YAML_KIND_KEYS), ...METADATA_STRING_FIELDS, 'authors', 'licenses', 'license'];
  const top = y.map(y.root, 'the spec', allowed);
  const entries: SpecEntry[] = [];
  const metadata: Partial<ModelMetadataOverrides> = {};
  for (const [key, node] of top) {
    const kind = YAML_KIND_KEYS[key];
    if (kind) {
      const items = y.seq(node, key);
      items.forEach((item, i) => {
        const glob = y.string(item, `${key}[${i}]`);
        const line = y.line(item) ?? '?';
        const pattern = normalizePattern(glob, 'INPUT', `${source}:${line}`);
        entries.push({ kind, pattern, origin: `${source}:${line}`, literal: !/[*?[\]{}!]/.test(pattern) });
      });
      continue;
    }
    if (key === 'authors' || key === 'licenses' || key === 'license') {
      const list = y.stringList(node, key).filter((v) => v.trim() !== '');
      if (key === 'authors') metadata.authors = list;
      else metadata.licenses = licensesToSpdx([...(metadata.licenses ?? []), ...list], undefined, true);
      continue;
    }
    const field = key as keyof ModelMetadataOverrides;
    const fail = (msg: string, hint?: string): never => y.fail(node, hint ? `${msg} (${hint})` : msg);
    (metadata as Record<string, string>)[field] = metadataValue(field, y.string(node, key), fail);
  }
  return { format: 'yaml', source, entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// Locating and loading spec files.

/** Looks for a spec in the model dir: `Modelfile` first (modctl), then the KitOps names. */
export async function findDirSpec(root: string): Promise<string | undefined> {
  for (const name of ['Modelfile', 'modelfile', 'Kitfile', 'kitfile', '.kitfile']) {
    const p = join(root, name);
    try {
      if ((await stat(p)).isFile()) return p;
    } catch {
      // absent: try the next name
    }
  }
  return undefined;
}

export function detectSpecFormat(path: string, text: string): SpecFormat {
  const name = basename(path).toLowerCase();
  if (/^\.?kitfile$/.test(name)) return 'kitfile';
  const ext = extname(name);
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') {
    try {
      const doc = parseDocument(text);
      if (isMap(doc.contents) && doc.contents.has('manifestVersion')) return 'kitfile';
    } catch {
      // the strict parser reports the error with its line
    }
    return 'yaml';
  }
  return 'modelfile';
}

export function parseSpec(format: SpecFormat, text: string, source: string): ModelSpec {
  if (format === 'kitfile') return parseKitfile(text, source);
  if (format === 'yaml') return parseYamlSpec(text, source);
  return parseModelfile(text, source);
}

export async function loadSpecFile(path: string, displayName = path): Promise<ModelSpec & { text: string }> {
  let text: string;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new ModelshipError('INPUT', `spec ${displayName} is not a file`);
    if (st.size > 4 * 1024 * 1024)
      throw new ModelshipError('INPUT', `spec ${displayName} is larger than 4 MiB; is it really a Modelfile/Kitfile?`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelshipError(
      'INPUT',
      code === 'ENOENT'
        ? `spec file ${displayName} does not exist`
        : `cannot read spec ${displayName}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const format = detectSpecFormat(path, text);
  return { ...parseSpec(format, text, displayName), text };
}
