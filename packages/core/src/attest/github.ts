import { request } from 'undici';
import { ModelshipError } from '../errors.js';
import type { SerializedBundleJson } from '../sign/types.js';
import { MAX_API_BODY, readCapped } from '../streams.js';

export interface GitHubAttestationTarget {
  /** REST API root, e.g. https://api.github.com ($GITHUB_API_URL). */
  apiURL: string;
  /** owner/repo ($GITHUB_REPOSITORY). */
  repository: string;
  token: string;
}

/** GitHub's target from the runner environment, or undefined when something is missing. */
export function gitHubTargetFromEnv(env: NodeJS.ProcessEnv, token?: string): GitHubAttestationTarget | undefined {
  const t = token || env['GITHUB_TOKEN'] || env['GH_TOKEN'];
  const repository = env['GITHUB_REPOSITORY'];
  if (!t || !repository) return undefined;
  return { apiURL: env['GITHUB_API_URL'] || 'https://api.github.com', repository, token: t };
}

/**
 * Stores a bundle with GitHub's attestations API (`POST /repos/{owner}/{repo}/attestations`),
 * so `gh attestation verify oci://...` finds it. The API persists attestations for public
 * repositories and GitHub Enterprise Cloud only. Returns the attestation id.
 */
export async function uploadAttestationToGitHub(
  bundle: SerializedBundleJson,
  target: GitHubAttestationTarget,
): Promise<string> {
  if (!/^[^/\s]+\/[^/\s]+$/.test(target.repository))
    throw new ModelshipError('USAGE', `"${target.repository}" is not owner/repo`);
  const url = `${target.apiURL.replace(/\/$/, '')}/repos/${target.repository}/attestations`;
  let res;
  try {
    res = await request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${target.token}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'content-type': 'application/json',
        'user-agent': 'modelship',
      },
      body: JSON.stringify({ bundle }),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (e) {
    throw new ModelshipError(
      'NETWORK',
      `GitHub attestations API at ${new URL(url).host} is unreachable: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const text = (await readCapped(res.body, MAX_API_BODY, `GitHub attestations API answer`)).toString('utf8');
  if (res.statusCode === 401 || res.statusCode === 403)
    throw new ModelshipError(
      'AUTH',
      `GitHub refused the attestation upload for ${target.repository} (HTTP ${res.statusCode})`,
      {
        hint: 'the workflow needs `permissions: attestations: write` (and id-token: write for keyless); the token must belong to that repository',
      },
    );
  if (res.statusCode === 404)
    throw new ModelshipError(
      'NOT_FOUND',
      `GitHub has no repository ${target.repository} (or the token cannot see it)`,
      {
        hint: 'check GITHUB_REPOSITORY and the token',
      },
    );
  if (res.statusCode !== 201 && res.statusCode !== 200)
    throw new ModelshipError(
      'NETWORK',
      `GitHub attestations API answered HTTP ${res.statusCode}: ${text.slice(0, 300)}`,
    );
  try {
    return String((JSON.parse(text) as { id?: unknown }).id ?? '');
  } catch {
    return '';
  }
}
