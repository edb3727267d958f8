import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { matchSigner, parsePolicy, type VerifiedSigner } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function keyPair(name: string): { key: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub };
}

describe('modelship verify against a policy (OCI layout, key-signed)', () => {
  let ref: string;
  const good = keyPair('release');
  const other = keyPair('someone-else');
  const policy = (name: string, body: string): string => {
    const p = join(tmp.dir, `${name}.yaml`);
    writeFileSync(p, `version: 1\nsigners:\n  - key: { path: ${good.pub} }\n${body}`);
    return p;
  };
  beforeAll(async () => {
    const layout = join(tmp.dir, 'oci');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    ref = `oci:${layout}@${digest}`;
    expect((await runCli(['sign', ref, '--key', good.key, '--no-tlog'])).status).toBe(0);
    expect((await runCli(['attest', ref, '--type', 'slsa,mof', '--key', good.key, '--no-tlog'])).status).toBe(0);
  });

  it('passes when the trusted key signed it and the required predicates are there', async () => {
    const p = policy(
      'ok',
      'require:\n  predicates: [https://slsa.dev/provenance/v1]\n  licenses: { allow: [MIT] }\n  artifact: { identifiers: [cncf] }\n',
    );
    const r = await runCli(['verify', ref, '--policy', p, '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { rule: string; ok: boolean }[];
      bundles: { trusted: boolean }[];
    };
    expect(report.ok).toBe(true);
    expect(report.bundles.filter((b) => b.trusted)).toHaveLength(3);
    expect(report.checks.map((c) => c.rule)).toEqual([
      'minSignatures',
      'require.predicates',
      'require.licenses',
      'require.artifact.identifiers',
    ]);
  });

  it('rejects a signer the policy does not trust (exit 9, names the rule)', async () => {
    const p = join(tmp.dir, 'wrong-key.yaml');
    writeFileSync(p, `version: 1\nsigners:\n  - key: { path: ${other.pub} }\n`);
    const r = await runCli(['verify', ref, '--policy', p, '--key', good.pub]);
    expect(r.status).toBe(9);
    expect(r.stdout).toMatch(/FAIL minSignatures: 0 distinct trusted signer/);
    expect(r.stdout).toMatch(/not trusted by the policy/);
  });

  it('rejects a missing required predicate, a too-low MOF class, a denied licence, a wrong identifier family', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'pred',
        'require:\n  predicates: [https://model_signing/signature/v1.0]\n',
        /FAIL require\.predicates: https:\/\/model_signing/,
      ],
      ['mof', 'require:\n  mof: { minClass: 3 }\n', /FAIL require\.mof\.minClass: MOF class none \(re-evaluated\)/],
      ['lic', 'require:\n  licenses: { deny: [MIT] }\n', /FAIL require\.licenses: denied: MIT/],
      ['fam', 'require:\n  artifact: { identifiers: [cnai] }\n', /FAIL require\.artifact\.identifiers/],
    ];
    for (const [name, body, expected] of cases) {
      const r = await runCli(['verify', ref, '--policy', policy(name, body)]);
      expect(r.status).toBe(9);
      expect(r.stdout).toMatch(expected);
      expect(r.stderr).toMatch(/error: .* does not meet/);
    }
  });

  it('--verify-files: an extracted copy passes; a modified, a missing and an extra file fail', async () => {
    expect((await runCli(['attest', ref, '--type', 'files', '--key', good.key, '--no-tlog'])).status).toBe(0);
    const dir = join(tmp.dir, 'extracted');
    expect((await runCli(['pull', ref, '--extract', dir])).status).toBe(0);
    const p = policy('files', '');
    const ok = await runCli(['verify', ref, '--policy', p, '--verify-files', dir]);
    expect(ok.stdout).toMatch(/ok {3}verify-files/);
    expect(ok.status).toBe(0);
    writeFileSync(join(dir, 'config.json'), '{"tampered": true}');
    rmSync(join(dir, 'LICENSE'));
    writeFileSync(join(dir, 'backdoor.py'), 'print(1)');
    const bad = await runCli(['verify', ref, '--policy', p, '--verify-files', dir]);
    expect(bad.status).toBe(9);
    expect(bad.stdout).toMatch(/FAIL verify-files: modified: config\.json; missing: LICENSE; not signed: backdoor\.py/);
  });

  it('refuses an invalid policy with the line (exit 3)', async () => {
    const p = join(tmp.dir, 'bad.yaml');
    writeFileSync(
      p,
      'version: 1\nsigners:\n  - keyless: { issuer: https://accounts.google.com, identity: release@acme.com }\n',
    );
    const r = await runCli(['verify', ref, '--policy', p]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/bad\.yaml:3/);
  });
});

describe('signer matching', () => {
  const policy = parsePolicy(
    'version: 1\nsigners:\n  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }\n',
    'p.yaml',
  );
  const signer = (subject: string, issuer = 'https://token.actions.githubusercontent.com'): VerifiedSigner => ({
    kind: 'keyless',
    subject,
    issuer,
    extensions: {},
  });
  it('accepts the workflow identity and refuses look-alikes and other issuers', () => {
    const ok = 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main';
    expect(matchSigner(signer(ok), policy.signers, new Map())).toBeDefined();
    expect(matchSigner(signer(ok.replace('acme/', 'evil-org/acme/')), policy.signers, new Map())).toBeUndefined();
    expect(matchSigner(signer(`${ok}-evil`), policy.signers, new Map())).toBeUndefined();
    expect(matchSigner(signer(ok, 'https://evil.example.com'), policy.signers, new Map())).toBeUndefined();
  });
});
