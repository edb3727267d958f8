import { spawn } from 'node:child_process';
import { CLI, REPO_ROOT } from './tmp.js';

export interface PtyStep {
  /** Wait until the terminal shows this (after the previous step's match)… */
  expect: string;
  /** …then type this (`\r` is the Enter key). */
  send: string;
}

export interface PtyRun {
  status: number | null;
  /** Everything the terminal showed: the CLI's stdout and stderr, and whatever it echoed. */
  screen: string;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs the built CLI on a real pseudo-terminal: util-linux `script` opens one and runs the
 * command on it, so the CLI's standard input is a terminal (isatty), and what the terminal
 * echoes comes back on `script`'s output. Each step waits for its prompt before typing, as a
 * user does: typed earlier, the terminal would still be in its normal echoing mode.
 */
export function runCliInPty(
  args: string[],
  steps: PtyStep[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<PtyRun> {
  const command = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    // -q quiet, -e the command's exit status, -c the command; the log file is /dev/null.
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: REPO_ROOT,
      env: { ...process.env, MODELSHIP_DEBUG: '', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    let from = 0;
    const pending = [...steps];
    const advance = (): void => {
      const step = pending[0];
      if (!step) return;
      const at = screen.indexOf(step.expect, from);
      if (at < 0) return;
      from = at + step.expect.length;
      pending.shift();
      child.stdin.write(step.send);
      advance();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pty run timed out waiting for ${JSON.stringify(pending[0]?.expect)}; screen:\n${screen}`));
    }, options.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      advance();
    });
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      if (pending.length) reject(new Error(`the CLI ended before ${JSON.stringify(pending[0]!.expect)}:\n${screen}`));
      else resolve({ status, screen });
    });
  });
}
