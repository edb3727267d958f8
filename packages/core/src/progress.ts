/** Progress for long work: a redrawn bar on a TTY, periodic plain lines in CI logs. */
export type ProgressMode = 'bar' | 'lines' | 'none';

export interface Progress {
  /** Total bytes of work, when it becomes known. */
  setTotal(total: number): void;
  /** Running count of bytes done. */
  update(done: number): void;
  /** Final line (always printed in 'lines' mode so logs show the rate). */
  finish(): void;
}

export interface ProgressOptions {
  mode: ProgressMode;
  write: (text: string) => void;
  /** Minimum time between lines in 'lines' mode (default 10 s), between redraws in 'bar' mode (100 ms). */
  intervalMs?: number;
  now?: () => number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[u]}`;
}

/** MB/s (decimal, as transfer tools print it). */
export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0) return '- MB/s';
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}

export const NO_PROGRESS: Progress = { setTotal() {}, update() {}, finish() {} };

export function createProgress(label: string, options: ProgressOptions): Progress {
  if (options.mode === 'none') return NO_PROGRESS;
  const now = options.now ?? (() => Date.now());
  const interval = options.intervalMs ?? (options.mode === 'bar' ? 100 : 10_000);
  const start = now();
  let total = 0;
  let done = 0;
  let lastEmit = start;
  let finished = false;

  const line = (): string => {
    const elapsed = now() - start;
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
    const of = total > 0 ? ` / ${formatBytes(total)}` : '';
    return `${label}: ${formatBytes(done)}${of}${pct} ${formatRate(done, elapsed)}`;
  };
  const bar = (): string => {
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const fill = Math.round(frac * width);
    return `\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${line()}\u001b[K`;
  };

  return {
    setTotal(t) {
      total = t;
    },
    update(d) {
      done = d;
      const t = now();
      if (t - lastEmit < interval) return;
      lastEmit = t;
      options.write(options.mode === 'bar' ? bar() : `${line()}\n`);
    },
    finish() {
      if (finished) return;
      finished = true;
      options.write(options.mode === 'bar' ? `${bar()}\n` : `${line()}\n`);
    },
  };
}
