// Bad trust inputs to verify and promote: each names the file and exits INPUT (3) or USAGE (2)
// before anything is verified or written.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packSample, runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('verify and promote refuse unreadable trust inputs', () => {
  let ref: string;
  const policy = join(tmp.dir, 'policy.yaml');
  beforeAll(async () => {
    const layout = join(tmp.dir, 'oci');
    ref = `oci:${layout}@${await packSample(tmp.dir, `oci:${layout}:v1`)}`;
    writeFileSync(policy, 'version: 1\nsigners:\n  - keyless: { issuer: https://issuer.example, identity: "^x$" }\n');
  });

  it('verify --key with a missing file: exit 3 naming it', async () => {
    const r = await runCli(['verify', ref, '--policy', policy, '--key', join(tmp.dir, 'nope.pub')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`cannot read public key ${join(tmp.dir, 'nope.pub')}`);
  });

  it('promote --public-key with a missing file: exit 3, destination not created', async () => {
    const dest = join(tmp.dir, 'prod');
    const r = await runCli([
      'promote',
      ref,
      `oci:${dest}:v1`,
      '--policy',
      policy,
      '--no-record',
      '--public-key',
      join(tmp.dir, 'nope.pub'),
    ]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('cannot read public key');
    expect(existsSync(dest)).toBe(false);
  });

  it('verify --tuf-mirror that is not a URL: exit 2 naming the flag value', async () => {
    const r = await runCli(['verify', ref, '--policy', policy, '--tuf-mirror', 'not a url']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('not a url');
  });
});
