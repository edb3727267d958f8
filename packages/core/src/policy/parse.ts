import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ModelshipError } from '../errors.js';
import { IDENTIFIER_FAMILIES, type IdentifierFamily } from '../mediatypes.js';
import { SLSA_PROVENANCE_V1 } from '../attest/provenance.js';
import { MOF_PREDICATE_TYPE } from '../attest/mof/predicate.js';
import { SBOM_PREDICATE_TYPES, type SbomFormat } from '../attest/sbom/index.js';
import { SCAN_PREDICATE_TYPE } from '../scan/predicate.js';
import { formatSpdxTerm } from '../spdx.js';
import { parsePolicyLicense } from './licenses.js';
import { POLICY_SCHEMA } from './schema.js';
import {
  GITHUB_ACTIONS_ISSUER,
  type GithubSignerSpec,
  type ParsePolicyOptions,
  type Policy,
  type PolicyRequirements,
  type PolicySigner,
} from './types.js';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
// ajv-formats is CommonJS: depending on the loader the function is the default export or its `.default`.
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

const HINT = 'fix the policy file; its format is documented in docs/policy.md';

let validator: ValidateFunction | undefined;
function getValidator(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true });
    addFormats(ajv);
    validator = ajv.compile(POLICY_SCHEMA);
  }
  return validator;
}

/** `sha256:<hex>` of the policy bytes (strings are hashed as UTF-8). */
export function policyDigest(text: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

type Segment = string | number;

function pathOf(instancePath: string): Segment[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function displayPath(path: readonly Segment[]): string {
  if (path.length === 0) return 'the policy';
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Collects problems with line numbers against one parsed document. */
class Problems {
  readonly list: { line: number; message: string }[] = [];

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  node(path: readonly Segment[]): Node | undefined {
    if (path.length === 0) return (this.doc.contents as Node | null) ?? undefined;
    const n = this.doc.getIn(path, true) as Node | undefined;
    return n ?? undefined;
  }

  /** Line of the node at `path`, or of the key named `key` inside the mapping at `path`; nearest ancestor otherwise. */
  line(path: readonly Segment[], key?: string): number {
    if (key !== undefined) {
      const map = this.node(path);
      if (isMap(map)) {
        const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
        const k = pair?.key as Node | undefined;
        if (k?.range) return this.lines.linePos(k.range[0]).line;
      }
    }
    for (let n = path.length; n >= 0; n--) {
      const node = this.node(path.slice(0, n));
      if (node?.range) return this.lines.linePos(node.range[0]).line;
    }
    return 1;
  }

  add(path: readonly Segment[], message: string, key?: string): void {
    this.list.push({ line: this.line(path, key), message });
  }
}

function describeAjv(e: ErrorObject): { path: Segment[]; key?: string; message: string } {
  const path = pathOf(e.instancePath);
  const where = displayPath(path);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p['additionalProperty']);
      const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
      const allowed = props ? ` (allowed: ${Object.keys(props).join(', ')})` : '';
      return { path, key, message: `unknown key "${key}" in ${where}${allowed}` };
    }
    case 'required':
      return { path, message: `${where}: missing required key "${String(p['missingProperty'])}"` };
    case 'const':
      return { path, message: `${where} must be ${JSON.stringify(p['allowedValue'])}` };
    case 'minProperties':
    case 'maxProperties': {
      const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
      const names = props ? Object.keys(props).join(', ') : '';
      return { path, message: `${where} must have exactly one of: ${names}` };
    }
    case 'pattern':
      if (path[path.length - 1] === 'repository') return { path, message: `${where} must be "owner/name"` };
      if (path[path.length - 1] === 'sourceRepository')
        return { path, message: `${where} must be "owner/name" or "host/owner/name"` };
      if (path[path.length - 1] === 'workflow')
        return { path, message: `${where} must be a workflow path like ".github/workflows/release.yml"` };
      if (path[path.length - 1] === 'issuer' || path[path.length - 1] === 'tufMirror')
        return { path, message: `${where} must be an http(s) URL` };
      return { path, message: `${where} has an invalid value (must match ${String(p['pattern'])})` };
    case 'format':
      return { path, message: `${where} must be a ${String(p['format'])}` };
    case 'enum':
      return {
        path,
        message: `${where} must be one of: ${(p['allowedValues'] as unknown[]).map(String).join(', ')}`,
      };
    default:
      return { path, message: `${where} ${e.message ?? e.keyword}` };
  }
}

/** True when a regex source sits between ^ and $ and has no top-level alternation (`^a|b$` matches "xb"). */
function anchoringProblem(src: string): string | undefined {
  if (!src.startsWith('^')) return 'must start with ^';
  let escaped = 0;
  for (let i = src.length - 2; i >= 0 && src[i] === '\\'; i--) escaped++;
  if (!src.endsWith('$') || escaped % 2 === 1) return 'must end with $';
  let depth = 0;
  let inClass = false;
  for (let i = 1; i < src.length - 1; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return 'has a top-level "|", which escapes the anchors; wrap it: ^(?:a|b)$';
  }
  return undefined;
}

function checkRegex(problems: Problems, path: readonly Segment[], src: string, anchored: boolean): boolean {
  const where = displayPath(path);
  try {
    new RegExp(src, 'u');
  } catch (e) {
    problems.add(path, `${where} is not a valid regular expression: ${(e as Error).message}`);
    return false;
  }
  if (anchored) {
    const why = anchoringProblem(src);
    if (why) {
      problems.add(path, `${where} must be an anchored regex (^...$): "${src}" ${why}`);
      return false;
    }
  }
  return true;
}

const REGEX_META = /[\\^$*+?()[\]{}|]/;

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/**
 * The anchored SAN regex for a GitHub workflow identity:
 * `^https://github\.com/<repository>/<workflow>@<ref>$`. A ref containing any of
 * `\ ^ $ * + ? ( ) [ ] { } |` is a regex (its own leading ^ / trailing $ are dropped and it is
 * grouped); otherwise it is literal, dots included.
 */
export function githubIdentityRegex(spec: GithubSignerSpec): string {
  let ref: string;
  if (REGEX_META.test(spec.ref)) {
    let r = spec.ref;
    if (r.startsWith('^')) r = r.slice(1);
    if (r.endsWith('$') && !r.endsWith('\\$')) r = r.slice(0, -1);
    ref = `(?:${r})`;
  } else ref = escapeRegex(spec.ref);
  return `^${escapeRegex(`https://github.com/${spec.repository}/${spec.workflow}@`)}${ref}$`;
}

function fail(source: string, problems: Problems): never {
  const sorted = [...problems.list].sort((a, b) => a.line - b.line);
  const lines = [...new Set(sorted.map((p) => `${source}:${p.line}: ${p.message}`))];
  const message =
    lines.length === 1 ? lines[0]! : `invalid policy (${lines.length} problems):\n  ${lines.join('\n  ')}`;
  throw new ModelshipError('INPUT', message, { hint: HINT });
}

interface RawPolicy {
  version: 1;
  signers: {
    github?: GithubSignerSpec;
    keyless?: { issuer: string; identity: string };
    key?: { path?: string; pem?: string };
  }[];
  minSignatures?: number;
  require?: {
    predicates?: string[];
    slsa?: { builder?: string; workflow?: string; sourceRepository?: string; ref?: string; forbidSelfHosted?: boolean };
    mof?: { minClass: number };
    licenses?: { allow?: string[]; deny?: string[] };
    artifact?: { identifiers?: string[]; maxLayerBytes?: number };
    scan?: { deny?: ('unsafe' | 'unknown-format')[]; allowUnknownFormats?: boolean };
    sbom?: SbomFormat[];
  };
  trust?: { trustedRoot?: string; tufMirror?: string; tufRoot?: string; requireTlog?: boolean };
  promote?: { destinations?: string[] };
}

/**
 * Parses and validates a policy file (version 1), fills defaults and expands the `github`
 * signer shorthand. Every problem is a ModelshipError INPUT naming `source:line`.
 */
export function parsePolicy(text: string, source: string, options: ParsePolicyOptions = {}): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = lines.linePos(err.pos[0]).line;
    throw new ModelshipError('INPUT', `${source}:${line}: invalid YAML: ${err.message.split('\n')[0]}`, { hint: HINT });
  }
  const problems = new Problems(doc, lines);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Unresolved aliases and alias bombs only surface when the document is materialised.
    throw new ModelshipError('INPUT', `${source}: invalid YAML: ${(e as Error).message}`, { hint: HINT });
  }
  if (raw === null || raw === undefined) {
    problems.add([], 'the policy is empty (expected at least "version: 1" and "signers")');
    fail(source, problems);
  }
  const validate = getValidator();
  if (!validate(raw)) {
    for (const e of validate.errors ?? []) {
      const d = describeAjv(e);
      problems.add(d.path, d.message, d.key);
    }
    fail(source, problems);
  }
  const p = raw as RawPolicy;
  const base = options.baseDir;
  const resolvePath = (f: string): string => (base === undefined || isAbsolute(f) ? f : resolve(base, f));

  const signers: PolicySigner[] = [];
  p.signers.forEach((s, i) => {
    const line = problems.line(['signers', i]);
    if (s.github) {
      const identity = githubIdentityRegex(s.github);
      const isRegex = REGEX_META.test(s.github.ref);
      // A valid ref regex is grouped, so it cannot escape the anchors; checked again anyway.
      if (
        isRegex &&
        checkRegex(problems, ['signers', i, 'github', 'ref'], s.github.ref, false) &&
        anchoringProblem(identity)
      )
        problems.add(
          ['signers', i, 'github', 'ref'],
          `signers[${i}].github.ref "${s.github.ref}" would escape the anchors of the identity regex (unbalanced parentheses or top-level "|")`,
        );
      signers.push({ type: 'keyless', issuer: GITHUB_ACTIONS_ISSUER, identity, github: { ...s.github }, line });
    } else if (s.keyless) {
      checkRegex(problems, ['signers', i, 'keyless', 'identity'], s.keyless.identity, true);
      signers.push({ type: 'keyless', issuer: s.keyless.issuer, identity: s.keyless.identity, line });
    } else if (s.key) {
      if (s.key.pem !== undefined) {
        try {
          createPublicKey(s.key.pem);
        } catch (e) {
          problems.add(
            ['signers', i, 'key', 'pem'],
            `signers[${i}].key.pem is not a PEM public key: ${(e as Error).message}`,
          );
        }
        signers.push({ type: 'key', pem: s.key.pem, line });
      } else signers.push({ type: 'key', path: resolvePath(s.key.path!), line });
    }
  });

  const r = p.require ?? {};
  const require: PolicyRequirements = { predicates: [...(r.predicates ?? [])] };
  if (r.slsa) {
    const s = r.slsa;
    if (s.builder !== undefined) checkRegex(problems, ['require', 'slsa', 'builder'], s.builder, true);
    if (s.ref !== undefined) checkRegex(problems, ['require', 'slsa', 'ref'], s.ref, true);
    require.slsa = { forbidSelfHosted: s.forbidSelfHosted ?? false };
    if (s.builder !== undefined) require.slsa.builder = s.builder;
    if (s.workflow !== undefined) require.slsa.workflow = s.workflow;
    if (s.sourceRepository !== undefined) require.slsa.sourceRepository = s.sourceRepository;
    if (s.ref !== undefined) require.slsa.ref = s.ref;
    if (!require.predicates.includes(SLSA_PROVENANCE_V1)) require.predicates.push(SLSA_PROVENANCE_V1);
  }
  if (r.mof) {
    const c = r.mof.minClass;
    if (c !== 1 && c !== 2 && c !== 3)
      problems.add(
        ['require', 'mof', 'minClass'],
        `require.mof.minClass must be 1, 2 or 3 (1 = Class I, strictest; 3 = Class III), got ${c}`,
      );
    else require.mof = { minClass: c };
    if (!require.predicates.includes(MOF_PREDICATE_TYPE)) require.predicates.push(MOF_PREDICATE_TYPE);
  }
  if (r.licenses) {
    const allow = r.licenses.allow ?? [];
    const deny = r.licenses.deny ?? [];
    // Every entry must be an SPDX licence id (or LicenseRef-…), compared normalised and case-insensitively.
    const normalised = (list: 'allow' | 'deny', entries: string[]): (string | undefined)[] =>
      entries.map((e, i) => {
        const t = parsePolicyLicense(e);
        if (t.ok) return formatSpdxTerm(t.term).toLowerCase();
        problems.add(['require', 'licenses', list, i], `require.licenses.${list}[${i}] "${e}": ${t.reason}`);
        return undefined;
      });
    const denied = new Set(normalised('deny', deny));
    normalised('allow', allow).forEach((a, i) => {
      if (a !== undefined && denied.has(a))
        problems.add(
          ['require', 'licenses', 'allow', i],
          `licence "${allow[i]}" is in both require.licenses.allow and deny`,
        );
    });
    require.licenses = { allow, deny };
  }
  if (r.artifact) {
    const ids = r.artifact.identifiers ?? [];
    ids.forEach((id, i) => {
      if (!(IDENTIFIER_FAMILIES as readonly string[]).includes(id))
        problems.add(
          ['require', 'artifact', 'identifiers', i],
          `unknown identifier family "${id}" in require.artifact.identifiers (known: ${IDENTIFIER_FAMILIES.join(', ')})`,
        );
    });
    require.artifact = { identifiers: ids as IdentifierFamily[] };
    if (r.artifact.maxLayerBytes !== undefined) require.artifact.maxLayerBytes = r.artifact.maxLayerBytes;
  }
  if (r.scan) {
    const deny = r.scan.deny ?? ['unsafe'];
    const allowUnknownFormats = r.scan.allowUnknownFormats ?? false;
    if (allowUnknownFormats && deny.includes('unknown-format'))
      problems.add(
        ['require', 'scan', 'allowUnknownFormats'],
        'require.scan.allowUnknownFormats: true contradicts "unknown-format" in require.scan.deny: keep one',
      );
    require.scan = { deny: [...deny], allowUnknownFormats };
    if (!require.predicates.includes(SCAN_PREDICATE_TYPE)) require.predicates.push(SCAN_PREDICATE_TYPE);
  }
  if (r.sbom) {
    require.sbom = [...r.sbom];
    for (const f of r.sbom)
      if (!require.predicates.includes(SBOM_PREDICATE_TYPES[f])) require.predicates.push(SBOM_PREDICATE_TYPES[f]);
  }
  const t = p.trust ?? {};
  if (t.trustedRoot !== undefined)
    // A pinned root never touches the network, so TUF settings beside it would be silently dead.
    for (const k of ['tufMirror', 'tufRoot'] as const)
      if (t[k] !== undefined)
        problems.add(
          ['trust', k],
          `trust.${k} has no effect with trust.trustedRoot (a pinned root is used as is): keep one of them`,
        );
  const destinations = p.promote?.destinations;
  // The same anchoring rule as signer identities: `^a|b$` would let any name ending in b through.
  destinations?.forEach((d, i) => checkRegex(problems, ['promote', 'destinations', i], d, true));
  if (problems.list.length > 0) fail(source, problems);

  const trust: Policy['trust'] = {};
  if (t.trustedRoot !== undefined) trust.trustedRoot = resolvePath(t.trustedRoot);
  if (t.tufMirror !== undefined) trust.tufMirror = t.tufMirror.replace(/\/+$/, '');
  if (t.tufRoot !== undefined) trust.tufRoot = resolvePath(t.tufRoot);
  if (t.requireTlog !== undefined) trust.requireTlog = t.requireTlog;
  return {
    version: 1,
    source,
    digest: policyDigest(text),
    signers,
    minSignatures: p.minSignatures ?? 1,
    require,
    trust,
    promote: destinations ? { destinations: [...destinations] } : {},
  };
}

/**
 * Reads and parses a policy file. Relative `key.path` / `trust.trustedRoot` / `trust.tufRoot` are resolved
 * against the policy file's directory; `digest` is over the file's bytes.
 */
export async function loadPolicy(path: string): Promise<Policy> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read policy ${path}: ${(e as Error).message}`, {
      cause: e,
      hint: 'pass the path of a policy YAML file (docs/policy.md)',
    });
  }
  const policy = parsePolicy(bytes.toString('utf8'), path, { baseDir: dirname(resolve(path)) });
  return { ...policy, digest: policyDigest(bytes) };
}
