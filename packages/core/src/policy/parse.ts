import type { ValidateFunction } from 'ajv/dist/2020.js';
import { createHash, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ModelshipError } from '../errors.js';
import { IDENTIFIER_FAMILIES, type IdentifierFamily } from '../mediatypes.js';
import { SLSA_PROVENANCE_V1 } from '../attest/provenance.js';
import { MOF_PREDICATE_TYPE } from '../attest/mof/predicate.js';
import { SBOM_PREDICATE_TYPES, type SbomFormat } from '../attest/sbom/index.js';
import { SCAN_PREDICATE_TYPE } from '../scan/predicate.js';
import { formatSpdxTerm } from '../spdx.js';
import { parseTrustedIdentities } from '../notation/dn.js';
import { parsePolicyLicense } from './licenses.js';
import { POLICY_SCHEMA } from './schema.js';
import { compileSchema, parseYamlDocument, yamlPath, type Problems, type Segment } from '../yaml-document.js';
import {
  GITHUB_ACTIONS_ISSUER,
  type GithubSignerSpec,
  type ParsePolicyOptions,
  type Policy,
  type PolicyRequirements,
  type PolicySigner,
} from './types.js';

const HINT = 'fix the policy file; its format is documented in docs/policy.md';

let validator: ValidateFunction | undefined;
function getValidator(): ValidateFunction {
  validator ??= compileSchema(POLICY_SCHEMA);
  return validator;
}

/** `sha256:<hex>` of the policy bytes (strings are hashed as UTF-8). */
export function policyDigest(text: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

const displayPath = (path: readonly Segment[]): string => yamlPath(path, 'the policy');

/** Messages for the policy's own patterns; anything else gets the generic one. */
function patternMessage(path: readonly Segment[], where: string): string | undefined {
  const last = path[path.length - 1];
  if (last === 'repository' && path.includes('modelSource'))
    return `${where} must be hf://ORG/NAME or a repository URL (https://host/ORG/NAME)`;
  if (last === 'commits' || path[path.length - 2] === 'commits')
    return `${where} must be full commit ids (40 or 64 hex digits)`;
  if (last === 'repository') return `${where} must be "owner/name"`;
  if (last === 'sourceRepository') return `${where} must be "owner/name" or "host/owner/name"`;
  if (last === 'workflow') return `${where} must be a workflow path like ".github/workflows/release.yml"`;
  if (last === 'issuer' || last === 'tufMirror') return `${where} must be an http(s) URL`;
  return undefined;
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

const asRecord = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/**
 * The rules beyond the schema: regex validity and anchoring, PEM keys, MOF class, SPDX
 * licences, identifier families, TUF settings beside a pinned root. Written against raw YAML
 * values (each checked for its type first), so they also run on a file the schema refused;
 * `refused(path)` says the schema already reported the value at `path`.
 */
function checkRules(problems: Problems, raw: unknown, refused: (path: readonly Segment[]) => boolean): void {
  const p = asRecord(raw);
  if (!p) return;
  const regex = (path: Segment[], value: unknown, anchored: boolean): boolean =>
    typeof value === 'string' && !refused(path) && checkRegex(problems, path, value, anchored);

  asList(p['signers']).forEach((entry, i) => {
    const s = asRecord(entry);
    const gh = asRecord(s?.['github']);
    if (gh && typeof gh['repository'] === 'string' && typeof gh['workflow'] === 'string') {
      const ref = gh['ref'];
      // A valid ref regex is grouped, so it cannot escape the anchors; checked again anyway.
      if (
        typeof ref === 'string' &&
        REGEX_META.test(ref) &&
        regex(['signers', i, 'github', 'ref'], ref, false) &&
        anchoringProblem(githubIdentityRegex({ repository: gh['repository'], workflow: gh['workflow'], ref }))
      )
        problems.add(
          ['signers', i, 'github', 'ref'],
          `signers[${i}].github.ref "${ref}" would escape the anchors of the identity regex (unbalanced parentheses or top-level "|")`,
        );
    }
    regex(['signers', i, 'keyless', 'identity'], asRecord(s?.['keyless'])?.['identity'], true);
    // Notation's own rules for trustedIdentities (notation-go verifier/trustpolicy).
    const identities = asRecord(s?.['notation'])?.['identities'];
    if (
      Array.isArray(identities) &&
      identities.every((x) => typeof x === 'string') &&
      !refused(['signers', i, 'notation', 'identities'])
    )
      for (const q of parseTrustedIdentities(identities as string[]).problems)
        problems.add(
          ['signers', i, 'notation', 'identities', q.index],
          `signers[${i}].notation.identities[${q.index}]: ${q.message}`,
        );
    const pem = asRecord(s?.['key'])?.['pem'];
    if (typeof pem === 'string' && !refused(['signers', i, 'key', 'pem'])) {
      try {
        createPublicKey(pem);
      } catch (e) {
        problems.add(
          ['signers', i, 'key', 'pem'],
          `signers[${i}].key.pem is not a PEM public key: ${(e as Error).message}`,
        );
      }
    }
  });

  const r = asRecord(p['require']);
  const slsa = asRecord(r?.['slsa']);
  regex(['require', 'slsa', 'builder'], slsa?.['builder'], true);
  regex(['require', 'slsa', 'ref'], slsa?.['ref'], true);
  const c = asRecord(r?.['mof'])?.['minClass'];
  if (Number.isInteger(c) && c !== 1 && c !== 2 && c !== 3 && !refused(['require', 'mof', 'minClass']))
    problems.add(
      ['require', 'mof', 'minClass'],
      `require.mof.minClass must be 1, 2 or 3 (1 = Class I, strictest; 3 = Class III), got ${String(c)}`,
    );
  const licenses = asRecord(r?.['licenses']);
  if (licenses) {
    // Every entry must be an SPDX licence id (or LicenseRef-…), compared normalised and case-insensitively.
    const normalised = (list: 'allow' | 'deny'): (string | undefined)[] =>
      asList(licenses[list]).map((e, i) => {
        if (typeof e !== 'string' || refused(['require', 'licenses', list, i])) return undefined;
        const t = parsePolicyLicense(e);
        if (t.ok) return formatSpdxTerm(t.term).toLowerCase();
        problems.add(['require', 'licenses', list, i], `require.licenses.${list}[${i}] "${e}": ${t.reason}`);
        return undefined;
      });
    const denied = new Set(normalised('deny'));
    const allow = asList(licenses['allow']);
    normalised('allow').forEach((a, i) => {
      if (a !== undefined && denied.has(a))
        problems.add(
          ['require', 'licenses', 'allow', i],
          `licence "${String(allow[i])}" is in both require.licenses.allow and deny`,
        );
    });
  }
  asList(asRecord(r?.['artifact'])?.['identifiers']).forEach((id, i) => {
    if (typeof id === 'string' && !(IDENTIFIER_FAMILIES as readonly string[]).includes(id))
      problems.add(
        ['require', 'artifact', 'identifiers', i],
        `unknown identifier family "${id}" in require.artifact.identifiers (known: ${IDENTIFIER_FAMILIES.join(', ')})`,
      );
  });
  const t = asRecord(p['trust']);
  if (t?.['trustedRoot'] !== undefined)
    // A pinned root never touches the network, so TUF settings beside it would be silently dead.
    for (const k of ['tufMirror', 'tufRoot'] as const)
      if (t[k] !== undefined)
        problems.add(
          ['trust', k],
          `trust.${k} has no effect with trust.trustedRoot (a pinned root is used as is): keep one of them`,
        );
  // The same anchoring rule as signer identities: `^a|b$` would let any name ending in b through.
  asList(asRecord(p['promote'])?.['destinations']).forEach((d, i) => regex(['promote', 'destinations', i], d, true));
}

interface RawPolicy {
  version: 1;
  signers: {
    github?: GithubSignerSpec;
    keyless?: { issuer: string; identity: string };
    key?: { path?: string; pem?: string };
    notation?: { trustStore: string; identities: string[] };
  }[];
  minSignatures?: number;
  require?: {
    predicates?: string[];
    slsa?: {
      builder?: string;
      workflow?: string;
      sourceRepository?: string;
      ref?: string;
      forbidSelfHosted?: boolean;
      modelSource?: { repository: string; commits?: string[] };
    };
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
  const { raw, problems } = parseYamlDocument(text, source, getValidator(), {
    hint: HINT,
    noun: 'policy',
    pattern: patternMessage,
    empty: 'the policy is empty (expected at least "version: 1" and "signers")',
    rules: checkRules,
  });
  const p = raw as RawPolicy;
  const base = options.baseDir;
  const resolvePath = (f: string): string => (base === undefined || isAbsolute(f) ? f : resolve(base, f));

  const signers: PolicySigner[] = p.signers.map((s, i) => {
    const line = problems.line(['signers', i]);
    if (s.github)
      return {
        type: 'keyless',
        issuer: GITHUB_ACTIONS_ISSUER,
        identity: githubIdentityRegex(s.github),
        github: { ...s.github },
        line,
      };
    if (s.keyless) return { type: 'keyless', issuer: s.keyless.issuer, identity: s.keyless.identity, line };
    if (s.notation)
      return {
        type: 'notation',
        trustStore: resolvePath(s.notation.trustStore),
        identities: parseTrustedIdentities(s.notation.identities).identities,
        line,
      };
    if (s.key!.pem !== undefined) return { type: 'key', pem: s.key!.pem, line };
    return { type: 'key', path: resolvePath(s.key!.path!), line };
  });

  const r = p.require ?? {};
  const require: PolicyRequirements = { predicates: [...(r.predicates ?? [])] };
  if (r.slsa) {
    const s = r.slsa;
    require.slsa = { forbidSelfHosted: s.forbidSelfHosted ?? false };
    if (s.builder !== undefined) require.slsa.builder = s.builder;
    if (s.workflow !== undefined) require.slsa.workflow = s.workflow;
    if (s.sourceRepository !== undefined) require.slsa.sourceRepository = s.sourceRepository;
    if (s.ref !== undefined) require.slsa.ref = s.ref;
    if (s.modelSource !== undefined)
      require.slsa.modelSource = {
        repository: s.modelSource.repository,
        ...(s.modelSource.commits ? { commits: [...s.modelSource.commits] } : {}),
      };
    if (!require.predicates.includes(SLSA_PROVENANCE_V1)) require.predicates.push(SLSA_PROVENANCE_V1);
  }
  if (r.mof) {
    require.mof = { minClass: r.mof.minClass as 1 | 2 | 3 };
    if (!require.predicates.includes(MOF_PREDICATE_TYPE)) require.predicates.push(MOF_PREDICATE_TYPE);
  }
  if (r.licenses) require.licenses = { allow: r.licenses.allow ?? [], deny: r.licenses.deny ?? [] };
  if (r.artifact) {
    require.artifact = { identifiers: (r.artifact.identifiers ?? []) as IdentifierFamily[] };
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
  const destinations = p.promote?.destinations;
  if (problems.list.length > 0) problems.fail(source, 'policy', HINT);

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
