// Security review, licence rules: a deny list cannot be dodged by spelling a licence another
// way (case, deprecated id, `+`), and a licence SPDX does not know fails instead of passing.
// Real packs with `--license`, key-signed, verified through the CLI.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('verify: require.licenses is SPDX-aware', () => {
  const layout = join(tmp.dir, 'oci');
  const refs: Record<string, string> = {};
  const key = join(tmp.dir, 'k.key');
  const pub = join(tmp.dir, 'k.pub');
  const policy = (name: string, licenses: string): string => {
    const p = join(tmp.dir, `${name}.yaml`);
    writeFileSync(p, `version: 1\nsigners:\n  - key: { path: ${pub} }\nrequire:\n  licenses: ${licenses}\n`);
    return p;
  };

  beforeAll(async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(key, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, kp.publicKey.export({ type: 'spki', format: 'pem' }));
    for (const [tag, license] of [
      ['mixed-case', 'Gpl-3.0-Only'],
      ['plus', 'GPL-3.0+'],
      ['unknown', 'MIT OR Gpl-3.1'],
    ] as const) {
      const digest = await packSample(tmp.dir, `oci:${layout}:${tag}`, ['--license', license]);
      refs[tag] = `oci:${layout}@${digest}`;
      expect((await runCli(['sign', refs[tag]!, '--key', key, '--no-tlog'])).status).toBe(0);
    }
  });

  it('Gpl-3.0-Only and GPL-3.0+ hit a GPL-3.0-only deny (exit 9, the normalised id named)', async () => {
    const p = policy('deny', '{ deny: [GPL-3.0-only] }');
    const a = await runCli(['verify', refs['mixed-case']!, '--policy', p]);
    expect(a.stdout).toMatch(/FAIL require\.licenses: denied: GPL-3\.0-only \(declared "Gpl-3\.0-Only"\)/);
    expect(a.status).toBe(9);
    const b = await runCli(['verify', refs['plus']!, '--policy', p]);
    expect(b.stdout).toMatch(/FAIL require\.licenses: denied: GPL-3\.0-or-later \(declared "GPL-3\.0\+"\)/);
    expect(b.status).toBe(9);
    // The signature itself is fine: the licence is the only failing rule.
    expect(b.stdout).toMatch(/ok {3}minSignatures/);
  });

  it('an id SPDX does not list is a finding, not a pass', async () => {
    const r = await runCli(['verify', refs['unknown']!, '--policy', policy('deny-other', '{ deny: [AGPL-3.0-only] }')]);
    expect(r.stdout).toMatch(/FAIL require\.licenses: invalid licence expression "MIT OR Gpl-3\.1": "Gpl-3\.1" is not/);
    expect(r.status).toBe(9);
  });

  it('allow accepts other spellings of an allowed licence', async () => {
    const r = await runCli(['verify', refs['plus']!, '--policy', policy('allow', '{ allow: [gpl-3.0] }')]);
    expect(r.stdout).toMatch(/ok {3}require\.licenses: licences GPL-3\.0-or-later/);
    expect(r.status).toBe(0);
  });

  it('an unknown id in the policy is an INPUT error naming the line (exit 3)', async () => {
    const r = await runCli(['verify', refs['plus']!, '--policy', policy('bad', '{ deny: [GPL-3.1] }')]);
    expect(r.stderr).toMatch(
      /bad\.yaml:5: require\.licenses\.deny\[0\] "GPL-3\.1": "GPL-3\.1" is not an SPDX licence id/,
    );
    expect(r.status).toBe(3);
  });
});
