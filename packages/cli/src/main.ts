import { Command, CommanderError } from 'commander';
import { ERROR_CODES, isModelshipError, toModelshipError } from '@modelship/core';
import { processIO, untrustedLines, type CliIO } from './io.js';
import { cliOptionName } from './option-names.js';
import { VERSION } from './version.js';
import { registerPack } from './commands/pack.js';
import { registerCp, registerPull, registerPush } from './commands/transfer.js';
import { registerInspect } from './commands/inspect.js';
import { registerLs, registerTag } from './commands/tags.js';
import { registerGc, registerRm } from './commands/remove.js';
import { registerSign } from './commands/sign.js';
import { registerGenerateKeyPair } from './commands/keys.js';
import { registerAttest } from './commands/attest.js';
import { registerVerify } from './commands/verify.js';
import { registerPromote } from './commands/promote.js';
import { registerPolicy } from './commands/policy.js';
import { registerLogin } from './commands/login.js';
import { registerConvert } from './commands/convert.js';
import { registerImport } from './commands/import.js';
import { registerMirror } from './commands/mirror.js';

export { VERSION };

export function buildProgram(io: CliIO): Command {
  const program = new Command('modelship')
    .description('Release ML models the way you release containers (ModelPack OCI artifacts).')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run modelship --help for usage)')
    // Usage errors quote the arguments, which a workflow may have built from untrusted text.
    .configureOutput({ writeOut: io.out, writeErr: (t) => io.err(untrustedLines(t)) })
    .exitOverride();
  registerPack(program, io);
  registerPush(program, io);
  registerPull(program, io);
  registerCp(program, io);
  registerInspect(program, io);
  registerLs(program, io);
  registerTag(program, io);
  registerRm(program, io);
  registerGc(program, io);
  registerSign(program, io);
  registerGenerateKeyPair(program, io);
  registerAttest(program, io);
  registerVerify(program, io);
  registerPromote(program, io);
  registerPolicy(program, io);
  registerLogin(program, io);
  registerConvert(program, io);
  registerImport(program, io);
  registerMirror(program, io);
  return program;
}

/**
 * Runs the CLI and returns the exit code (documented in docs/cli.md): 0 ok, 2 usage,
 * 3 input, 4 invalid content, 5 auth, 6 not found, 7 network, 8 conflict, 9 policy failed, 70 internal.
 */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return 0;
      return ERROR_CODES.USAGE;
    }
    return reportError(e, io);
  }
}

/** Prints a failure as `error:` and `hint:` lines, core's settings named by their flags; returns the exit code. */
export function reportError(e: unknown, io: CliIO): number {
  const err = isModelshipError(e) ? e : toModelshipError(e);
  // Messages quote registry bodies, tags, file names: each line is neutralised, so none of
  // them can start a workflow command on a runner; the message keeps its own line breaks.
  const { message, hint } = err.render(cliOptionName);
  io.err(`error: ${untrustedLines(message)}\n`);
  if (hint) io.err(`hint: ${untrustedLines(hint)}\n`);
  if (io.env.MODELSHIP_DEBUG && err.stack) io.err(`${untrustedLines(err.stack)}\n`);
  return err.exitCode;
}
