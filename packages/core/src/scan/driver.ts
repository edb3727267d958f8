/**
 * The byte plumbing of the model scanner: format parsers are generators that ask for bytes
 * (`read`, `skip`, `line`, `sub`) and a driver feeds them from whatever pushes chunks (the
 * hash pool's worker, a read stream being uploaded, a tar entry). Push-driven and
 * synchronous, so a scan rides along the one read pack or attest already makes, and a
 * parser that only needs a header tells the reader, through `needFrom`, that the rest need
 * not reach it. Memory is bounded by the largest single `read` (a few MiB at most): long
 * strings and tensor data are skipped by length, never held.
 */

/** What a parser asks for next. */
export type Request =
  /** Exactly `n` bytes (a shorter buffer at the end of the stream). */
  | { t: 'read'; n: number }
  /** Discard `n` bytes; resumes with how many were skipped (fewer at the end). */
  | { t: 'skip'; n: number }
  /** The bytes up to and including the next `\n`, keeping at most `keep` of them. */
  | { t: 'line'; keep: number }
  /** Forward the next `n` bytes to `sink` (then end it); resumes with how many were forwarded. */
  | { t: 'sub'; n: number; sink: Sink };

export interface Line {
  /** The first `keep` bytes of the line, without the `\n`. */
  kept: Buffer;
  /** Full length without the `\n`. */
  length: number;
  /** false: the stream ended before a `\n`. */
  eol: boolean;
}

export type Parser = Generator<Request, void, unknown>;

/** Something bytes are pushed into. */
export interface Sink {
  /**
   * `offset`: where `chunk` starts in this sink's stream, when a reader skipped what the sink
   * said it did not need (a gap is only allowed inside a skip).
   */
  write(chunk: Buffer, offset?: number): void;
  /**
   * No more bytes. `total`: the stream's full length, when the reader skipped its tail
   * because `needFrom` said it was not needed (otherwise a pending skip looks truncated).
   */
  end(total?: number): void;
  /** Offset of the next byte this sink needs; Infinity when it needs no more. */
  needFrom(): number;
}

/** Thrown by parsers (and the driver) for input that is not what the format says. */
export class FormatError extends Error {}

/** Parser helpers with typed results. */
export function* read(n: number): Generator<Request, Buffer, unknown> {
  return (yield { t: 'read', n }) as Buffer;
}

export function* readExact(n: number, what: string): Generator<Request, Buffer, unknown> {
  const b = (yield { t: 'read', n }) as Buffer;
  if (b.length < n) throw new FormatError(`truncated ${what}`);
  return b;
}

export function* skip(n: number): Generator<Request, number, unknown> {
  if (n <= 0) return 0;
  return (yield { t: 'skip', n }) as number;
}

export function* skipExact(n: number, what: string): Generator<Request, void, unknown> {
  const got = n <= 0 ? 0 : ((yield { t: 'skip', n }) as number);
  if (got < n) throw new FormatError(`truncated ${what}`);
}

export function* line(keep: number): Generator<Request, Line, unknown> {
  return (yield { t: 'line', keep }) as Line;
}

export function* sub(n: number, sink: Sink): Generator<Request, number, unknown> {
  return (yield { t: 'sub', n, sink }) as number;
}

/** The largest single `read` a parser may ask for (a safetensors header is the biggest). */
export const MAX_READ = 100_000_000;
/** Requests answered after the end of the stream before a parser is deemed stuck. */
const MAX_EOF_REQUESTS = 10_000;

/**
 * Runs one parser over a pushed byte stream. Errors the parser throws are kept (`error`),
 * never thrown at the writer: a scan never breaks the read it rides on.
 */
export class ParserSink implements Sink {
  private readonly gen: Parser;
  private req: Request | undefined;
  /** Bytes of the stream consumed so far. */
  private pos = 0;
  private finished = false;
  private ended = false;
  private eofRequests = 0;
  // read
  private parts: Buffer[] = [];
  private have = 0;
  // skip / sub
  private remaining = 0;
  private forwarded = 0;
  private subStart = 0;
  // line
  private lineKept: Buffer[] = [];
  private lineKeptLen = 0;
  private lineLen = 0;
  /** What the parser threw, if anything. */
  error: unknown;

  /** `onError`: told once if the parser throws (the sink then needs nothing more). */
  constructor(
    parser: () => Parser,
    private readonly onError?: (e: unknown) => void,
  ) {
    this.gen = parser();
    this.resume(undefined);
  }

  get done(): boolean {
    return this.finished;
  }

  /** Stream offset consumed so far. */
  get offset(): number {
    return this.pos;
  }

  needFrom(): number {
    const r = this.req;
    if (this.finished || !r) return Infinity;
    if (r.t === 'skip') return this.pos + this.remaining;
    if (r.t === 'sub') {
      const end = this.subStart + r.n;
      return Math.min(end, this.subStart + r.sink.needFrom());
    }
    return this.pos;
  }

  write(chunk: Buffer, offset?: number): void {
    if (this.finished || this.ended) return;
    if (offset !== undefined && offset !== this.pos) {
      if (offset < this.pos) {
        if (offset + chunk.length <= this.pos) return;
        chunk = chunk.subarray(this.pos - offset);
      } else if (!this.gap(offset - this.pos)) return;
    }
    let c = chunk;
    while (c.length > 0 && !this.finished) c = this.feed(c);
  }

  end(total?: number): void {
    if (this.ended) return;
    while (total !== undefined && !this.finished && total > this.pos) {
      const r = this.req!;
      if (r.t === 'skip') this.gap(Math.min(total - this.pos, this.remaining));
      else if (r.t === 'sub') this.gap(Math.min(total - this.pos, r.n - this.forwarded));
      else break; // bytes the parser needed never came: the end of the stream for it
    }
    this.ended = true;
    while (!this.finished) this.answerAtEof();
  }

  /** Bytes the reader did not send because `needFrom` said they were not needed. */
  private gap(n: number): boolean {
    const r = this.req;
    if (r?.t === 'skip' && n <= this.remaining) {
      this.remaining -= n;
      this.pos += n;
      if (this.remaining === 0) this.resume(r.n);
      return true;
    }
    if (r?.t === 'sub' && n <= r.n - this.forwarded) {
      // The sub-sink said it needs none of these: tell it where the next chunk starts.
      this.forwarded += n;
      this.pos += n;
      if (this.forwarded === r.n) {
        r.sink.end(r.n);
        this.resume(r.n);
      }
      return true;
    }
    this.fail(new Error(`scanner: a reader skipped ${n} bytes at offset ${this.pos} that were needed`));
    return false;
  }

  /** Feeds as much of `c` as the current request takes; returns the rest. */
  private feed(c: Buffer): Buffer {
    const r = this.req!;
    switch (r.t) {
      case 'read': {
        const want = r.n - this.have;
        if (this.have === 0 && c.length >= r.n) {
          this.pos += r.n;
          this.resume(c.subarray(0, r.n));
          return c.subarray(r.n);
        }
        const take = Math.min(want, c.length);
        this.parts.push(c.subarray(0, take));
        this.have += take;
        this.pos += take;
        if (this.have === r.n) {
          const b = Buffer.concat(this.parts, this.have);
          this.parts = [];
          this.have = 0;
          this.resume(b);
        } else {
          // Pieces of a chunk the writer may reuse: copy what is kept across writes.
          this.parts[this.parts.length - 1] = Buffer.from(this.parts[this.parts.length - 1]!);
        }
        return c.subarray(take);
      }
      case 'skip': {
        const take = Math.min(this.remaining, c.length);
        this.remaining -= take;
        this.pos += take;
        if (this.remaining === 0) this.resume(r.n);
        return c.subarray(take);
      }
      case 'line': {
        const nl = c.indexOf(0x0a);
        const body = nl === -1 ? c : c.subarray(0, nl);
        const room = r.keep - this.lineKeptLen;
        if (room > 0 && body.length > 0) {
          const k = body.subarray(0, Math.min(room, body.length));
          this.lineKept.push(Buffer.from(k));
          this.lineKeptLen += k.length;
        }
        this.lineLen += body.length;
        if (nl === -1) {
          this.pos += c.length;
          return c.subarray(c.length);
        }
        this.pos += nl + 1;
        this.resume(this.takeLine(true));
        return c.subarray(nl + 1);
      }
      case 'sub': {
        const take = Math.min(r.n - this.forwarded, c.length);
        // Only what the sub-sink still needs reaches it (it is told the offset of a gap).
        const need = r.sink.needFrom();
        if (need < this.forwarded + take) {
          const from = Math.max(0, need - this.forwarded);
          r.sink.write(c.subarray(from, take), this.forwarded + from);
        }
        this.forwarded += take;
        this.pos += take;
        if (this.forwarded === r.n) {
          r.sink.end(r.n);
          this.resume(r.n);
        }
        return c.subarray(take);
      }
    }
  }

  private takeLine(eol: boolean): Line {
    const out: Line = { kept: Buffer.concat(this.lineKept, this.lineKeptLen), length: this.lineLen, eol };
    this.lineKept = [];
    this.lineKeptLen = 0;
    this.lineLen = 0;
    return out;
  }

  private answerAtEof(): void {
    if (++this.eofRequests > MAX_EOF_REQUESTS) {
      this.fail(new Error('scanner: parser kept reading past the end of the stream'));
      return;
    }
    const r = this.req!;
    switch (r.t) {
      case 'read': {
        const b = Buffer.concat(this.parts, this.have);
        this.parts = [];
        this.have = 0;
        this.resume(b);
        return;
      }
      case 'skip':
        this.resume(r.n - this.remaining);
        return;
      case 'line':
        this.resume(this.takeLine(false));
        return;
      case 'sub':
        r.sink.end(this.forwarded);
        this.resume(this.forwarded);
        return;
    }
  }

  private fail(e: unknown): void {
    if (this.error === undefined) this.onError?.(e);
    this.error ??= e;
    this.finished = true;
    this.req = undefined;
    try {
      this.gen.return(undefined);
    } catch {
      // a parser's finally threw: the first error is what counts
    }
  }

  private resume(value: unknown): void {
    // A loop, not recursion: a parser may ask for many zero-length things in a row.
    for (;;) {
      let next: IteratorResult<Request, void>;
      try {
        next = this.gen.next(value);
      } catch (e) {
        this.fail(e);
        return;
      }
      if (next.done) {
        this.finished = true;
        this.req = undefined;
        return;
      }
      const r = next.value;
      if ((r.t === 'read' && (r.n > MAX_READ || r.n < 0)) || (r.t !== 'line' && !(r.n >= 0))) {
        this.fail(new Error(`scanner: bad request ${r.t} ${r.n}`));
        return;
      }
      this.req = r;
      if (r.t === 'skip') this.remaining = r.n;
      if (r.t === 'sub') {
        this.forwarded = 0;
        this.subStart = this.pos;
      }
      if (r.t === 'line' || r.n > 0) return;
      // Zero-length requests are answered at once.
      if (r.t === 'sub') r.sink.end(0);
      value = r.t === 'read' ? Buffer.alloc(0) : 0;
    }
  }
}

/** A sink that ignores everything. */
export const NULL_SINK: Sink = { write: () => {}, end: () => {}, needFrom: () => Infinity };
