// Security review, promote.destinations: a destination is matched in its normalised form
// (absolute real layout path, lower-cased registry host), so `..` and symlinks cannot carry
// a promotion out of the directory an anchored pattern allows. Real pack, key signature and
// promote through the CLI, OCI layouts on disk.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('promote: destinations are normalised before the policy sees them', () => {
  const root = realpathSync(tmp.dir);
  const prod = join(root, 'prod');
  const outside = join(root, 'outside');
  let source: string;
  let policy: string;
  let key: string;
  const promote = (destination: string, cwd?: string) =>
    runCli(
      ['promote', '--no-progress', source, destination, '--policy', policy, '--no-record', '--key', key, '--no-tlog'],
      {
        ...(cwd ? { cwd } : {}),
      },
    );

  beforeAll(async () => {
    const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    key = join(root, 'k.key');
    const pub = join(root, 'k.pub');
    writeFileSync(key, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, kp.publicKey.export({ type: 'spki', format: 'pem' }));
    const layout = join(root, 'src');
    await packSample(root, `oci:${layout}:v1`);
    source = `oci:${layout}:v1`;
    expect((await runCli(['sign', source, '--key', key, '--no-tlog'])).status).toBe(0);
    mkdirSync(prod);
    mkdirSync(outside);
    symlinkSync(outside, join(prod, 'link'));
    const esc = prod.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
    policy = join(root, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - key: { path: ${pub} }\npromote:\n  destinations: ['^oci:${esc}/.+$']\n`,
    );
  });

  it('a ".." segment is refused (exit 2) and nothing is written where it led', async () => {
    // As written, <prod>/../escaped matches ^oci:<prod>/.+$, yet the layout would land beside prod.
    const r = await promote(`oci:${prod}/../escaped`);
    expect(r.stderr).toMatch(/has a "\.\." path segment/);
    expect(r.status).toBe(2);
    expect(existsSync(join(root, 'escaped'))).toBe(false);
  });

  it('a symlink inside the allowed directory is judged by its target (exit 9, nothing written)', async () => {
    const r = await promote(`oci:${prod}/link`);
    expect(r.stderr).toMatch(new RegExp(`does not allow promotion to oci:${prod}/link \\(oci:${outside}\\)`));
    expect(r.status).toBe(9);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('a relative layout path is resolved against the working directory and promoted', async () => {
    const r = await promote('oci:./prod/m:v1', root);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(prod, 'm', 'oci-layout'))).toBe(true);
  });
});
