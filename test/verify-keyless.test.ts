import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packSample, runCli } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Keyless sign through the CLI against stand-ins, then verify with a pinned trusted root and identity policies. */
describe('verify keyless signatures: identity, issuer and trusted root', () => {
  let si: SigstoreStandins;
  let ref: string;
  let root: string;
  beforeAll(async () => {
    si = await startSigstoreStandins();
    root = join(tmp.dir, 'trusted_root.json');
    writeFileSync(root, JSON.stringify(si.trustedRoot));
    const layout = join(tmp.dir, 'oci');
    ref = `oci:${layout}@${await packSample(tmp.dir, `oci:${layout}:v1`)}`;
    const r = await keylessCli(si, ['sign', ref], { via: 'actions' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
  afterAll(async () => si?.stop());

  const policy = (name: string, signer: string): string => {
    const p = join(tmp.dir, `${name}.yaml`);
    writeFileSync(p, `version: 1\nsigners:\n  - ${signer}\ntrust:\n  trustedRoot: ${root}\n`);
    return p;
  };

  it('passes for the workflow identity (GitHub shorthand)', async () => {
    const p = policy(
      'ok',
      'github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }',
    );
    const r = await runCli(['verify', ref, '--policy', p]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^PASS/);
  });

  it('fails for another repository, a look-alike org and another issuer, naming the signer', async () => {
    const cases = [
      'github: { repository: acme/other, workflow: .github/workflows/release.yml, ref: refs/heads/main }',
      "keyless: { issuer: https://token.actions.githubusercontent.com, identity: '^https://github.com/evil-org/acme/models/.+$' }",
      "keyless: { issuer: https://accounts.google.com, identity: '^https://github.com/acme/models/.+$' }",
    ];
    for (const [i, signer] of cases.entries()) {
      const r = await runCli(['verify', ref, '--policy', policy(`bad${i}`, signer)]);
      expect(r.status).toBe(9);
      expect(r.stdout).toMatch(/FAIL minSignatures: 0 distinct trusted signer/);
      expect(r.stdout).toMatch(
        /https:\/\/github\.com\/acme\/models\/\.github\/workflows\/release\.yml@refs\/heads\/main is not trusted/,
      );
    }
  });

  it('fails against another instance trusted root: the bundle does not verify', async () => {
    const other = await startSigstoreStandins();
    try {
      const otherRoot = join(tmp.dir, 'other_root.json');
      writeFileSync(otherRoot, JSON.stringify(other.trustedRoot));
      const p = policy(
        'ok2',
        'github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }',
      );
      const r = await runCli(['verify', ref, '--policy', p, '--trusted-root', otherRoot]);
      expect(r.status).toBe(9);
      expect(r.stdout).toMatch(/rejected/);
    } finally {
      await other.stop();
    }
  });
});
