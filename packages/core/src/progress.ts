/** Progress for long work: a redrawn bar on a TTY, periodic plain lines in CI logs. */
export type ProgressMode = 'bar' | 'lines' | 'none';

export interface Progress {
  /** Total bytes of work, when it becomes known. */
  setTotal(total: number): void;
  /** Running count of bytes done. */
  update(done: number): void;
  /** How many blobs the work checks (a push asks the target about each before sending it). */
  setBlobs(count: number): void;
  /**
   * One blob's fate, with its size: `sent` moved its bytes, `present` was in the target
   * already (a warm-cache push moves no bytes, and the line says so instead of "0 B").
   */
  blob(outcome: BlobOutcome, size: number): void;
  /** Final line: bytes moved of the blobs' bytes, blob counts, time, and a rate when bytes moved. */
  finish(): void;
}

export type BlobOutcome = 'sent' | 'present' | 'mounted';

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

export const NO_PROGRESS: Progress = { setTotal() {}, update() {}, setBlobs() {}, blob() {}, finish() {} };

export function createProgress(label: string, options: ProgressOptions): Progress {
  if (options.mode === 'none') return NO_PROGRESS;
  const now = options.now ?? (() => Date.now());
  const interval = options.intervalMs ?? (options.mode === 'bar' ? 100 : 10_000);
  const start = now();
  let total = 0;
  let done = 0;
  let lastEmit = start;
  let finished = false;

  let blobs = 0;
  let blobBytes = 0;
  const outcomes: Record<BlobOutcome, number> = { sent: 0, present: 0, mounted: 0 };
  const checked = (): number => outcomes.sent + outcomes.present + outcomes.mounted;
  const counts = (): string =>
    (['sent', 'present', 'mounted'] as const)
      .filter((o) => outcomes[o] > 0)
      .map((o) => `${outcomes[o]} ${o}`)
      .join(', ');

  const line = (): string => {
    const elapsed = now() - start;
    const pct = total > 0 ? ` (${Math.min(100, Math.floor((done / total) * 100))}%)` : '';
    const of = total > 0 ? ` / ${formatBytes(total)}` : '';
    const rate = done > 0 ? ` ${formatRate(done, elapsed)}` : '';
    const c = counts();
    const checks = blobs > 0 ? `; ${checked()} of ${blobs} blobs checked${c ? ` (${c})` : ''}` : c ? `; ${c}` : '';
    return `${label}: ${formatBytes(done)}${of}${pct}${rate}${checks}`;
  };
  /** "pushed 0 B of 4.0 GiB (17 present), 0.4 s" / "1.0 GiB of 1.0 GiB (4 sent), 2.1 s, 511.3 MB/s". */
  const last = (): string => {
    const elapsed = now() - start;
    const of = blobBytes > 0 ? ` of ${formatBytes(blobBytes)}` : total > 0 ? ` of ${formatBytes(total)}` : '';
    const c = counts();
    const rate = done > 0 ? `, ${formatRate(done, elapsed)}` : '';
    return `${label}: ${formatBytes(done)}${of} transferred${c ? ` (${c})` : ''}, ${(elapsed / 1000).toFixed(1)} s${rate}`;
  };
  const bar = (): string => {
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const fill = Math.round(frac * width);
    return `\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${line()}\u001b[K`;
  };

  const emit = (): void => {
    const t = now();
    if (t - lastEmit < interval) return;
    lastEmit = t;
    options.write(options.mode === 'bar' ? bar() : `${line()}\n`);
  };
  return {
    setTotal(t) {
      total = t;
    },
    update(d) {
      done = d;
      emit();
    },
    setBlobs(n) {
      blobs = n;
    },
    blob(outcome, size) {
      outcomes[outcome]++;
      blobBytes += size;
      emit();
    },
    finish() {
      if (finished) return;
      finished = true;
      // The bar's last redraw is replaced by the summary line.
      options.write(options.mode === 'bar' ? `\r${last()}\u001b[K\n` : `${last()}\n`);
    },
  };
}
