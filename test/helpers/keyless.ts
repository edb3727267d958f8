import { runCli, type CliRun } from './cli.js';
import type { SigstoreStandins } from './sigstore.js';

/**
 * Keyless `sign` / `attest` through the CLI against the Sigstore stand-ins. `via: 'actions'`
 * takes the token the way a GitHub Actions job does (ACTIONS_ID_TOKEN_REQUEST_*); `token` passes
 * `--identity-token` with the given claims (or `token`, one already issued), outside Actions.
 */
export function keylessCli(
  si: SigstoreStandins,
  args: string[],
  opts: { via?: 'actions' | 'token'; claims?: Record<string, unknown>; token?: string; extra?: string[] } = {},
): Promise<CliRun> {
  const services = [
    '--fulcio-url',
    si.fulcioURL,
    '--rekor-url',
    si.rekorURL,
    '--tsa-url',
    si.tsaURL,
    '--rekor-entry-type',
    'intoto',
    ...(opts.extra ?? []),
  ];
  if (opts.via === 'actions')
    return runCli([...args, ...services], {
      env: {
        GITHUB_ACTIONS: 'true',
        ACTIONS_ID_TOKEN_REQUEST_URL: si.oidc.requestURL,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: si.oidc.requestToken,
      },
    });
  return runCli([...args, '--identity-token', opts.token ?? si.oidc.issueToken(opts.claims), ...services], {
    env: { GITHUB_ACTIONS: '' },
  });
}
