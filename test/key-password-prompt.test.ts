/**
 * The key password prompt on a real terminal (a pseudo-terminal from util-linux `script`,
 * test/helpers/pty.ts), as cosign asks: generate-key-pair twice with echo off, sign with an
 * encrypted key once. Without a terminal nothing is asked (packages/cli/test/generate-key-pair.test.ts).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrivateKey } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { runCliInPty } from './helpers/pty.js';
import { tempDir } from './helpers/tmp.js';
import { layoutBundles } from './helpers/verify.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const bundleCount = async (layout: string, digest: string): Promise<number> =>
  (await layoutBundles(layout, digest)).length;

const PASSWORD = 'pty-s3cret-Passw0rd';
// No password in the environment: the prompt is the only source.
const env = { MODELSHIP_KEY_PASSWORD: undefined, COSIGN_PASSWORD: undefined };
const FIRST = 'Enter password for private key: ';
const AGAIN = 'Enter password for private key again: ';

describe('generate-key-pair on a terminal', () => {
  it('asks twice with echo off and writes an encrypted key', async () => {
    const prefix = join(tmp.dir, 'a', 'cosign');
    const r = await runCliInPty(
      ['generate-key-pair', '--output-key-prefix', prefix],
      [
        { expect: FIRST, send: `${PASSWORD}\r` },
        { expect: AGAIN, send: `${PASSWORD}\r` },
      ],
      { env },
    );
    expect(r.status).toBe(0);
    expect(r.screen).toContain(`private key: ${prefix}.key (encrypted)`);
    // echo off: what was typed never reached the screen
    expect(r.screen).not.toContain(PASSWORD);
    expect(readFileSync(`${prefix}.key`, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----/);
    await expect(loadPrivateKey({ path: `${prefix}.key` }, PASSWORD)).resolves.toMatchObject({
      algorithm: 'ecdsa-p256',
    });
  });

  it('two different passwords: exit 2, nothing written', async () => {
    const prefix = join(tmp.dir, 'b', 'cosign');
    const r = await runCliInPty(
      ['generate-key-pair', '--output-key-prefix', prefix],
      [
        { expect: FIRST, send: `${PASSWORD}\r` },
        { expect: AGAIN, send: `${PASSWORD}-typo\r` },
      ],
      { env },
    );
    expect(r.status).toBe(2);
    expect(r.screen).toContain('error: passwords do not match; nothing written');
    expect(existsSync(`${prefix}.key`)).toBe(false);
  });

  it('an empty password twice asks before writing an unencrypted key', async () => {
    const prefix = join(tmp.dir, 'c', 'cosign');
    // Enter twice (an empty password), then `answer` to the question it asks.
    const emptyPassword = (answer: string): ReturnType<typeof runCliInPty> =>
      runCliInPty(
        ['generate-key-pair', '--output-key-prefix', prefix],
        [
          { expect: FIRST, send: '\r' },
          { expect: AGAIN, send: '\r' },
          { expect: 'Continue? [y/N] ', send: `${answer}\r` },
        ],
        { env },
      );
    const refused = await emptyPassword('');
    expect(refused.status).toBe(2);
    expect(existsSync(`${prefix}.key`)).toBe(false);
    const accepted = await emptyPassword('y');
    expect(accepted.status).toBe(0);
    expect(accepted.screen).toContain('(unencrypted)');
    expect(readFileSync(`${prefix}.key`, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });
});

describe('sign with an encrypted key on a terminal', () => {
  it('asks once for the password (echo off); a wrong one is exit 5 and nothing is attached', async () => {
    const prefix = join(tmp.dir, 'sign', 'cosign');
    const made = await runCli(['generate-key-pair', '--output-key-prefix', prefix], {
      env: { MODELSHIP_KEY_PASSWORD: PASSWORD },
    });
    expect(made.status).toBe(0);
    const layout = join(tmp.dir, 'layout');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;

    const wrong = await runCliInPty(
      ['sign', ref, '--key', `${prefix}.key`, '--no-tlog'],
      [{ expect: FIRST, send: 'not-the-password\r' }],
      { env },
    );
    expect(wrong.status).toBe(5);
    expect(wrong.screen).toContain(`error: wrong password for ${prefix}.key`);
    expect(await bundleCount(layout, digest)).toBe(0);

    const ok = await runCliInPty(
      ['sign', ref, '--key', `${prefix}.key`, '--no-tlog'],
      [{ expect: FIRST, send: `${PASSWORD}\r` }],
      { env },
    );
    expect(ok.status).toBe(0);
    expect(ok.screen).toContain(`signed ${ref}`);
    expect(ok.screen).not.toContain(PASSWORD);
    expect(await bundleCount(layout, digest)).toBe(1);

    // Without a terminal the same command asks nothing and names the password's sources.
    const piped = await runCli(['sign', ref, '--key', `${prefix}.key`, '--no-tlog'], { env });
    expect(piped.status).toBe(2);
    expect(piped.stderr).toContain(`error: ${prefix}.key is encrypted and no password was given`);
    expect(piped.stderr).toContain(
      'hint: pass the password with MODELSHIP_KEY_PASSWORD (or COSIGN_PASSWORD), or --key-password-stdin',
    );
  });

  it('--key-password-stdin reads it from standard input; with --password-stdin too it is a usage error', async () => {
    const prefix = join(tmp.dir, 'stdin', 'cosign');
    expect(
      (
        await runCli(['generate-key-pair', '--output-key-prefix', prefix, '--key-password-stdin'], {
          input: `${PASSWORD}\n`,
        })
      ).status,
    ).toBe(0);
    const layout = join(tmp.dir, 'layout-stdin');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;
    const ok = await runCli(['sign', ref, '--key', `${prefix}.key`, '--no-tlog', '--key-password-stdin'], {
      env,
      input: `${PASSWORD}\n`,
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const both = await runCli(
      ['sign', ref, '--key', `${prefix}.key`, '--no-tlog', '--key-password-stdin', '--password-stdin', '-u', 'me'],
      { env, input: `${PASSWORD}\n` },
    );
    expect(both.status).toBe(2);
    expect(both.stderr).toContain(
      'standard input can carry only one secret, but --password-stdin and --key-password-stdin both read it',
    );
  });
});
