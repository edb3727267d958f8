import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { ModelshipError } from '../../errors.js';
import { toSpdx } from '../../modelpack/license.js';
import { isMofComponentName, MOF_COMPONENT_NAMES, type MofComponentName } from './components.js';
import { checkSpdxExpression, UNLICENSED } from './licenses.js';

/**
 * The MOT model file (its JSON schema; docs/predicates.md, "Sources") with MOT's field names,
 * so a file from lfai/model_openness_tool `models/` or MOT's "Download YAML" can be passed
 * as is. Licences are stored normalised: SPDX expressions or the literal `unlicensed`.
 */
export type MotLicenseScope = 'distribution' | 'code' | 'data' | 'document';
const MOT_LICENSE_SCOPES: readonly MotLicenseScope[] = ['distribution', 'code', 'data', 'document'];

export interface MotGlobalLicense {
  name: string;
  path?: string;
}

export interface MotComponent {
  name: MofComponentName;
  description?: string;
  /** SPDX expression or `unlicensed`; absent = inherit (type global, then distribution). */
  license?: string;
  license_path?: string;
  component_path?: string;
}

export interface MotRelease {
  name?: string;
  version?: string;
  date?: string;
  type?: string;
  architecture?: string;
  treatment?: string;
  origin?: string;
  producer?: string;
  contact?: string;
  repository?: string;
  huggingface?: string;
  license?: Partial<Record<MotLicenseScope, MotGlobalLicense>>;
  components?: MotComponent[];
}

export interface MotFramework {
  name: string;
  version: string;
  date: string;
}

export interface MotModelFile {
  framework?: MotFramework;
  release: MotRelease;
}

const RELEASE_STRINGS = [
  'name',
  'version',
  'date',
  'type',
  'architecture',
  'treatment',
  'origin',
  'producer',
  'contact',
  'repository',
  'huggingface',
] as const;

/** Legacy (2024-10..2025-04) sentinels: the component is absent / has no licence. */
const LEGACY_ABSENT = new Set(['Component not included']);
const LEGACY_NO_LICENSE = new Set(['License not specified', 'Pending evaluation']);

class Reader {
  readonly lines = new LineCounter();
  constructor(readonly source: string) {}

  line(node: Node | null | undefined): number {
    const offset = node?.range?.[0];
    return offset === undefined ? 1 : this.lines.linePos(offset).line;
  }

  fail(node: Node | null | undefined, message: string, hint: string): never {
    throw new ModelshipError('INPUT', `${this.source}:${this.line(node)}: ${message}`, { hint });
  }

  /** A scalar as trimmed text; numbers (version: 1.0) are accepted as their text. */
  text(map: YAMLMap, key: string, where: string): string | undefined {
    const node = map.get(key, true) as Node | undefined;
    if (node === undefined || node === null) return undefined;
    if (!isScalar(node)) return this.fail(node, `${where}.${key} must be a string`, 'write a plain string value');
    if (node.value === null || node.value === undefined) return undefined;
    if (typeof node.value === 'object') return this.fail(node, `${where}.${key} must be a string`, 'quote the value');
    const s = String(node.value as string | number | boolean).trim();
    return s === '' ? undefined : s;
  }
}

/**
 * Normalises one licence value. Hugging Face ids (`apache-2.0`, `llama3.1`) are mapped with
 * toSpdx; anything else must already be a valid SPDX expression (`LicenseRef-…` allowed).
 * Free text like MOT's `Llama 3.1 Community License Agreement` is refused rather than
 * guessed, with the LicenseRef spelling as the fix.
 */
function normaliseLicense(r: Reader, node: Node, raw: string, where: string): string {
  if (raw === UNLICENSED || LEGACY_NO_LICENSE.has(raw)) return UNLICENSED;
  let candidate = raw;
  if (/^[a-z0-9][a-z0-9.+_-]*$/.test(raw)) {
    const mapped = toSpdx(raw);
    if (mapped === undefined)
      r.fail(
        node,
        `${where} "${raw}" names no licence`,
        `write "${UNLICENSED}" or a LicenseRef-<name> for a custom licence`,
      );
    candidate = mapped;
  }
  try {
    checkSpdxExpression(candidate);
  } catch (e) {
    const ref = `LicenseRef-${raw.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '')}`;
    r.fail(
      node,
      `${where} "${raw}" is not a valid SPDX license expression (${(e as Error).message})`,
      `use an SPDX id such as Apache-2.0, "${ref}" for a licence without an SPDX id, or "${UNLICENSED}"`,
    );
  }
  return candidate;
}

function parseGlobals(r: Reader, node: Node | null | undefined): MotRelease['license'] {
  // MOT's API serialises "no global licences" as an empty list.
  if (node === undefined || node === null || (isScalar(node) && node.value === null)) return undefined;
  if (isSeq(node) && node.items.length === 0) return undefined;
  if (!isMap(node))
    return r.fail(
      node,
      'release.license must be a mapping of distribution/code/data/document',
      'see MOT schema/sample_model.yml',
    );
  const out: Partial<Record<MotLicenseScope, MotGlobalLicense>> = {};
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!(MOT_LICENSE_SCOPES as readonly string[]).includes(key))
      r.fail(
        pair.key as Node,
        `release.license.${key} is not a licence scope`,
        `use one of ${MOT_LICENSE_SCOPES.join(', ')}`,
      );
    const value = pair.value as Node | null;
    if (value === null || (isScalar(value) && value.value === null)) continue;
    if (!isMap(value))
      r.fail(value, `release.license.${key} must be {name, path}`, 'write name: <SPDX id> and optionally path: <URL>');
    const name = r.text(value, 'name', `release.license.${key}`);
    if (name === undefined) continue;
    const entry: MotGlobalLicense = {
      name: normaliseLicense(r, value.get('name', true) as Node, name, `release.license.${key}.name`),
    };
    const path = r.text(value, 'path', `release.license.${key}`);
    if (path !== undefined) entry.path = path;
    out[key as MotLicenseScope] = entry;
  }
  return out;
}

function parseComponent(r: Reader, node: Node, i: number): MotComponent | undefined {
  const where = `release.components[${i}]`;
  if (!isMap(node)) return r.fail(node, `${where} must be a mapping with a name`, 'write - name: <MOF component name>');
  const name = r.text(node, 'name', where);
  if (name === undefined) return r.fail(node, `${where} has no name`, `name one of: ${MOF_COMPONENT_NAMES.join(', ')}`);
  if (!isMofComponentName(name))
    r.fail(
      node.get('name', true) as Node,
      `unknown MOF component "${name}"`,
      `component names must match MOT exactly; valid names: ${MOF_COMPONENT_NAMES.join(', ')}`,
    );
  const location = r.text(node, 'location', where);
  const legacyLicense = r.text(node, 'license_name', where);
  if ((location && LEGACY_ABSENT.has(location)) || (legacyLicense && LEGACY_ABSENT.has(legacyLicense)))
    return undefined;
  const c: MotComponent = { name };
  const description = r.text(node, 'description', where);
  if (description !== undefined) c.description = description;
  const licenseNode = node.has('license') ? node.get('license', true) : node.get('license_name', true);
  const license = node.has('license') ? r.text(node, 'license', where) : legacyLicense;
  // MOT: `license:` present but empty means included without a licence.
  if (node.has('license') && license === undefined) c.license = UNLICENSED;
  else if (license !== undefined) c.license = normaliseLicense(r, licenseNode as Node, license, `${where}.license`);
  const licensePath = r.text(node, 'license_path', where);
  if (licensePath !== undefined) c.license_path = licensePath;
  const componentPath = r.text(node, 'component_path', where) ?? location;
  if (componentPath !== undefined) c.component_path = componentPath;
  return c;
}

/**
 * Parses an MOT model file (or just its `release:` part) used as overrides. Throws INPUT
 * with `source:line` for YAML errors, unknown component names and invalid licences.
 */
export function parseMofOverrides(text: string, source: string): MotModelFile {
  const r: Reader = new Reader(source);
  const doc = parseDocument(text, { lineCounter: r.lines, prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0]?.line ?? 1;
    throw new ModelshipError('INPUT', `${source}:${line}: not valid YAML: ${err.message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax (MOT model file format: framework + release)',
    });
  }
  const root = doc.contents as Node | null;
  if (!isMap(root))
    return r.fail(root, 'expected a mapping with `release:`', 'pass an MOT model file (framework + release)');
  const out: MotModelFile = { release: {} };
  const fw = root.get('framework', true) as Node | undefined;
  if (fw !== undefined && fw !== null) {
    if (!isMap(fw)) r.fail(fw, 'framework must be a mapping', 'write framework: {name, version, date}');
    const name = r.text(fw, 'name', 'framework');
    if (name !== undefined && name !== 'Model Openness Framework')
      r.fail(
        fw.get('name', true) as Node,
        `framework.name "${name}" is not "Model Openness Framework"`,
        'use the MOT framework block',
      );
    out.framework = {
      name: name ?? 'Model Openness Framework',
      version: r.text(fw, 'version', 'framework') ?? '1.0',
      date: r.text(fw, 'date', 'framework') ?? '2024-12-15',
    };
  }
  const rel = root.get('release', true) as Node | undefined;
  if (rel === undefined || rel === null)
    return r.fail(root, 'no `release:` block', 'MOT model files put everything under release:');
  if (!isMap(rel)) return r.fail(rel, 'release must be a mapping', 'see MOT schema/sample_model.yml');
  for (const k of RELEASE_STRINGS) {
    const v = r.text(rel, k, 'release');
    if (v !== undefined) out.release[k] = v;
  }
  const globals = parseGlobals(r, rel.get('license', true) as Node | undefined);
  if (globals !== undefined) out.release.license = globals;
  const comps = rel.get('components', true) as Node | undefined;
  if (comps !== undefined && comps !== null) {
    if (!isSeq(comps))
      r.fail(comps, 'release.components must be a list', 'write each component as - name: <MOF component name>');
    const list: MotComponent[] = [];
    const seen = new Map<string, number>();
    comps.items.forEach((item, i) => {
      const c = parseComponent(r, item as Node, i);
      if (!c) return;
      if (seen.has(c.name))
        r.fail(
          item as Node,
          `component "${c.name}" is listed twice (first at line ${seen.get(c.name)})`,
          'merge the two entries',
        );
      seen.set(c.name, r.line(item as Node));
      list.push(c);
    });
    out.release.components = list;
  }
  return out;
}
