import type { Command } from 'commander';
import {
  KEY_ALGORITHMS,
  ModelshipError,
  generateKeyPair,
  parseChoice,
  writeKeyPair,
  type KeyAlgorithm,
} from '@modelship/core';
import { safe, type CliIO, printResult } from '../io.js';

interface GenerateKeyPairFlags {
  outputKeyPrefix: string;
  algorithm: string;
  force?: boolean;
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
    .option(
      '--password-stdin',
      'read the password from standard input (else MODELSHIP_KEY_PASSWORD or COSIGN_PASSWORD; empty = unencrypted)',
    )
    .option('--json', 'print the result as JSON')
    .action(async (flags: GenerateKeyPairFlags) => {
      const r = await runGenerateKeyPair(flags, io);
      printResult(io, flags.json, r);
    });
}

async function runGenerateKeyPair(flags: GenerateKeyPairFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  const algorithm = parseChoice<KeyAlgorithm>(flags.algorithm, KEY_ALGORITHMS, '--algorithm');
  if (!flags.outputKeyPrefix) throw new ModelshipError('USAGE', '--output-key-prefix is empty');

  const password = await keyPassword(flags, io);
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
 * Same sources and precedence as cosign (COSIGN_PASSWORD), ours first. No prompt: with no
 * source at all we stop rather than silently write an unencrypted key.
 */
async function keyPassword(flags: GenerateKeyPairFlags, io: CliIO): Promise<string> {
  if (flags.passwordStdin) return (await io.readStdin()).replace(/\r?\n$/, '');
  const fromEnv = io.env.MODELSHIP_KEY_PASSWORD ?? io.env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return fromEnv;
  throw new ModelshipError('USAGE', 'no password for the new private key', {
    hint:
      'set MODELSHIP_KEY_PASSWORD (or COSIGN_PASSWORD), or pass --password-stdin; ' +
      'set it to an empty string to write an unencrypted key',
  });
}
