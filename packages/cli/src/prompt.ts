import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { ModelshipError } from '@modelship/core';

/** Questions asked on the terminal: only when standard input is one (`CliIO.terminal`). */
export interface Terminal {
  /** One line typed with echo off (a password); the prompt goes to `output`. */
  secret(prompt: string): Promise<string>;
  /** One line typed with echo on (a yes/no answer). */
  line(prompt: string): Promise<string>;
}

/** The streams a terminal prompt uses; process.stdin / process.stderr, or a test's pseudo-terminal. */
export interface TerminalStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  output: NodeJS.WritableStream;
}

/**
 * A terminal on `streams`. Echo off is node's readline on the terminal in raw mode (which
 * turns the terminal's own echo off, as Go's term.ReadPassword that cosign uses does) writing
 * its echo into a muted stream; readline still does the line editing (backspace, Ctrl-U).
 * Ctrl-C cancels, end of input (Ctrl-D on an empty line) is an error: no prompt ever
 * answers for the user.
 */
export function terminal(streams: TerminalStreams): Terminal {
  return {
    secret: (prompt) => ask(streams, prompt, true),
    line: (prompt) => ask(streams, prompt, false),
  };
}

function ask(streams: TerminalStreams, prompt: string, hidden: boolean): Promise<string> {
  const echo = hidden ? new Writable({ write: (_chunk, _encoding, done) => done() }) : streams.output;
  const rl = createInterface({ input: streams.input, output: echo, terminal: true });
  if (hidden) streams.output.write(prompt);
  else {
    // readline writes the prompt, so redrawing the line (after a backspace) keeps it.
    rl.setPrompt(prompt);
    rl.prompt();
  }
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      // The Enter key was echoed into the muted stream: end the prompt's line ourselves.
      if (hidden) streams.output.write('\n');
      resolve(line);
    });
    rl.once('SIGINT', () => {
      answered = true;
      rl.close();
      streams.output.write('\n');
      reject(new ModelshipError('USAGE', 'cancelled at the prompt (Ctrl-C)'));
    });
    rl.once('close', () => {
      if (answered) return;
      streams.output.write('\n');
      reject(
        new ModelshipError('USAGE', 'no answer at the prompt: the terminal closed its input', {
          hint: 'type the answer and press Enter',
        }),
      );
    });
  });
}
