import { describe, expect, it } from '@jest/globals';
import {
  ModelshipError,
  buildPromotionPredicate,
  canSign,
  checkDestinationAllowed,
  defaultActor,
  parsePolicy,
  type VerifyReport,
} from '../src/index.js';

function policy(promote: string): ReturnType<typeof parsePolicy> {
  return parsePolicy(`version: 1\nsigners:\n  - key: { path: release.pub }\n${promote}`, 'p.yaml');
}

function code(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as ModelshipError).code;
  }
  return undefined;
}

describe('promote.destinations', () => {
  it('allows any destination without the key, and only matching ones with it', () => {
    expect(code(() => checkDestinationAllowed(policy(''), 'anything/at-all'))).toBeUndefined();
    const p = policy("promote:\n  destinations: ['^ghcr\\.io/acme/prod/.+$', '^oci:/srv/models/.+$']\n");
    expect(code(() => checkDestinationAllowed(p, 'ghcr.io/acme/prod/llama'))).toBeUndefined();
    expect(code(() => checkDestinationAllowed(p, 'oci:/srv/models/llama'))).toBeUndefined();
    expect(code(() => checkDestinationAllowed(p, 'ghcr.io/acme/staging/llama'))).toBe('POLICY');
    // Anchored: a look-alike host that merely contains the allowed prefix is refused.
    expect(code(() => checkDestinationAllowed(p, 'evil.example/ghcr.io/acme/prod/llama'))).toBe('POLICY');
  });

  it('refuses malformed entries as INPUT naming the policy', () => {
    for (const bad of ["['ghcr.io/acme/.+']", "['^(unclosed$']", '[42]', "'^one-string$'"]) {
      const p = policy(`promote:\n  destinations: ${bad}\n`);
      let err: ModelshipError | undefined;
      try {
        checkDestinationAllowed(p, 'ghcr.io/acme/x');
      } catch (e) {
        err = e as ModelshipError;
      }
      expect(err?.code).toBe('INPUT');
      expect(err?.message).toContain('p.yaml');
    }
  });
});

describe('promotion record predicate', () => {
  const report: VerifyReport = {
    ok: true,
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10 },
    policy: { source: 'p.yaml', digest: `sha256:${'b'.repeat(64)}` },
    bundles: [
      {
        referrer: 'r1',
        bundle: 'b1',
        predicateType: 'https://sigstore.dev/cosign/sign/v1',
        verified: true,
        trusted: true,
        signer: {
          kind: 'keyless',
          subject: 'https://github.com/acme/m/.github/workflows/r.yml@refs/heads/main',
          issuer: 'https://token.actions.githubusercontent.com',
          extensions: {},
        },
      },
      { referrer: 'r2', bundle: 'b2', verified: false, trusted: false, reason: 'bad signature' },
    ],
    checks: [{ rule: 'minSignatures', ok: true, detail: '1 trusted signature(s), policy requires 1' }],
  };

  it('records source, destination, policy, verdict, actor, tool and the Actions run', () => {
    const p = buildPromotionPredicate({
      source: { name: 'staging.example/acme/m', reference: 'v1' },
      destinationName: 'prod.example/acme/m',
      descriptor: report.subject,
      tags: ['v1'],
      report,
      actor: 'octocat',
      version: '9.9.9',
      now: new Date('2026-01-02T03:04:05Z'),
      env: {
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_REPOSITORY: 'acme/m',
        GITHUB_RUN_ID: '42',
        GITHUB_RUN_ATTEMPT: '2',
        GITHUB_WORKFLOW_REF: 'acme/m/.github/workflows/promote.yml@refs/heads/main',
      },
    });
    expect(p).toEqual({
      source: { name: 'staging.example/acme/m', reference: 'v1', digest: report.subject.digest },
      destination: { name: 'prod.example/acme/m', digest: report.subject.digest, tags: ['v1'] },
      policy: report.policy,
      verdict: {
        ok: true,
        checks: report.checks,
        trustedBundles: [
          {
            predicateType: 'https://sigstore.dev/cosign/sign/v1',
            signer: 'https://github.com/acme/m/.github/workflows/r.yml@refs/heads/main',
            issuer: 'https://token.actions.githubusercontent.com',
          },
        ],
      },
      promotedAt: '2026-01-02T03:04:05.000Z',
      actor: 'octocat',
      tool: { name: 'modelship', version: '9.9.9' },
      run: {
        url: 'https://github.com/acme/m/actions/runs/42/attempts/2',
        repository: 'acme/m',
        workflowRef: 'acme/m/.github/workflows/promote.yml@refs/heads/main',
      },
    });
  });

  it('has no run outside Actions; the actor falls back from GITHUB_ACTOR to the OS user', () => {
    const p = buildPromotionPredicate({
      source: { name: 'oci:a', reference: 'v1' },
      destinationName: 'oci:b',
      descriptor: report.subject,
      tags: [],
      report,
      actor: defaultActor({}),
      now: new Date(),
      env: {},
    });
    expect(p.run).toBeUndefined();
    expect(p.tool).toEqual({ name: 'modelship' });
    expect(p.actor).not.toBe('');
    expect(defaultActor({ GITHUB_ACTOR: 'hubot' })).toBe('hubot');
  });
});

describe('canSign', () => {
  it('needs a key, a token or an OIDC source', () => {
    expect(canSign({}, {})).toBe(false);
    expect(canSign({ key: { path: 'k' } }, {})).toBe(true);
    expect(canSign({ identityToken: 't' }, {})).toBe(true);
    expect(canSign({}, { SIGSTORE_ID_TOKEN: 't' })).toBe(true);
    expect(canSign({}, { ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x' })).toBe(true);
    // In Actions keyless is tried, so the missing id-token permission gets its own hint.
    expect(canSign({}, { GITHUB_ACTIONS: 'true' })).toBe(true);
  });
});
