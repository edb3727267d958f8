import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ERROR_CODES, isModelshipError, loadPrivateKey, loadPublicKey } from '@modelship/core';
import { registerGenerateKeyPair } from '../src/commands/keys.js';
import { reportError } from '../src/main.js';
import type { CliIO } from '../src/io.js';
import type { Terminal } from '../src/prompt.js';
import { fakeIO, type FakeIO } from './fake-io.js';

/** A terminal that answers from a list and records what it was asked. */
function scripted(answers: string[]): Terminal & { asked: string[] } {
  const asked: string[] = [];
  const next = async (kind: string, prompt: string): Promise<string> => {
    asked.push(`${kind}:${prompt}`);
    const a = answers.shift();
    if (a === undefined) throw new Error(`unexpected prompt ${prompt}`);
    return a;
  };
  return { asked, secret: (p) => next('secret', p), line: (p) => next('line', p) };
}

function program(io: CliIO): Command {
  const p = new Command('modelship').exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  registerGenerateKeyPair(p, io);
  return p;
}

/** What main() does with the command: exit code, error and hint on stderr. */
async function cli(args: string[], io: FakeIO): Promise<number> {
  try {
    await program(io).parseAsync(['node', 'modelship', 'generate-key-pair', ...args]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return ERROR_CODES.USAGE;
    if (!isModelshipError(e)) throw e;
    return reportError(e, io);
  }
}

const PASSWORD = 'tr0ub4dor&3-modelship';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelship-gkp-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('modelship generate-key-pair', () => {
  it('defaults to the prefix "cosign" and ECDSA P-256, as cosign does', () => {
    const cmd = program(fakeIO()).commands.find((c) => c.name() === 'generate-key-pair')!;
    const defaults = Object.fromEntries(cmd.options.map((o) => [o.long, o.defaultValue as unknown]));
    expect(defaults['--output-key-prefix']).toBe('cosign');
    expect(defaults['--algorithm']).toBe('ecdsa-p256');
  });

  it('MODELSHIP_KEY_PASSWORD: writes an encrypted cosign key (0600) and .pub (0644), prints paths and hint', async () => {
    const prefix = join(dir, 'a', 'cosign');
    const io = fakeIO({ MODELSHIP_KEY_PASSWORD: PASSWORD, COSIGN_PASSWORD: 'not-this-one' });
    expect(await cli(['--output-key-prefix', prefix], io)).toBe(0);
    const priv = await readFile(`${prefix}.key`, 'utf8');
    expect(priv).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    expect((await stat(`${prefix}.key`)).mode & 0o777).toBe(0o600);
    expect((await stat(`${prefix}.pub`)).mode & 0o777).toBe(0o644);
    const key = await loadPrivateKey({ path: `${prefix}.key` }, PASSWORD);
    expect(key.algorithm).toBe('ecdsa-p256');
    expect((await loadPublicKey({ path: `${prefix}.pub` })).hint).toBe(key.hint);
    expect(io.stdout).toContain(`private key: ${prefix}.key (encrypted)`);
    expect(io.stdout).toContain(`public key: ${prefix}.pub`);
    expect(io.stdout).toContain(`key hint: ${key.hint}`);
    expect(io.stderr).toBe('');
    // ours wins over cosign's variable
    expect(
      (await loadPrivateKey({ path: `${prefix}.key` }, 'not-this-one').catch((e: unknown) => e)) as {
        code: string;
      },
    ).toMatchObject({ code: 'AUTH' });
    expect(io.stdout + io.stderr).not.toContain(PASSWORD);
  });

  it('COSIGN_PASSWORD alone, Ed25519, --json', async () => {
    const prefix = join(dir, 'b', 'release');
    const io = fakeIO({ COSIGN_PASSWORD: PASSWORD });
    expect(await cli(['--output-key-prefix', prefix, '--algorithm', 'ed25519', '--json'], io)).toBe(0);
    const out = JSON.parse(io.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      privateKeyPath: `${prefix}.key`,
      publicKeyPath: `${prefix}.pub`,
      hint: expect.stringMatching(/^[0-9a-f]{64}$/),
      algorithm: 'ed25519',
      encrypted: true,
    });
    const key = await loadPrivateKey({ path: `${prefix}.key` }, PASSWORD);
    expect(key.algorithm).toBe('ed25519');
    expect(key.hint).toBe(out['hint']);
  });

  it('--key-password-stdin (trailing newline stripped) beats the environment', async () => {
    const prefix = join(dir, 'c', 'cosign');
    const io = fakeIO({ MODELSHIP_KEY_PASSWORD: 'env-password' }, `${PASSWORD}\n`);
    expect(await cli(['--output-key-prefix', prefix, '--key-password-stdin'], io)).toBe(0);
    await expect(loadPrivateKey({ path: `${prefix}.key` }, PASSWORD)).resolves.toMatchObject({
      algorithm: 'ecdsa-p256',
    });
  });

  it('--password-stdin (the registry password elsewhere) is refused, naming --key-password-stdin', async () => {
    const sub = join(dir, 'c2');
    const io = fakeIO({}, `${PASSWORD}\n`);
    expect(await cli(['--output-key-prefix', join(sub, 'cosign'), '--password-stdin'], io)).toBe(ERROR_CODES.USAGE);
    expect(io.stderr).toContain('--key-password-stdin');
    await expect(readdir(sub)).rejects.toThrow();
  });

  it('an empty password writes an unencrypted PKCS#8 key, with a warning on stderr', async () => {
    const prefix = join(dir, 'd', 'cosign');
    const io = fakeIO({ COSIGN_PASSWORD: '' });
    expect(await cli(['--output-key-prefix', prefix], io)).toBe(0);
    expect(io.stderr).toMatch(/^warning: .*unencrypted/);
    expect(await readFile(`${prefix}.key`, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(io.stdout).toContain('(unencrypted)');
    await expect(loadPrivateKey({ path: `${prefix}.key` })).resolves.toMatchObject({ algorithm: 'ecdsa-p256' });
  });

  it('no password source and no terminal → exit 2 naming the variables, nothing written', async () => {
    const sub = join(dir, 'e');
    const io = fakeIO({});
    expect(await cli(['--output-key-prefix', join(sub, 'cosign')], io)).toBe(ERROR_CODES.USAGE);
    expect(io.stderr).toContain('error: no password for the new private key, and standard input is not a terminal');
    expect(io.stderr).toMatch(/hint: set MODELSHIP_KEY_PASSWORD \(or COSIGN_PASSWORD\), or pass --key-password-stdin/);
    expect(io.stderr).not.toMatch(/--password-stdin/);
    await expect(readdir(sub)).rejects.toThrow();
  });

  describe('on a terminal (a scripted one here; test/key-password-prompt.test.ts types into a real pseudo-terminal)', () => {
    it('asks twice; the same password twice writes an encrypted key', async () => {
      const prefix = join(dir, 't1', 'cosign');
      const t = scripted([PASSWORD, PASSWORD]);
      expect(await cli(['--output-key-prefix', prefix], fakeIO({}, '', t))).toBe(0);
      expect(t.asked).toEqual([
        'secret:Enter password for private key: ',
        'secret:Enter password for private key again: ',
      ]);
      await expect(loadPrivateKey({ path: `${prefix}.key` }, PASSWORD)).resolves.toMatchObject({
        algorithm: 'ecdsa-p256',
      });
    });

    it('two different passwords → exit 2, nothing written', async () => {
      const sub = join(dir, 't2');
      const io = fakeIO({}, '', scripted([PASSWORD, `${PASSWORD}x`]));
      expect(await cli(['--output-key-prefix', join(sub, 'cosign')], io)).toBe(ERROR_CODES.USAGE);
      expect(io.stderr).toContain('passwords do not match');
      await expect(readdir(sub)).rejects.toThrow();
    });

    it('an empty password: unencrypted only after "y"; anything else writes nothing', async () => {
      const prefix = join(dir, 't3', 'cosign');
      const yes = scripted(['', '', 'y']);
      const io = fakeIO({}, '', yes);
      expect(await cli(['--output-key-prefix', prefix], io)).toBe(0);
      expect(yes.asked[2]).toMatch(/^line:An empty password writes the private key unencrypted.*\[y\/N\] $/);
      expect(await readFile(`${prefix}.key`, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(io.stderr).toMatch(/^warning: .*unencrypted/);

      const sub = join(dir, 't4');
      const no = fakeIO({}, '', scripted(['', '', '']));
      expect(await cli(['--output-key-prefix', join(sub, 'cosign')], no)).toBe(ERROR_CODES.USAGE);
      expect(no.stderr).toContain('no password given; nothing written');
      await expect(readdir(sub)).rejects.toThrow();
    });

    it('an environment password is used without asking', async () => {
      const t = scripted([]);
      expect(
        await cli(['--output-key-prefix', join(dir, 't5', 'cosign')], fakeIO({ COSIGN_PASSWORD: PASSWORD }, '', t)),
      ).toBe(0);
      expect(t.asked).toEqual([]);
    });
  });

  it('refuses to overwrite (exit 3) unless --force', async () => {
    const prefix = join(dir, 'f', 'cosign');
    const env = { MODELSHIP_KEY_PASSWORD: PASSWORD };
    expect(await cli(['--output-key-prefix', prefix], fakeIO(env))).toBe(0);
    const before = await readFile(`${prefix}.key`, 'utf8');
    const io = fakeIO(env);
    expect(await cli(['--output-key-prefix', prefix], io)).toBe(ERROR_CODES.INPUT);
    expect(io.stderr).toContain(`${prefix}.key already exists`);
    expect(io.stderr).toContain('--force');
    expect(await readFile(`${prefix}.key`, 'utf8')).toBe(before);
    expect(await cli(['--output-key-prefix', prefix, '--force'], fakeIO(env))).toBe(0);
    expect(await readFile(`${prefix}.key`, 'utf8')).not.toBe(before);
  });

  it('an unknown --algorithm is a usage error naming the flag', async () => {
    const io = fakeIO({ MODELSHIP_KEY_PASSWORD: PASSWORD });
    expect(await cli(['--output-key-prefix', join(dir, 'g', 'k'), '--algorithm', 'rsa'], io)).toBe(ERROR_CODES.USAGE);
    expect(io.stderr).toContain(
      '--algorithm "rsa" is not one of ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096, ed25519',
    );
  });

  it('--algorithm ecdsa-p384 and rsa-3072 write keys of that type', async () => {
    for (const algorithm of ['ecdsa-p384', 'rsa-3072']) {
      const prefix = join(dir, `alg-${algorithm}`, 'cosign');
      const io = fakeIO({ MODELSHIP_KEY_PASSWORD: PASSWORD });
      expect(await cli(['--output-key-prefix', prefix, '--algorithm', algorithm, '--json'], io)).toBe(0);
      expect(JSON.parse(io.stdout)).toMatchObject({ algorithm, encrypted: true });
      expect((await loadPrivateKey({ path: `${prefix}.key` }, PASSWORD)).algorithm).toBe(algorithm);
    }
  });
});
