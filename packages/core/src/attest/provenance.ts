import { stripUrlCredentials } from '../modelpack/git.js';
import type { ArtifactFacts } from './facts.js';
import { actionsIssuer, assertGitHubClaims, verifiedActionsClaims, type GitHubClaims } from './github-oidc.js';

export { DEFAULT_ACTIONS_ISSUER, REQUIRED_GITHUB_CLAIMS, type GitHubClaims } from './github-oidc.js';

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const GITHUB_WORKFLOW_BUILD_TYPE = 'https://actions.github.io/buildtypes/workflow/v1';
export const LOCAL_BUILD_TYPE = 'https://modelship.dev/buildtypes/local/v1';
const LOCAL_BUILDER_ID = 'https://modelship.dev/local';
/** `name` of the resolved dependency that records where the model itself came from. */
export const MODEL_SOURCE_DEPENDENCY = 'model-source';
/** The Hugging Face Hub, which `hf://ORG/NAME` names (modelship import, policies). */
export const HF_HUB_URL = 'https://huggingface.co';

export interface ProvenanceOptions {
  env?: NodeJS.ProcessEnv;
  /** Default: https://token.actions.githubusercontent.com (a GHE.com tenant's own issuer there). */
  issuer?: string;
  /** Override for tests; default from the issuer's /.well-known/openid-configuration. */
  jwksURL?: string;
  /** Pre-verified claims, for tests of the pure builder: no OIDC request is made. */
  claims?: Record<string, unknown>;
  now?: () => Date;
  /** modelship's version, recorded as the local builder's version. */
  version?: string;
}

/**
 * SLSA provenance v1 for `facts`. In GitHub Actions the fields come from a verified OIDC
 * token, exactly as actions/attest-build-provenance fills them, so `gh attestation verify
 * --signer-workflow` reads ours like theirs; elsewhere a local build type that claims nothing
 * about the machine.
 */
export async function buildProvenancePredicate(
  facts: ArtifactFacts,
  options: ProvenanceOptions = {},
): Promise<{ predicate: Record<string, unknown>; buildType: string }> {
  const env = options.env ?? process.env;
  const serverURL = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
  if (options.claims)
    return {
      predicate: provenanceFromClaims(assertGitHubClaims(options.claims), serverURL, facts),
      buildType: GITHUB_WORKFLOW_BUILD_TYPE,
    };
  if (env.GITHUB_ACTIONS === 'true') {
    const claims = await verifiedActionsClaims({
      env,
      issuer: options.issuer ?? actionsIssuer(env),
      jwksURL: options.jwksURL,
      now: options.now,
    });
    return { predicate: provenanceFromClaims(claims, serverURL, facts), buildType: GITHUB_WORKFLOW_BUILD_TYPE };
  }
  return { predicate: localProvenance(facts, options), buildType: LOCAL_BUILD_TYPE };
}

/** The field table of docs/predicates.md, "In GitHub Actions", plus the model source as a second dependency when known. */
export function provenanceFromClaims(
  claims: GitHubClaims,
  serverURL: string,
  facts: ArtifactFacts,
): Record<string, unknown> {
  const server = serverURL.replace(/\/+$/, '');
  // owner/repo/.github/workflows/x.yml@refs/heads/main -> .github/workflows/x.yml
  const [workflowPath] = claims.workflow_ref.replace(`${claims.repository}/`, '').split('@');
  const source = modelSourceDependency(facts);
  const files = source ? modelFileDependencies(facts, source) : [];
  return {
    buildDefinition: {
      buildType: GITHUB_WORKFLOW_BUILD_TYPE,
      externalParameters: {
        workflow: {
          ref: claims.ref,
          repository: `${server}/${claims.repository}`,
          path: workflowPath,
        },
      },
      internalParameters: {
        github: {
          event_name: claims.event_name,
          repository_id: claims.repository_id,
          repository_owner_id: claims.repository_owner_id,
          runner_environment: claims.runner_environment,
        },
      },
      resolvedDependencies: [
        { uri: `git+${server}/${claims.repository}@${claims.ref}`, digest: { gitCommit: claims.sha } },
        ...(source ? [source] : []),
        ...files,
      ],
    },
    runDetails: {
      builder: { id: `${server}/${claims.job_workflow_ref}` },
      metadata: {
        invocationId: `${server}/${claims.repository}/actions/runs/${claims.run_id}/attempts/${claims.run_attempt}`,
      },
    },
  };
}

function localProvenance(facts: ArtifactFacts, options: ProvenanceOptions): Record<string, unknown> {
  const source = modelSourceDependency(facts);
  const files = source ? modelFileDependencies(facts, source) : [];
  const now = options.now?.() ?? new Date();
  return {
    buildDefinition: {
      buildType: LOCAL_BUILD_TYPE,
      // Nothing about the machine (hostname, user, paths): a local build vouches only for its inputs.
      externalParameters: source ? { source: source.uri } : {},
      internalParameters: {},
      resolvedDependencies: source ? [source, ...files] : [],
    },
    runDetails: {
      builder: {
        id: LOCAL_BUILDER_ID,
        ...(options.version ? { version: { modelship: options.version } } : {}),
      },
      metadata: { startedOn: now.toISOString() },
    },
  };
}

export interface ResourceDescriptor {
  name?: string;
  uri: string;
  digest?: { gitCommit: string } | { sha256: string };
}

const GIT_COMMIT_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const HF_RE = /^https:\/\/huggingface\.co\/([^/?#]+)\/([^/?#]+?)(?:\.git)?(?:\/tree\/([^/?#]+))?\/?$/;

/**
 * Where the model came from, from the ModelPack config's `descriptor.sourceURL` and
 * `revision`. gitCommit is recorded only for a full commit id: a branch name or a
 * `<sha>-dirty` revision (uncommitted changes when packed) identifies no exact content.
 */
function modelSourceDependency(facts: ArtifactFacts): ResourceDescriptor | undefined {
  const descriptor = facts.config.descriptor as Record<string, unknown> | undefined;
  const rawURL = descriptor && typeof descriptor.sourceURL === 'string' ? descriptor.sourceURL.trim() : '';
  if (!rawURL) return undefined;
  let url = stripUrlCredentials(rawURL);
  let revision = typeof descriptor?.revision === 'string' ? descriptor.revision.trim() : '';
  const hf = HF_RE.exec(url);
  if (hf) {
    // Canonical repo URL: /tree/<rev> is a web view, the revision goes after '@'.
    url = `${HF_HUB_URL}/${hf[1]}/${hf[2]}`;
    if (!revision && hf[3]) revision = decodeURIComponent(hf[3]);
  }
  if (!revision) return { name: MODEL_SOURCE_DEPENDENCY, uri: url };
  const base = url.startsWith('git+') ? url : `git+${url}`;
  const dep: ResourceDescriptor = { name: MODEL_SOURCE_DEPENDENCY, uri: `${base}@${revision}` };
  if (GIT_COMMIT_RE.test(revision.toLowerCase())) dep.digest = { gitCommit: revision.toLowerCase() };
  return dep;
}

/**
 * The model's files as resolved dependencies of a source pinned to a commit: each raw layer is
 * one file of that commit, and its digest is the file's sha256 (`uri` = the source's, `#` the
 * path). A source at no exact commit names no exact files. Tar layers are archives of files,
 * not files of the commit: they are left out (attest --type files lists their members).
 */
export function modelFileDependencies(facts: ArtifactFacts, source: ResourceDescriptor): ResourceDescriptor[] {
  if (!source.digest || !('gitCommit' in source.digest)) return [];
  return facts.layers
    .filter((l) => l.raw && l.path && /^sha256:[0-9a-f]{64}$/.test(l.digest))
    .map((l) => ({
      uri: `${source.uri}#${l.path.split('/').map(encodeURIComponent).join('/')}`,
      digest: { sha256: l.digest.slice('sha256:'.length) },
    }));
}
