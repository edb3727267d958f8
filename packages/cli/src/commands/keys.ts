import { Option, type Command } from 'commander';
import {
  KEY_ALGORITHMS,
  ModelshipError,
  generateKeyPair,
  parseChoice,
  writeKeyPair,
  type KeyAlgorithm,
} from '@modelship/core';
import { safe, type CliIO, printResult } from '../io.js';
import { KEY_PASSWORD_STDIN_HELP, keyPasswordFromFlags } from '../options.js';
import type { Terminal } from '../prompt.js';

interface GenerateKeyPairFlags {
  outputKeyPrefix: string;
  algorithm: string;
  force?: boolean;
  keyPasswordStdin?: boolean;
  passwordStdin?: boolean;
  json?: boolean;
}

export function registerGenerateKeyPair(program: Command, io: CliIO): void {
  program
    .command('generate-key-pair')
    .description('create a signing key pair: <prefix>.key (private, 0600) and <prefix>.pub, as cosign names them')
    .option('--output-key-prefix <prefix>', 'path prefix of the two files', 'cosign')
    .option('--algorithm <algorithm>', `key algorithm: ${KEY_ALGORITHMS.join(', ')}`, 'ecdsa-p256')
    .option('--force', 'overwrite existing key files (the old key is lost)')
    .option('--key-password-stdin', `${KEY_PASSWORD_STDIN_HELP}; empty = unencrypted`)
    // The name every other verb gives the registry password: refused with the new name here.
    .addOption(new Option('--password-stdin').hideHelp())
    .option('--json', 'print the result as JSON')
    .action(async (flags: GenerateKeyPairFlags) => {
      const r = await runGenerateKeyPair(flags, io);
      printResult(io, flags.json, r);
    });
}

async function runGenerateKeyPair(flags: GenerateKeyPairFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  if (flags.passwordStdin)
    throw new ModelshipError('USAGE', 'generate-key-pair reads the key password with --key-password-stdin', {
      hint: '--password-stdin is the registry password of the other verbs; pass --key-password-stdin',
    });
  const algorithm = parseChoice<KeyAlgorithm>(flags.algorithm, KEY_ALGORITHMS, '--algorithm');
  if (!flags.outputKeyPrefix) throw new ModelshipError('USAGE', '--output-key-prefix is empty');

  const password = await newKeyPassword(flags, io);
  if (password === '')
    io.err('warning: empty password: the private key is written unencrypted; anyone who can read the file can sign\n');
  const pair = generateKeyPair({ algorithm, ...(password ? { password } : {}) });
  const paths = await writeKeyPair(flags.outputKeyPrefix, pair, { force: flags.force ?? false });
  const text =
    safe`private key: ${paths.privateKeyPath}` +
    `${pair.encrypted ? ' (encrypted)' : ' (unencrypted)'}\n` +
    safe`public key: ${paths.publicKeyPath}\nkey hint: ${pair.hint}\n`;
  const result = {
    privateKeyPath: paths.privateKeyPath,
    publicKeyPath: paths.publicKeyPath,
    hint: pair.hint,
    algorithm: pair.algorithm,
    encrypted: pair.encrypted,
  };
  return { text, json: result };
}

/**
 * cosign's sources in cosign's order (`readPasswordFn`: COSIGN_PASSWORD, else the terminal;
 * docs/cli.md, "Keys"), ours first: --key-password-stdin,
 * MODELSHIP_KEY_PASSWORD, COSIGN_PASSWORD, else a prompt when standard input is a terminal.
 * Without a terminal cosign reads a piped password; here that is --key-password-stdin, and no
 * source at all stops rather than silently write an unencrypted key.
 */
async function newKeyPassword(flags: GenerateKeyPairFlags, io: CliIO): Promise<string> {
  const given = await keyPasswordFromFlags(flags, io);
  if (given !== undefined) return given;
  if (io.terminal) return promptNewPassword(io.terminal);
  throw new ModelshipError('USAGE', 'no password for the new private key, and standard input is not a terminal', {
    hint:
      'set MODELSHIP_KEY_PASSWORD (or COSIGN_PASSWORD), or pass --key-password-stdin; ' +
      'set it to an empty string to write an unencrypted key',
  });
}

/**
 * As cosign's `GetPassFromTerm` (docs/cli.md, "Keys"): twice, echo off, the two must match.
 * cosign accepts an empty password; modelship then writes the key unencrypted, so it asks first.
 */
async function promptNewPassword(t: Terminal): Promise<string> {
  const first = await t.secret('Enter password for private key: ');
  const again = await t.secret('Enter password for private key again: ');
  if (first !== again)
    throw new ModelshipError('USAGE', 'passwords do not match; nothing written', {
      hint: 'run generate-key-pair again and type the same password twice',
    });
  if (first !== '') return first;
  const answer = await t.line(
    'An empty password writes the private key unencrypted: anyone who can read the file can sign. Continue? [y/N] ',
  );
  if (/^\s*y(es)?\s*$/i.test(answer)) return '';
  throw new ModelshipError('USAGE', 'no password given; nothing written', {
    hint: 'run generate-key-pair again and type a password, or answer y to write an unencrypted key',
  });
}
