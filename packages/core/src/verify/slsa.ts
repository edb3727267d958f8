import { HF_HUB_URL, MODEL_SOURCE_DEPENDENCY } from '../attest/provenance.js';
import type { ModelSourceRequirement, SlsaRequirement } from '../policy/types.js';
import { FULCIO_EXTENSION_OIDS, type FulcioExtensionName, type VerifiedSigner } from './bundles.js';

/** What `require.slsa` constrains, as one side (the provenance predicate or the certificate) states it. */
export interface BuildClaims {
  /** Predicate `runDetails.builder.id`; certificate Build Signer URI. */
  builder?: string;
  /** Predicate `…workflow.repository`; certificate Source Repository URI. */
  sourceRepository?: string;
  /** Predicate `…workflow.ref`; certificate Source Repository Ref. */
  ref?: string;
  /** Predicate `…workflow.path`; certificate Build Config URI, less repository and `@ref`. */
  workflow?: string;
  /** Predicate `internalParameters.github.runner_environment`; certificate Runner Environment. */
  runnerEnvironment?: string;
}

type Field = keyof BuildClaims;

const LABEL: Record<Field, string> = {
  builder: 'builder',
  sourceRepository: 'source repository',
  ref: 'ref',
  workflow: 'workflow',
  runnerEnvironment: 'runner environment',
};

/** The certificate extension each field comes from (docs/policy.md, "Where `require.slsa` values come from"). */
const EXTENSION: Record<Field, FulcioExtensionName> = {
  builder: 'buildSignerURI',
  sourceRepository: 'sourceRepositoryURI',
  ref: 'sourceRepositoryRef',
  workflow: 'buildConfigURI',
  runnerEnvironment: 'runnerEnvironment',
};

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * The build claims of a SLSA v1 provenance predicate in the GitHub Actions workflow build type,
 * as actions/attest-build-provenance and modelship write it. Anything not a string is absent:
 * the predicate is untrusted JSON.
 */
function predicateBuildClaims(predicate: unknown): BuildClaims {
  const p = obj(predicate);
  const bd = obj(p['buildDefinition']);
  const wf = obj(obj(bd['externalParameters'])['workflow']);
  const gh = obj(obj(bd['internalParameters'])['github']);
  const out: BuildClaims = {};
  const set = (k: Field, v: unknown): void => {
    const s = str(v);
    if (s !== undefined) out[k] = s;
  };
  set('builder', obj(obj(p['runDetails'])['builder'])['id']);
  set('sourceRepository', wf['repository']);
  set('ref', wf['ref']);
  set('workflow', wf['path']);
  set('runnerEnvironment', gh['runner_environment']);
  return out;
}

/**
 * The same claims from the Fulcio certificate, which the CI platform's OIDC token (not the job)
 * put there. The workflow path is the Build Config URI
 * (`https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/heads/main`, server URL +
 * the token's `workflow_ref`) without the Source Repository URI and the `@ref`: the top-level
 * workflow, the caller's when a reusable workflow signs. `configRef` is that `@ref`.
 */
export function certificateBuildClaims(
  extensions: VerifiedSigner['extensions'],
): BuildClaims & { configRef?: string; buildConfigURI?: string } {
  const out: BuildClaims & { configRef?: string; buildConfigURI?: string } = {};
  if (extensions.buildSignerURI !== undefined) out.builder = extensions.buildSignerURI;
  if (extensions.sourceRepositoryURI !== undefined) out.sourceRepository = extensions.sourceRepositoryURI;
  if (extensions.sourceRepositoryRef !== undefined) out.ref = extensions.sourceRepositoryRef;
  if (extensions.runnerEnvironment !== undefined) out.runnerEnvironment = extensions.runnerEnvironment;
  const config = extensions.buildConfigURI;
  if (config !== undefined) {
    out.buildConfigURI = config;
    const repo = extensions.sourceRepositoryURI;
    const prefix = repo !== undefined ? `${repo}/` : undefined;
    if (
      prefix &&
      config.length > prefix.length &&
      config.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()
    ) {
      // Split at the first '@', as actions/attest-build-provenance does: a tag may hold '@'.
      const rest = config.slice(prefix.length);
      const at = rest.indexOf('@');
      out.workflow = at < 0 ? rest : rest.slice(0, at);
      if (at >= 0) out.configRef = rest.slice(at + 1);
    }
  }
  return out;
}

/** `https://HOST/OWNER/NAME` exactly (no port, credentials, query, `.`/`..` segments or encoding), lower-cased. */
function repositoryKey(uri: string): string | undefined {
  const m = /^https:\/\/([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(uri);
  if (!m || [m[2], m[3]].some((s) => s === '.' || s === '..')) return undefined;
  return `${m[1]}/${m[2]}/${m[3]}`.toLowerCase();
}

/**
 * Whether a repository URL is the policy's `sourceRepository`: `owner/name` (on github.com) or
 * `host/owner/name`, compared exactly but case-insensitively, as GitHub treats names. A suffix
 * match would accept `https://github.com/evil/acme/models` or another host.
 */
export function repositoryMatches(uri: string, expected: string): boolean {
  const key = repositoryKey(uri);
  const parts = expected.split('/');
  const want = (parts.length === 2 ? ['github.com', ...parts] : parts).join('/').toLowerCase();
  return key !== undefined && key === want;
}

export interface SlsaEvaluation {
  /** Empty when this provenance meets every constraint. */
  problems: string[];
  /** Where the constrained values came from. */
  source: 'certificate' | 'predicate';
}

/**
 * Checks one trusted provenance against `require.slsa`. For a keyless signer the values come
 * from the certificate (what the platform signed, not what the job wrote), and every value the
 * predicate states must agree with it. A key has no platform claim: the predicate is checked.
 */
export function evaluateSlsa(req: SlsaRequirement, predicate: unknown, signer: VerifiedSigner): SlsaEvaluation {
  const claimed = predicateBuildClaims(predicate);
  // The model source is what the job read: no certificate extension says it, so it is checked
  // as the trusted signer wrote it, whatever the signer kind.
  const problems: string[] = req.modelSource ? modelSourceProblems(req.modelSource, predicate) : [];
  if (signer.kind !== 'keyless') {
    checkConstraints(req, claimed, (f) => `the provenance names no ${LABEL[f]}`, '', problems);
    return { problems, source: 'predicate' };
  }
  const cert = certificateBuildClaims(signer.extensions);
  for (const f of Object.keys(LABEL) as Field[]) {
    const p = claimed[f];
    const c = cert[f];
    if (p === undefined || c === undefined) continue;
    const agrees =
      f === 'sourceRepository'
        ? repositoryKey(p) !== undefined && repositoryKey(p) === repositoryKey(c)
        : f === 'ref'
          ? p === c || p === cert.configRef
          : p === c;
    if (!agrees) problems.push(`provenance says ${LABEL[f]} ${p}, its certificate ${c}`);
  }
  const missing = (f: Field): string =>
    f === 'workflow' && cert.buildConfigURI !== undefined
      ? `certificate build config URI ${cert.buildConfigURI} is not a workflow of source repository ${cert.sourceRepository ?? '(none)'}`
      : `the certificate has no ${LABEL[f]} (${FULCIO_EXTENSION_OIDS[EXTENSION[f]]})`;
  checkConstraints(req, cert, missing, ' (certificate)', problems);
  return { problems, source: 'certificate' };
}

function checkConstraints(
  req: SlsaRequirement,
  values: BuildClaims,
  missing: (f: Field) => string,
  from: string,
  problems: string[],
): void {
  const check = (f: Field, ok: (v: string) => boolean, want: string): void => {
    const v = values[f];
    if (v === undefined) problems.push(missing(f));
    else if (!ok(v)) problems.push(`${LABEL[f]} ${v}${from} ${want}`);
  };
  if (req.builder !== undefined) {
    const re = new RegExp(req.builder, 'u');
    check('builder', (v) => re.test(v), `does not match ${req.builder}`);
  }
  if (req.sourceRepository !== undefined) {
    const want = req.sourceRepository;
    check('sourceRepository', (v) => repositoryMatches(v, want), `is not ${want}`);
  }
  if (req.ref !== undefined) {
    const re = new RegExp(req.ref, 'u');
    check('ref', (v) => re.test(v), `does not match ${req.ref}`);
  }
  if (req.workflow !== undefined) {
    const want = req.workflow;
    check('workflow', (v) => v === want, `is not ${want}`);
  }
  if (req.forbidSelfHosted) check('runnerEnvironment', (v) => v === 'github-hosted', 'is not github-hosted');
}

/** The `model-source` resolved dependency of a provenance (attest/provenance.ts writes it). */
export function predicateModelSource(
  predicate: unknown,
): { url: string; revision?: string; commit?: string } | undefined {
  const deps = obj(obj(predicate)['buildDefinition'])['resolvedDependencies'];
  const dep = (Array.isArray(deps) ? deps : []).map(obj).find((d) => d['name'] === MODEL_SOURCE_DEPENDENCY);
  const uri = str(dep?.['uri']);
  if (!dep || uri === undefined) return undefined;
  const bare = uri.replace(/^git\+/, '');
  // `…/NAME@REVISION`: the revision follows the last '@' after the host.
  const at = bare.lastIndexOf('@');
  const slash = bare.indexOf('/', bare.indexOf('//') + 2);
  const url = at > slash && slash > 0 ? bare.slice(0, at) : bare;
  const revision = at > slash && slash > 0 ? bare.slice(at + 1) : undefined;
  const commit = str(obj(dep['digest'])['gitCommit']);
  return { url, ...(revision !== undefined ? { revision } : {}), ...(commit !== undefined ? { commit } : {}) };
}

/** `hf://ORG/NAME` as its huggingface.co URL; no `.git`, no trailing slash, lower-cased. */
function sourceKey(repository: string): string {
  const url = repository.replace(/^hf:\/\//, `${HF_HUB_URL}/`);
  return url
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .toLowerCase();
}

function modelSourceProblems(req: ModelSourceRequirement, predicate: unknown): string[] {
  const src = predicateModelSource(predicate);
  if (!src) return [`the provenance names no model source (resolved dependency "${MODEL_SOURCE_DEPENDENCY}")`];
  if (sourceKey(src.url) !== sourceKey(req.repository)) return [`model source ${src.url} is not ${req.repository}`];
  if (src.commit === undefined || src.revision?.toLowerCase() !== src.commit)
    return [`model source ${src.url} is not pinned to a commit (revision ${src.revision ?? 'none'})`];
  if (req.commits && !req.commits.includes(src.commit))
    return [`model source commit ${src.commit} is not one the policy allows (${req.commits.join(', ')})`];
  return [];
}
