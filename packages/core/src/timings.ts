import { Readable } from 'node:stream';
import { formatBytes, formatRate } from './progress.js';

/**
 * Where the time of a transfer went (docs/performance.md, "Where the time goes"): how long
 * the network, hashing and the disk were each busy. A kind is busy while at least one
 * interval of it is open, so intervals of one kind are counted as their union: four parallel
 * uploads over the same second are one second of network. Kinds overlap each other (hashing
 * while uploading), which the summary says.
 *
 * Core only measures; callers pass a `Timings` through the options that carry their progress
 * callbacks (PushOptions, CopyOptions, ExtractOptions, PackOptions, HashFilesOptions) and print
 * the summary as they see fit.
 */
export type TimingKind = 'network' | 'hashing' | 'disk';

export const TIMING_KINDS: readonly TimingKind[] = ['network', 'hashing', 'disk'];

/** The `--json` form: whole milliseconds, and the bytes moved in `wallMs`. */
export interface TimingsSummary {
  networkMs: number;
  hashingMs: number;
  diskMs: number;
  /** Time at least two kinds were busy at once. */
  overlapMs: number;
  wallMs: number;
  bytes: number;
}

interface KindState {
  open: number;
  since: number;
  busy: number;
}

export class Timings {
  private readonly kinds = new Map<TimingKind | 'any' | 'overlap', KindState>();
  private readonly started: number;
  private bytes = 0;
  private stopped: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.started = now();
  }

  private state(kind: TimingKind | 'any' | 'overlap'): KindState {
    let s = this.kinds.get(kind);
    if (!s) {
      s = { open: 0, since: 0, busy: 0 };
      this.kinds.set(kind, s);
    }
    return s;
  }

  private busyKinds(): number {
    return TIMING_KINDS.filter((k) => (this.kinds.get(k)?.open ?? 0) > 0).length;
  }

  private open(kind: TimingKind | 'any' | 'overlap', t: number): void {
    const s = this.state(kind);
    if (s.open++ === 0) s.since = t;
  }

  private close(kind: TimingKind | 'any' | 'overlap', t: number): void {
    const s = this.state(kind);
    if (--s.open === 0) s.busy += t - s.since;
  }

  /** Opens an interval of `kind`; the returned function closes it (a second call does nothing). */
  begin(kind: TimingKind): () => void {
    const t = this.now();
    const before = this.busyKinds();
    this.open(kind, t);
    this.open('any', t);
    if (before === 1 && this.busyKinds() === 2) this.open('overlap', t);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const e = this.now();
      const was = this.busyKinds();
      this.close(kind, e);
      this.close('any', e);
      if (was === 2 && this.busyKinds() === 1) this.close('overlap', e);
    };
  }

  /** `kind` is busy while `work` runs. */
  async time<T>(kind: TimingKind, work: () => Promise<T>): Promise<T> {
    const end = this.begin(kind);
    try {
      return await work();
    } finally {
      end();
    }
  }

  /**
   * `source`, re-emitted: `kind` is busy while the reader waits for its next chunk (not while
   * the reader is busy elsewhere), so a download stalled by a slow disk is not network time.
   */
  source(kind: TimingKind, source: Readable): Readable {
    const begin = (): (() => void) => this.begin(kind);
    // Readable.from pulls the generator only when its reader wants more (one chunk ahead),
    // so the awaited `next()` is time spent waiting on the source. Destroying the result
    // destroys the source (also when the generator waits on it, where `return` would queue).
    const out = Readable.from(
      (async function* () {
        const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        try {
          for (;;) {
            const end = begin();
            let r: IteratorResult<Buffer>;
            try {
              r = await it.next();
            } finally {
              end();
            }
            if (r.done) return;
            yield r.value;
          }
        } finally {
          await it.return?.();
        }
      })(),
      { objectMode: false },
    );
    const destroy = out._destroy.bind(out);
    out._destroy = (err, cb) => {
      if (!source.destroyed) source.destroy();
      destroy(err, cb);
    };
    return out;
  }

  /** Counts bytes moved (for the rate); callers add what they transferred. */
  addBytes(n: number): void {
    this.bytes += n;
  }

  /** Ends the wall clock (later calls to `summary` keep this end). */
  stop(): void {
    this.stopped ??= this.now();
  }

  private busyMs(kind: TimingKind | 'any' | 'overlap', t: number): number {
    const s = this.kinds.get(kind);
    if (!s) return 0;
    return s.busy + (s.open > 0 ? t - s.since : 0);
  }

  summary(): TimingsSummary {
    const t = this.stopped ?? this.now();
    const ms = (k: TimingKind | 'overlap'): number => Math.round(this.busyMs(k, t));
    return {
      networkMs: ms('network'),
      hashingMs: ms('hashing'),
      diskMs: ms('disk'),
      overlapMs: ms('overlap'),
      wallMs: Math.round(t - this.started),
      bytes: this.bytes,
    };
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * "busy: network 6.1 s, hashing 2.3 s, disk 0.8 s (2.1 s overlapped); 4.0 GiB in 7.0 s, 590 MB/s".
 * A kind that was never busy is left out; a run that moved no bytes prints no rate.
 */
export function formatTimings(s: TimingsSummary): string {
  const parts = (
    [
      ['network', s.networkMs],
      ['hashing', s.hashingMs],
      ['disk', s.diskMs],
    ] as const
  )
    .filter(([, ms]) => ms > 0)
    .map(([k, ms]) => `${k} ${seconds(ms)}`);
  const busy = parts.length ? parts.join(', ') : 'nothing measured';
  const overlap = s.overlapMs > 0 && parts.length > 1 ? ` (${seconds(s.overlapMs)} overlapped)` : '';
  const moved =
    s.bytes > 0
      ? `${formatBytes(s.bytes)} in ${seconds(s.wallMs)}, ${formatRate(s.bytes, s.wallMs)}`
      : `nothing transferred, ${seconds(s.wallMs)}`;
  return `busy: ${busy}${overlap}; ${moved}`;
}
