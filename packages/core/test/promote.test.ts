import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelshipError } from '../src/errors.js';
import { parsePolicy } from '../src/policy/parse.js';
import {
  buildPromotionPredicate,
  canSign,
  checkDestinationAllowed,
  defaultActor,
  normalizeDestination,
} from '../src/promote.js';
import { type VerifyReport } from '../src/verify/evaluate.js';

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

  it('refuses malformed entries when the policy is parsed, as INPUT naming the policy and line', () => {
    for (const [bad, why] of [
      ["['ghcr.io/acme/.+']", /must be an anchored regex .* must start with \^/],
      ["['^(unclosed$']", /is not a valid regular expression/],
      ['[42]', /must be string/],
      ["'^one-string$'", /must be array/],
      // A top-level | escapes the anchors: `^ghcr\.io/acme/prod/.+|.+$` allows everything.
      ["['^ghcr\\.io/acme/prod/.+|.+$']", /has a top-level "\|"/],
      ['[]', /must NOT have fewer than 1 items/],
    ] as const) {
      let err: ModelshipError | undefined;
      try {
        policy(`promote:\n  destinations: ${bad}\n`);
      } catch (e) {
        err = e as ModelshipError;
      }
      expect([bad, err?.code]).toEqual([bad, 'INPUT']);
      expect(err?.message).toMatch(/^p\.yaml:5: promote\.destinations/);
      expect(err?.message).toMatch(why);
    }
  });

  it('refuses unknown keys under promote, with the line', () => {
    let err: ModelshipError | undefined;
    try {
      policy("promote:\n  destinations: ['^x/y$']\n  destinatons: ['^.*$']\n");
    } catch (e) {
      err = e as ModelshipError;
    }
    expect(err?.code).toBe('INPUT');
    expect(err?.message).toBe('p.yaml:6: unknown key "destinatons" in promote (allowed: destinations)');
  });
});

describe('promote.destinations: names are normalised before matching', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'promote-dest-')));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const prod = join(root, 'srv', 'prod');
  mkdirSync(prod, { recursive: true });
  const esc = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  const p = policy(`promote:\n  destinations: ['^oci:${esc(prod)}(?:/.+)?$', '^ghcr\\.io/acme/prod/.+$']\n`);

  it('a ".." segment cannot sneak past an anchored layout pattern', () => {
    // Matched as written, this name passes ^oci:<prod>(/.+)?$ but writes outside prod.
    for (const name of [`oci:${prod}/../../etc`, `oci:${prod}/a/../../x`, 'oci:./a/../prod'])
      expect([name, code(() => checkDestinationAllowed(p, name))]).toEqual([name, 'USAGE']);
  });

  it('relative layout paths are resolved; a symlink is judged by where it points', () => {
    const cwd = process.cwd();
    try {
      process.chdir(join(root, 'srv'));
      expect(normalizeDestination('oci:prod/models')).toBe(`oci:${prod}/models`);
      expect(code(() => checkDestinationAllowed(p, 'oci:./prod'))).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
    const outside = join(root, 'elsewhere');
    mkdirSync(outside);
    symlinkSync(outside, join(prod, 'link'));
    expect(normalizeDestination(`oci:${prod}/link/new`)).toBe(`oci:${outside}/new`);
    expect(code(() => checkDestinationAllowed(p, `oci:${prod}/link/new`))).toBe('POLICY');
    symlinkSync(join(root, 'nowhere'), join(prod, 'dangling'));
    expect(code(() => checkDestinationAllowed(p, `oci:${prod}/dangling/m`))).toBe('INPUT');
    symlinkSync(prod, join(root, 'to-prod'));
    expect(code(() => checkDestinationAllowed(p, `oci:${join(root, 'to-prod')}`))).toBeUndefined();
  });

  it('registry hosts compare lower-cased; Docker Hub names take their canonical form', () => {
    expect(normalizeDestination('GHCR.IO/acme/prod/llama')).toBe('ghcr.io/acme/prod/llama');
    expect(normalizeDestination('Localhost:5000/m')).toBe('localhost:5000/m');
    expect(normalizeDestination('index.docker.io/library/x')).toBe('docker.io/library/x');
    expect(normalizeDestination('Docker.IO/x')).toBe('docker.io/library/x');
    expect(code(() => checkDestinationAllowed(p, 'GHCR.IO/acme/prod/llama'))).toBeUndefined();
    expect(code(() => checkDestinationAllowed(p, 'GHCR.IO/acme/staging/llama'))).toBe('POLICY');
  });

  it('without promote.destinations nothing is checked or resolved', () => {
    expect(code(() => checkDestinationAllowed(policy(''), 'oci:./a/../b'))).toBeUndefined();
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
