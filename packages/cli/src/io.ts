import {
  createProgress,
  formatBytes,
  formatTimings,
  Timings,
  type TimingsSummary,
  safe,
  untrustedJson,
  untrustedLines,
  untrustedText,
  type BlobOutcome,
  type DryRunLog,
  type Progress,
  type ProgressMode,
} from '@modelship/core';
import { terminal, type Terminal } from './prompt.js';

/** Where the CLI writes; swappable so tests can run commands in-process. */
export interface CliIO {
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  readStdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
  /** Prompts on the terminal; absent unless standard input is a terminal (then never a prompt, as cosign). */
  terminal?: Terminal;
}

export const processIO: CliIO = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stderr.isTTY),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  env: process.env,
  // Prompts go to stderr, as cosign's: stdout stays the command's result.
  ...(process.stdin.isTTY ? { terminal: terminal({ input: process.stdin, output: process.stderr }) } : {}),
};

export function progressFor(io: CliIO, label: string, enabled: boolean): Progress {
  let mode: ProgressMode = 'none';
  if (enabled) mode = io.isTTY ? 'bar' : 'lines';
  return createProgress(label, { mode, write: io.err });
}

/**
 * Where a transfer's time went (core's timings.ts): the verb passes `timings` into core, then
 * `done` adds the bytes moved, prints the busy line on stderr (unless --json or --no-progress)
 * and returns the `--json` form.
 */
export function transferTimings(
  io: CliIO,
  enabled: boolean,
): { timings: Timings; done(bytes: number): TimingsSummary } {
  const timings = new Timings();
  return {
    timings,
    done(bytes) {
      timings.addBytes(bytes);
      timings.stop();
      const s = timings.summary();
      if (enabled) io.err(`${formatTimings(s)}\n`);
      return s;
    },
  };
}

/** A copy's word for a blob's fate (copy.ts), as the progress line says it. */
export function blobOutcome(o: 'copied' | 'mounted' | 'skipped'): BlobOutcome {
  return o === 'copied' ? 'sent' : o === 'mounted' ? 'mounted' : 'present';
}

/**
 * Output of the CLI may be read by a GitHub Actions runner (a workflow step): text from an
 * artifact, a bundle, a registry or a model directory goes through these so that it cannot
 * start a workflow command (packages/core/src/untrusted-text.ts). Text output uses `safe`
 * templates, `--json` output `json`, error messages `untrustedLines`.
 */
export { safe, untrustedLines, untrustedText };

/** `--json` output: JSON that parses to the same value and cannot hold a workflow command. */
export function json(value: unknown): string {
  return untrustedJson(value, 2) + '\n';
}

/** A verb's result on standard output: its JSON form with `--json`, else its text. */
export function printResult(io: CliIO, asJson: boolean | undefined, r: { text: string; json: unknown }): void {
  io.out(asJson ? json(r.json) : r.text);
}

/** One layer of a written artifact in `--json` output (pack, convert): the file and its blob. */
export function layerJson(l: {
  path: string;
  kind: string;
  descriptor: { mediaType: string; digest: string; size: number };
}): { path: string; kind: string; mediaType: string; digest: string; size: number } {
  return {
    path: l.path,
    kind: l.kind,
    mediaType: l.descriptor.mediaType,
    digest: l.descriptor.digest,
    size: l.descriptor.size,
  };
}

/** Columns padded to the widest cell; every cell is untrusted text (file names, kinds). */
export function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map(untrustedText));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export { formatBytes };

/** A tag a dry run would set: new, already naming the digest, or moved from what it names now. */
export function dryRunTag(t: DryRunLog['tags'][number]): string {
  if (!t.current) return `${t.tag} (new)`;
  return t.current === t.descriptor.digest
    ? `${t.tag} (already set)`
    : `${t.tag} (moves from ${t.current.slice(0, 19)})`;
}
