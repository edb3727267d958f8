/**
 * `require.slsa` for keyless provenance is checked against what the CI platform put in the
 * Fulcio certificate (runner environment, source repository, ref, build config, build signer),
 * and the predicate the job wrote must agree with it. A job on a self-hosted runner, or a
 * caller repository of a trusted reusable workflow, can write any predicate it likes, signed by
 * a trusted identity. Keyless signatures come from the local Fulcio/Rekor/TSA stand-ins, whose
 * Fulcio maps token claims to extensions as real Fulcio does; predicates are attached through
 * the CLI (`attest --predicate`), as a job would.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  OciLayoutStore,
  SLSA_PROVENANCE_V1,
  collectArtifactFacts,
  provenanceFromClaims,
  type GitHubClaims,
} from '@modelship/core';
import { packSample, runCli, type CliRun } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
let si: SigstoreStandins;
let root: string;

beforeAll(async () => {
  si = await startSigstoreStandins();
  root = join(tmp.dir, 'trusted_root.json');
  writeFileSync(root, JSON.stringify(si.trustedRoot));
});
afterAll(async () => {
  await si?.stop();
  tmp.cleanup();
});

const GOOD_SIGNER =
  'github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }';
const ALL_CONSTRAINTS = [
  "    builder: '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/heads/main$'",
  '    sourceRepository: acme/models',
  "    ref: '^refs/heads/main$'",
  '    workflow: .github/workflows/release.yml',
  '    forbidSelfHosted: true',
].join('\n');

let files = 0;
function file(name: string, text: string): string {
  const p = join(tmp.dir, `${++files}-${name}`);
  writeFileSync(p, text);
  return p;
}

function policy(constraints: string, signer = GOOD_SIGNER): string {
  return file(
    'policy.yaml',
    `version: 1\nsigners:\n  - ${signer}\nrequire:\n  slsa:\n${constraints}\ntrust:\n  trustedRoot: ${root}\n`,
  );
}

async function newArtifact(): Promise<{ ref: string; layout: string; digest: string }> {
  const layout = join(tmp.dir, `layout-${++files}`);
  const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
  return { ref: `oci:${layout}@${digest}`, layout, digest };
}

/** The fields of the generated provenance predicate that the tests edit. */
interface Provenance {
  buildDefinition?: {
    externalParameters: { workflow: { ref: string; repository: string; path: string } };
    internalParameters: { github: { runner_environment: string } };
  };
  runDetails?: { builder: { id: string } };
}

/** The claims a stand-in token carries (defaults merged with `claims`). */
function tokenClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * A provenance predicate exactly as modelship's (and actions/attest-build-provenance's)
 * generator writes it from `claims`, then edited by `lie`.
 */
async function provenance(
  a: { layout: string; digest: string },
  claims: Record<string, unknown>,
  lie: (p: Provenance) => void = () => {},
): Promise<string> {
  const store = await OciLayoutStore.open(a.layout);
  try {
    const facts = await collectArtifactFacts(store, await store.resolve(a.digest), `oci:${a.layout}`);
    const predicate = provenanceFromClaims(claims as GitHubClaims, 'https://github.com', facts);
    lie(predicate as Provenance);
    return file('provenance.json', JSON.stringify(predicate));
  } finally {
    await store.close();
  }
}

/** Keyless `attest` of a custom SLSA predicate with a stand-in token carrying `claims`. */
async function attestKeyless(
  a: { ref: string; layout: string; digest: string },
  claims: Record<string, unknown>,
  lie?: (p: Provenance) => void,
): Promise<void> {
  const token = si.oidc.issueToken(claims);
  const predicate = await provenance(a, tokenClaims(token), lie);
  // The same job signs the artifact (minSignatures: 1) and attests the provenance.
  for (const args of [
    ['sign', a.ref],
    ['attest', a.ref, '--type', 'none', '--predicate-type', SLSA_PROVENANCE_V1, '--predicate', predicate],
  ]) {
    const r = await keylessCli(si, args, { via: 'token', token });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }
}

interface Report {
  ok: boolean;
  checks: { rule: string; ok: boolean; detail: string }[];
  bundles: { trusted: boolean; reason?: string }[];
}

async function verify(
  ref: string,
  policyPath: string,
): Promise<{ run: CliRun; slsa: { ok: boolean; detail: string } }> {
  const run = await runCli(['verify', ref, '--policy', policyPath, '--json']);
  const report = JSON.parse(run.stdout) as Report;
  const c = report.checks.find((x) => x.rule === 'require.slsa');
  expect(c).toBeDefined();
  return { run, slsa: { ok: c!.ok, detail: c!.detail } };
}

describe('keyless provenance: require.slsa is checked against the signing certificate', () => {
  it('control: an honest provenance from the trusted workflow on a GitHub-hosted runner passes', async () => {
    const a = await newArtifact();
    await attestKeyless(a, {});
    const { run, slsa } = await verify(a.ref, policy(ALL_CONSTRAINTS));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(slsa).toEqual({
      ok: true,
      detail: 'a trusted provenance meets every constraint, checked against its signing certificate',
    });
  });

  it('a self-hosted runner whose provenance claims github-hosted fails forbidSelfHosted', async () => {
    const a = await newArtifact();
    await attestKeyless(a, { runner_environment: 'self-hosted' }, (p) => {
      p.buildDefinition!.internalParameters.github.runner_environment = 'github-hosted';
    });
    const { run, slsa } = await verify(a.ref, policy('    forbidSelfHosted: true'));
    expect(run.status).toBe(9);
    expect(slsa.ok).toBe(false);
    expect(slsa.detail).toContain('provenance says runner environment github-hosted, its certificate self-hosted');
    expect(slsa.detail).toContain('runner environment self-hosted (certificate) is not github-hosted');
    // The text report names the rule too.
    const text = await runCli(['verify', a.ref, '--policy', policy('    forbidSelfHosted: true')]);
    expect(text.stdout).toMatch(/^ {2}FAIL require\.slsa: .*its certificate self-hosted/m);
  });

  it('another caller repository of the trusted (reusable) workflow cannot claim the source repository', async () => {
    const a = await newArtifact();
    // The SAN is still the trusted workflow (job_workflow_ref); the run is evil/models'.
    await attestKeyless(
      a,
      {
        repository: 'evil/models',
        repository_owner: 'evil',
        workflow_ref: 'evil/models/.github/workflows/release.yml@refs/heads/main',
      },
      (p) => {
        p.buildDefinition!.externalParameters.workflow.repository = 'https://github.com/acme/models';
      },
    );
    const { run, slsa } = await verify(a.ref, policy(ALL_CONSTRAINTS));
    expect(run.status).toBe(9);
    expect(slsa.detail).toContain(
      'provenance says source repository https://github.com/acme/models, its certificate https://github.com/evil/models',
    );
    expect(slsa.detail).toContain('source repository https://github.com/evil/models (certificate) is not acme/models');
  });

  it('another ref and another top-level workflow than the certificate names fail', async () => {
    const wrongRef = await newArtifact();
    await attestKeyless(
      wrongRef,
      { ref: 'refs/heads/feature', workflow_ref: 'acme/models/.github/workflows/release.yml@refs/heads/feature' },
      (p) => {
        p.buildDefinition!.externalParameters.workflow.ref = 'refs/heads/main';
      },
    );
    const r1 = await verify(wrongRef.ref, policy(ALL_CONSTRAINTS));
    expect(r1.run.status).toBe(9);
    expect(r1.slsa.detail).toContain('provenance says ref refs/heads/main, its certificate refs/heads/feature');
    expect(r1.slsa.detail).toContain('ref refs/heads/feature (certificate) does not match ^refs/heads/main$');

    const wrongWorkflow = await newArtifact();
    await attestKeyless(
      wrongWorkflow,
      { workflow_ref: 'acme/models/.github/workflows/anything.yml@refs/heads/main' },
      (p) => {
        p.buildDefinition!.externalParameters.workflow.path = '.github/workflows/release.yml';
      },
    );
    const r2 = await verify(wrongWorkflow.ref, policy(ALL_CONSTRAINTS));
    expect(r2.run.status).toBe(9);
    expect(r2.slsa.detail).toContain(
      'provenance says workflow .github/workflows/release.yml, its certificate .github/workflows/anything.yml',
    );
    expect(r2.slsa.detail).toContain(
      'workflow .github/workflows/anything.yml (certificate) is not .github/workflows/release.yml',
    );
  });

  it('the builder constraint reads the Build Signer URI, not the builder the provenance names', async () => {
    const a = await newArtifact();
    await attestKeyless(a, { job_workflow_ref: 'acme/models/.github/workflows/dev.yml@refs/heads/main' }, (p) => {
      p.runDetails!.builder.id = 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main';
    });
    const anyAcmeWorkflow =
      "keyless: { issuer: https://token.actions.githubusercontent.com, identity: '^https://github\\.com/acme/models/\\.github/workflows/[a-z]+\\.yml@refs/heads/main$' }";
    const { run, slsa } = await verify(
      a.ref,
      policy(
        "    builder: '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/heads/main$'",
        anyAcmeWorkflow,
      ),
    );
    expect(run.status).toBe(9);
    expect(slsa.detail).toContain(
      'provenance says builder https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main, its certificate https://github.com/acme/models/.github/workflows/dev.yml@refs/heads/main',
    );
    expect(slsa.detail).toMatch(
      /builder https:\/\/github\.com\/acme\/models\/\.github\/workflows\/dev\.yml@refs\/heads\/main \(certificate\) does not match/,
    );
  });

  it('a provenance that states none of the fields is judged on what its certificate says', async () => {
    const silent = (p: Provenance): void => {
      delete p.buildDefinition;
      delete p.runDetails;
    };
    const hosted = await newArtifact();
    await attestKeyless(hosted, {}, silent);
    const ok = await verify(hosted.ref, policy(ALL_CONSTRAINTS));
    expect(ok.run.status).toBe(0);
    expect(ok.slsa.ok).toBe(true);

    const selfHosted = await newArtifact();
    await attestKeyless(selfHosted, { runner_environment: 'self-hosted' }, silent);
    const bad = await verify(selfHosted.ref, policy(ALL_CONSTRAINTS));
    expect(bad.run.status).toBe(9);
    expect(bad.slsa).toEqual({
      ok: false,
      detail: 'runner environment self-hosted (certificate) is not github-hosted',
    });
  });
});

describe('key-signed provenance: the predicate is checked, sourceRepository exactly', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  let key: string;
  let pub: string;
  beforeAll(() => {
    key = file('release.key', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    pub = file('release.pub', publicKey.export({ type: 'spki', format: 'pem' }) as string);
  });

  async function attestWithKey(repository: string): Promise<string> {
    const a = await newArtifact();
    const predicate = await provenance(a, tokenClaims(si.oidc.issueToken({})), (p) => {
      p.buildDefinition!.externalParameters.workflow.repository = repository;
    });
    for (const args of [
      ['sign', a.ref],
      ['attest', a.ref, '--type', 'none', '--predicate-type', SLSA_PROVENANCE_V1, '--predicate', predicate],
    ]) {
      const r = await runCli([...args, '--key', key, '--no-tlog']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    return a.ref;
  }
  const keyPolicy = (sourceRepository: string): string =>
    file(
      'key-policy.yaml',
      `version: 1\nsigners:\n  - key: { path: ${pub} }\nrequire:\n  slsa: { sourceRepository: ${sourceRepository} }\n`,
    );

  it('look-alike repositories fail; another letter case of the same one passes', async () => {
    const cases: [string, string, boolean][] = [
      ['https://github.com/evil/acme/models', 'acme/models', false],
      ['https://evil.example/acme/models', 'acme/models', false],
      ['https://github.com/xacme/models', 'acme/models', false],
      ['https://github.com/acme/models/../models', 'acme/models', false],
      ['https://github.com/ACME/Models', 'acme/models', true],
      ['https://acme.ghe.com/acme/models', 'acme.ghe.com/acme/models', true],
      ['https://github.com/acme/models', 'acme.ghe.com/acme/models', false],
    ];
    for (const [repository, expected, ok] of cases) {
      const ref = await attestWithKey(repository);
      const { run, slsa } = await verify(ref, keyPolicy(expected));
      expect({ repository, expected, status: run.status, slsa }).toEqual({
        repository,
        expected,
        status: ok ? 0 : 9,
        slsa: ok
          ? { ok, detail: 'a trusted provenance meets every constraint, checked against the key-signed predicate' }
          : { ok, detail: `source repository ${repository} is not ${expected}` },
      });
    }
  });
});
