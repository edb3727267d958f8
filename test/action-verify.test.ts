import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('actions/verify through dist/verify/index.js', () => {
  let ref: string;
  let digest: string;
  const pub = join(tmp.dir, 'release.pub');
  beforeAll(async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const key = join(tmp.dir, 'release.key');
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const layout = join(tmp.dir, 'oci');
    digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    ref = `oci:${layout}@${digest}`;
    expect((await runCli(['sign', ref, '--key', key, '--no-tlog'])).status).toBe(0);
  });

  it('passes: outputs, JSON report and a summary table of checks and bundles', async () => {
    const policy = join(tmp.dir, 'ok.yaml');
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);
    const r = await runAction('verify', { reference: ref, policy }, tmp.dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.outputs.verified).toBe('true');
    expect(r.outputs.digest).toBe(digest);
    expect((JSON.parse(readFileSync(r.outputs['report-path']!, 'utf8')) as { ok: boolean }).ok).toBe(true);
    expect(r.summary).toContain('modelship verify: passed');
    expect(r.summary).toContain('minSignatures');
  });

  it('fails the step with POLICY and the failed rule when a required predicate is missing', async () => {
    const policy = join(tmp.dir, 'strict.yaml');
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\nrequire:\n  mof: { minClass: 3 }\n`);
    const r = await runAction('verify', { reference: ref, policy }, tmp.dir);
    expect(r.status).toBe(1);
    expect(r.outputs.verified).toBe('false');
    expect(r.stdout).toMatch(/::error::POLICY: .*require\.predicates/);
    expect(r.summary).toContain('modelship verify: FAILED');
  });

  it('an invalid policy is an INPUT error naming the line', async () => {
    const policy = join(tmp.dir, 'bad.yaml');
    writeFileSync(policy, 'version: 1\nsignerz: []\n');
    const r = await runAction('verify', { reference: ref, policy }, tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::INPUT: .*bad\.yaml:2/);
  });
});
