import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import type { ArtifactFacts } from '../src/attest/facts.js';
import {
  buildProvenancePredicate,
  GITHUB_WORKFLOW_BUILD_TYPE,
  LOCAL_BUILD_TYPE,
  provenanceFromClaims,
  type GitHubClaims,
} from '../src/attest/provenance.js';
import { artifactFacts, factsLayer } from './artifact-facts.js';
import { rejection } from './rejection.js';

const SHA = 'd2b1b1c2f4a8e3f0c1a9b8e7d6c5b4a3f2e1d0c9';
const MODEL_REV = '0123456789abcdef0123456789abcdef01234567';

/** A recorded release job: claims as GitHub puts them in an audience-`nobody` token. */
const CLAIMS: GitHubClaims = {
  iss: 'https://token.actions.githubusercontent.com',
  ref: 'refs/heads/main',
  sha: SHA,
  repository: 'octo-org/octo-models',
  event_name: 'push',
  job_workflow_ref: 'octo-org/shared-workflows/.github/workflows/package-model.yml@refs/tags/v2',
  workflow_ref: 'octo-org/octo-models/.github/workflows/release.yml@refs/heads/main',
  repository_id: '812345678',
  repository_owner_id: '98765432',
  runner_environment: 'github-hosted',
  run_id: '9876543210',
  run_attempt: '2',
};

function facts(descriptor: Record<string, unknown> = {}): ArtifactFacts {
  return artifactFacts({
    name: 'ghcr.io/octo-org/octo-models/tiny',
    manifestSize: 512,
    descriptor: { name: 'tiny', ...descriptor },
  });
}

const EXPECTED_GITHUB = {
  buildDefinition: {
    buildType: 'https://actions.github.io/buildtypes/workflow/v1',
    externalParameters: {
      workflow: {
        ref: 'refs/heads/main',
        repository: 'https://github.com/octo-org/octo-models',
        path: '.github/workflows/release.yml',
      },
    },
    internalParameters: {
      github: {
        event_name: 'push',
        repository_id: '812345678',
        repository_owner_id: '98765432',
        runner_environment: 'github-hosted',
      },
    },
    resolvedDependencies: [
      { uri: 'git+https://github.com/octo-org/octo-models@refs/heads/main', digest: { gitCommit: SHA } },
    ],
  },
  runDetails: {
    builder: { id: 'https://github.com/octo-org/shared-workflows/.github/workflows/package-model.yml@refs/tags/v2' },
    metadata: { invocationId: 'https://github.com/octo-org/octo-models/actions/runs/9876543210/attempts/2' },
  },
};

describe('provenanceFromClaims (reference §6 field table)', () => {
  it('fills every field as attest-build-provenance does', () => {
    expect(provenanceFromClaims(CLAIMS, 'https://github.com/', facts())).toEqual(EXPECTED_GITHUB);
  });

  it('adds a Hugging Face model source as a named second dependency, pinned to the commit', () => {
    const p = provenanceFromClaims(
      CLAIMS,
      'https://github.com',
      facts({ sourceURL: 'https://huggingface.co/octo-org/tiny-llm', revision: MODEL_REV }),
    ) as typeof EXPECTED_GITHUB;
    expect(p.buildDefinition.resolvedDependencies).toEqual([
      EXPECTED_GITHUB.buildDefinition.resolvedDependencies[0],
      {
        name: 'model-source',
        uri: `git+https://huggingface.co/octo-org/tiny-llm@${MODEL_REV}`,
        digest: { gitCommit: MODEL_REV },
      },
    ]);
  });

  it("records each raw layer as a file of the source's commit, by its sha256; tar layers and unpinned sources name none", () => {
    const layers = [
      factsLayer('model.safetensors', { digestHex: 'c'.repeat(64) }),
      factsLayer('sub dir/README.md', { digestHex: 'd'.repeat(64) }),
      factsLayer('code', { raw: false, kind: 'code' }),
    ];
    const source = `git+https://huggingface.co/octo-org/tiny-llm@${MODEL_REV}`;
    const descriptor = { name: 'tiny', sourceURL: 'https://huggingface.co/octo-org/tiny-llm', revision: MODEL_REV };
    const p = provenanceFromClaims(
      CLAIMS,
      'https://github.com',
      artifactFacts({ layers, descriptor }),
    ) as typeof EXPECTED_GITHUB;
    expect(p.buildDefinition.resolvedDependencies.slice(2)).toEqual([
      { uri: `${source}#model.safetensors`, digest: { sha256: 'c'.repeat(64) } },
      { uri: `${source}#sub%20dir/README.md`, digest: { sha256: 'd'.repeat(64) } },
    ]);
    const unpinned = provenanceFromClaims(
      CLAIMS,
      'https://github.com',
      artifactFacts({ layers, descriptor: { ...descriptor, revision: 'main' } }),
    ) as typeof EXPECTED_GITHUB;
    expect(unpinned.buildDefinition.resolvedDependencies).toHaveLength(2);
  });

  it('strips credentials from a git source URL and records no commit for a non-commit revision', () => {
    const p = provenanceFromClaims(
      CLAIMS,
      'https://github.com',
      facts({ sourceURL: 'https://bot:s3cr3t@git.example.com/models/tiny.git', revision: `${MODEL_REV}-dirty` }),
    ) as typeof EXPECTED_GITHUB;
    expect(p.buildDefinition.resolvedDependencies[1]).toEqual({
      name: 'model-source',
      uri: `git+https://git.example.com/models/tiny.git@${MODEL_REV}-dirty`,
    });
    expect(JSON.stringify(p)).not.toContain('s3cr3t');
  });
});

describe('buildProvenancePredicate', () => {
  it('uses pre-verified claims but still requires every claim, naming the missing one', async () => {
    const ok = await buildProvenancePredicate(facts(), { claims: { ...CLAIMS }, env: {} });
    expect(ok).toEqual({ predicate: EXPECTED_GITHUB, buildType: GITHUB_WORKFLOW_BUILD_TYPE });
    const { run_attempt: _drop, ...partial } = CLAIMS;
    const e = await rejection(buildProvenancePredicate(facts(), { claims: partial, env: {} }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('"run_attempt"');
  });

  it('outside Actions: local build type, no OIDC call, nothing about the machine', async () => {
    const server = await startIssuer();
    try {
      const env = { ...server.env, GITHUB_ACTIONS: undefined };
      const { predicate, buildType } = await buildProvenancePredicate(
        facts({ sourceURL: 'https://huggingface.co/octo-org/tiny-llm', revision: MODEL_REV }),
        { env, now: () => new Date('2025-01-02T03:04:05Z'), version: '0.1.0' },
      );
      expect(buildType).toBe(LOCAL_BUILD_TYPE);
      expect(predicate).toEqual({
        buildDefinition: {
          buildType: LOCAL_BUILD_TYPE,
          externalParameters: { source: `git+https://huggingface.co/octo-org/tiny-llm@${MODEL_REV}` },
          internalParameters: {},
          resolvedDependencies: [
            {
              name: 'model-source',
              uri: `git+https://huggingface.co/octo-org/tiny-llm@${MODEL_REV}`,
              digest: { gitCommit: MODEL_REV },
            },
          ],
        },
        runDetails: {
          builder: { id: 'https://modelship.dev/local', version: { modelship: '0.1.0' } },
          metadata: { startedOn: '2025-01-02T03:04:05.000Z' },
        },
      });
      expect(server.requests).toEqual([]);
      if (hostname().length > 3) expect(JSON.stringify(predicate)).not.toContain(hostname());
    } finally {
      await server.stop();
    }
  });
});

interface Issuer {
  issuer: string;
  env: NodeJS.ProcessEnv;
  requests: string[];
  /** What the token endpoint hands out next. */
  mint: (audience: string) => Promise<string>;
  stop(): Promise<void>;
}

const REQUEST_TOKEN = 'runner-request-token';

let trusted: { privateKey: KeyLike; publicKey: KeyLike };
let untrusted: { privateKey: KeyLike; publicKey: KeyLike };
beforeAll(async () => {
  trusted = await generateKeyPair('RS256');
  untrusted = await generateKeyPair('RS256');
});

async function startIssuer(): Promise<Issuer> {
  const requests: string[] = [];
  const jwk = { ...(await exportJWK(trusted.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const state: Issuer = {
    issuer: '',
    env: {},
    requests,
    mint: async () => '',
    stop: async () => {},
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', state.issuer);
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      json(200, { issuer: state.issuer, jwks_uri: `${state.issuer}/jwks` });
    } else if (url.pathname === '/jwks') {
      json(200, { keys: [jwk] });
    } else if (url.pathname === '/token' && req.method === 'GET') {
      if (req.headers.authorization !== `Bearer ${REQUEST_TOKEN}`) return json(401, { message: 'bad token' });
      void state.mint(url.searchParams.get('audience') ?? '').then((value) => json(200, { count: 1, value }));
    } else json(404, {});
  };
  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.issuer = base;
  state.env = {
    GITHUB_ACTIONS: 'true',
    GITHUB_SERVER_URL: 'https://github.com',
    ACTIONS_ID_TOKEN_REQUEST_URL: `${base}/token`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
  };
  state.mint = (audience) =>
    sign({ ...CLAIMS, iss: base, sub: 'repo:octo-org/octo-models:ref:refs/heads/main' }, audience);
  state.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

function sign(
  claims: Record<string, unknown>,
  audience: string,
  opts: { key?: KeyLike; expiresAt?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
    .setAudience(audience)
    .setIssuedAt(now - 60)
    .setNotBefore(now - 60)
    .setExpirationTime(opts.expiresAt ?? now + 300)
    .sign(opts.key ?? trusted.privateKey);
}

describe('buildProvenancePredicate in GitHub Actions (local OIDC issuer stand-in)', () => {
  let s: Issuer;
  beforeAll(async () => {
    s = await startIssuer();
  });
  afterAll(() => s.stop());

  const run = (mint: Issuer['mint'], extra: { jwksURL?: string } = {}): Promise<unknown> => {
    s.mint = mint;
    return buildProvenancePredicate(
      facts({ sourceURL: 'https://huggingface.co/octo-org/tiny-llm', revision: MODEL_REV }),
      {
        env: s.env,
        issuer: s.issuer,
        ...extra,
      },
    );
  };
  const claims = (): Record<string, unknown> => ({ ...CLAIMS, iss: s.issuer, sub: 'repo:octo-org/octo-models' });

  it('requests audience nobody, discovers the JWKS, and builds the predicate from verified claims', async () => {
    s.requests.length = 0;
    const got = (await run((aud) => sign(claims(), aud))) as { predicate: typeof EXPECTED_GITHUB; buildType: string };
    expect(s.requests).toEqual(['/token?audience=nobody', '/.well-known/openid-configuration', '/jwks']);
    expect(got.buildType).toBe(GITHUB_WORKFLOW_BUILD_TYPE);
    expect(got.predicate.buildDefinition.externalParameters).toEqual(
      EXPECTED_GITHUB.buildDefinition.externalParameters,
    );
    expect(got.predicate.runDetails).toEqual(EXPECTED_GITHUB.runDetails);
    expect(got.predicate.buildDefinition.resolvedDependencies).toEqual([
      EXPECTED_GITHUB.buildDefinition.resolvedDependencies[0],
      {
        name: 'model-source',
        uri: `git+https://huggingface.co/octo-org/tiny-llm@${MODEL_REV}`,
        digest: { gitCommit: MODEL_REV },
      },
    ]);
  });

  it('refuses a token signed by a key the issuer does not publish', async () => {
    const e = await rejection(run((aud) => sign(claims(), aud, { key: untrusted.privateKey })));
    expect(e.code).toBe('INVALID');
    expect(e.message).toMatch(/not signed by a key of .*\/jwks/);
  });

  it('refuses a token for another audience', async () => {
    const e = await rejection(run(() => sign(claims(), 'sigstore')));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('"aud"');
  });

  it('refuses a token from another issuer', async () => {
    const e = await rejection(run((aud) => sign({ ...claims(), iss: 'https://evil.example' }, aud)));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('"iss"');
  });

  it('refuses an expired token', async () => {
    const e = await rejection(run((aud) => sign(claims(), aud, { expiresAt: Math.floor(Date.now() / 1000) - 120 })));
    expect(e.code).toBe('AUTH');
    expect(e.message).toMatch(/expired/);
  });

  it('refuses a token that expires before the check (jose clock)', async () => {
    s.mint = (aud) => sign(claims(), aud);
    const e = await rejection(
      buildProvenancePredicate(facts(), {
        env: s.env,
        issuer: s.issuer,
        jwksURL: `${s.issuer}/jwks`,
        now: () => new Date(Date.now() + 3600_000),
      }),
    );
    expect(e.code).toBe('AUTH');
    expect(e.message).toContain('expired');
  });

  it('names a claim the verified token lacks', async () => {
    const { job_workflow_ref: _drop, ...rest } = claims();
    const e = await rejection(run((aud) => sign(rest, aud), { jwksURL: `${s.issuer}/jwks` }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('"job_workflow_ref"');
  });

  it('without id-token: write (no request URL) fails AUTH with the permissions hint', async () => {
    const { ACTIONS_ID_TOKEN_REQUEST_URL: _u, ACTIONS_ID_TOKEN_REQUEST_TOKEN: _t, ...env } = s.env;
    const e = await rejection(buildProvenancePredicate(facts(), { env, issuer: s.issuer }));
    expect(e.code).toBe('AUTH');
    expect(e.hint).toContain('id-token: write');
  });

  it('a refused request token is AUTH and the message never carries it', async () => {
    const e = await rejection(
      buildProvenancePredicate(facts(), {
        env: { ...s.env, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'stale-request-token' },
        issuer: s.issuer,
      }),
    );
    expect(e.code).toBe('AUTH');
    expect(`${e.message}\n${e.hint ?? ''}`).not.toContain('stale-request-token');
  });
});
