import type { CliIO } from '../src/io.js';
import type { Terminal } from '../src/prompt.js';

export type FakeIO = CliIO & { stdout: string; stderr: string };

/** A CliIO that collects what the CLI prints; no TTY, `stdin` as standard input, prompts on `terminal` if given. */
export function fakeIO(env: NodeJS.ProcessEnv = {}, stdin = '', terminal?: Terminal): FakeIO {
  const o: FakeIO = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (o.stdout += t),
    err: (t: string) => void (o.stderr += t),
    isTTY: false,
    readStdin: async () => stdin,
    env,
    ...(terminal ? { terminal } : {}),
  };
  return o;
}
