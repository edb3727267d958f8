/**
 * A pickle opcode walker: it follows the unpickler's stack and memo symbolically (which value
 * is a string, which is an imported global, which is anything else) without building a single
 * Python object, so nothing is imported, constructed or called. Every global a pickle imports
 * (GLOBAL, STACK_GLOBAL, INST; EXT1/2/4 through the copyreg registry) is classified against
 * the allow-list (globals.ts); calls (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST) are checked to call
 * an imported global. STACK_GLOBAL takes its module and name from the simulated stack, so a
 * name fetched from the memo (BINGET of a MEMOIZE'd string) resolves exactly, and anything
 * that is not a plain string there is reported as an unknown global.
 *
 * Hand-written rather than a library: the JavaScript pickle libraries unpickle (they build
 * objects and resolve globals through a registry), which is the thing a scanner must never
 * do, and none is streaming. The opcode table is CPython's pickletools module (protocols
 * 0-5; docs/predicates.md "Model scan", Sources). Memory is bounded: strings over MAX_KEPT bytes are skipped by length (only their
 * length is known), and the stack and memo are capped.
 */
import { FormatError, line, readExact, skipExact, type Parser, type Request } from './driver.js';
import { classifyGlobal, py3Module } from './globals.js';
import type { ScanReport } from './report.js';

/** Longest string kept (module and attribute names are far shorter). */
const MAX_KEPT = 1024;
/** Longest text line kept for the protocol-0 numeric opcodes. */
const MAX_LINE_KEPT = 64;
const MAX_STACK = 1_000_000;
const MAX_MEMO = 1_000_000;
/**
 * Bytes of strings kept per pickle, all told: past it strings are kept by length only (a
 * STACK_GLOBAL naming one is then an unknown global), so a pickle of a million memoized
 * names cannot make the walker hold a gigabyte.
 */
const MAX_KEPT_TOTAL = 32 * 1024 * 1024;

type Val =
  | { k: 'mark' }
  | { k: 'other' }
  /** A string; `s` undefined when longer than MAX_KEPT. */
  | { k: 'str'; s: string | undefined }
  | { k: 'global'; name: string };

const MARK: Val = { k: 'mark' };
const OTHER: Val = { k: 'other' };
const LONG_STR: Val = { k: 'str', s: undefined };

/**
 * The legacy (non-zip) torch.save format starts with `0x1950a86a20f9469cfc6c` pickled with
 * protocol 2: PROTO 2, LONG1 of these ten little-endian bytes, STOP (PyTorch's serialization
 * module, MAGIC_NUMBER).
 */
const TORCH_LEGACY_MAGIC = Buffer.from('6cfc9c46f9206aa85019', 'hex');

export interface PickleOptions {
  report: ScanReport;
  /** The archive member being walked, recorded on findings. */
  entry?: string;
  /**
   * Keep walking pickles that follow the first one when the next bytes start a protocol 2+
   * pickle (PROTO). The legacy torch.save format is always five pickles then raw storage.
   */
  multiple?: boolean;
}

/** The walker, as a driver parser (driver.ts). */
export function* pickleParser(o: PickleOptions): Parser {
  const { report } = o;
  let offset = 0;
  const w = new Walker(report, o.entry);
  // The first pickle decides the layout: five pickles for torch's legacy format, else one
  // (plus any that follow with a PROTO opcode, when `multiple`).
  let legacy = false;
  for (let n = 0; ; n++) {
    const r = yield* w.walk(offset);
    offset = r.end;
    if (r.error) {
      if (n === 0 || legacy) {
        report.unknown(`${o.entry ? `${o.entry}: ` : ''}${r.error} (offset ${r.errorAt})`);
      } else {
        report.note(`bytes after pickle ${n} at offset ${r.errorAt} are not a pickle; not scanned`);
      }
      return;
    }
    if (n === 0) legacy = r.legacyMagic === true;
    if (legacy) {
      if (n === 4) {
        report.format = 'pytorch-legacy';
        return; // raw storage bytes follow
      }
      continue;
    }
    if (!o.multiple) return;
    const head = yield* peekProto();
    if (head === 'eof') return;
    if (head === 'other') {
      report.note(`data after the pickle at offset ${offset} is not a pickle; not scanned`);
      return;
    }
  }

  // The next two bytes without consuming them is not something the driver offers: the
  // walker's first read takes them instead (see Walker.pending).
  function* peekProto(): Generator<Request, 'eof' | 'proto' | 'other', unknown> {
    const b = (yield { t: 'read', n: 2 }) as Buffer;
    if (b.length === 0) return 'eof';
    // A copy: the bytes stay pending across the next write, whose buffer the writer may reuse.
    w.pending = Buffer.from(b);
    return b.length === 2 && b[0] === 0x80 && b[1]! <= 5 ? 'proto' : 'other';
  }
}

interface WalkResult {
  end: number;
  error?: string;
  errorAt?: number;
  /** The pickle is the legacy torch.save magic number. */
  legacyMagic?: boolean;
}

class Walker {
  /** Bytes already read by peekProto, consumed before anything else. */
  pending: Buffer | undefined;
  private memo = new Map<number, Val>();
  private stack: Val[] = [];
  private offset = 0;
  private kept = 0;

  constructor(
    private readonly report: ScanReport,
    private readonly entry: string | undefined,
  ) {}

  private *bytes(n: number, what: string): Generator<Request, Buffer, unknown> {
    let out: Buffer;
    if (this.pending?.length) {
      const p = this.pending;
      if (p.length >= n) {
        out = p.subarray(0, n);
        this.pending = p.subarray(n);
      } else {
        this.pending = undefined;
        out = Buffer.concat([p, yield* readExact(n - p.length, what)]);
      }
    } else out = yield* readExact(n, what);
    this.offset += n;
    return out;
  }

  private *skipBytes(n: number, what: string): Generator<Request, void, unknown> {
    if (this.pending?.length) {
      const k = Math.min(n, this.pending.length);
      this.pending = this.pending.subarray(k);
      n -= k;
      this.offset += k;
    }
    yield* skipExact(n, what);
    this.offset += n;
  }

  private *textLine(keep: number, what: string): Generator<Request, { s: string | undefined; raw: Buffer }, unknown> {
    // `pending` holds at most two bytes of a line.
    let prefix: Buffer = Buffer.alloc(0);
    if (this.pending?.length) {
      const nl = this.pending.indexOf(0x0a);
      if (nl !== -1) {
        const b = this.pending.subarray(0, nl);
        this.pending = this.pending.subarray(nl + 1);
        this.offset += nl + 1;
        return { s: b.length <= keep ? b.toString('latin1') : undefined, raw: b };
      }
      prefix = this.pending;
      this.pending = undefined;
    }
    const l = yield* line(keep);
    if (!l.eol) throw new FormatError(`truncated ${what}`);
    this.offset += prefix.length + l.length + 1;
    const raw = Buffer.concat([prefix, l.kept]);
    return { s: prefix.length + l.length <= keep ? raw.toString('latin1') : undefined, raw };
  }

  private push(v: Val): void {
    if (this.stack.length >= MAX_STACK) throw new FormatError(`pickle stack deeper than ${MAX_STACK}`);
    this.stack.push(v);
  }

  private pop(op: string): Val {
    const v = this.stack.pop();
    if (v === undefined || v === MARK) throw new FormatError(`${op}: stack underflow`);
    return v;
  }

  private top(op: string): Val {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) throw new FormatError(`${op}: stack underflow`);
    return v;
  }

  /** Pops everything down to the topmost MARK (and the mark); returns the items, bottom first. */
  private popMark(op: string): Val[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i === -1) throw new FormatError(`${op}: no MARK on the stack`);
    const items = this.stack.slice(i + 1);
    this.stack.length = i;
    return items;
  }

  private memoize(key: number, op: string): void {
    if (!this.memo.has(key) && this.memo.size >= MAX_MEMO)
      throw new FormatError(`pickle memo over ${MAX_MEMO} entries`);
    this.memo.set(key, this.top(op));
  }

  private global(module: string | undefined, name: string | undefined, op: string, at: number): Val {
    if (module === undefined || name === undefined) {
      this.report.finding({
        kind: 'global',
        severity: 'dangerous',
        global: '?',
        opcode: op,
        ...(this.entry ? { entry: this.entry } : {}),
        offset: at,
        message:
          'imports a global whose module or name is not a plain string (computed, overlong or from a missing memo entry)',
      });
      return { k: 'global', name: '?' };
    }
    // Named as Python 3 imports it: protocol < 3 writes Python 2 module names (`__builtin__`,
    // `commands`), which the unpickler maps back (fix_imports).
    const full = `${py3Module(module)}.${name}`;
    const c = classifyGlobal(module, name);
    if (c !== 'safe')
      this.report.finding({
        kind: 'global',
        severity: c,
        global: full,
        opcode: op,
        ...(this.entry ? { entry: this.entry } : {}),
        offset: at,
        message:
          c === 'dangerous'
            ? `imports ${full} (can run code, commands or reach files/network)`
            : `imports ${full}, which is not on the allow-list`,
      });
    return { k: 'global', name: full };
  }

  /** A callable on the stack is being called: it must be an imported global. */
  private call(target: Val, op: string, at: number): void {
    if (target.k === 'global') return; // the import itself was classified
    this.report.finding({
      kind: 'call',
      severity: 'not-allowed',
      global: '(computed)',
      opcode: op,
      ...(this.entry ? { entry: this.entry } : {}),
      offset: at,
      message: `${op} calls a value that is not an imported global (the result of another call)`,
    });
  }

  private str(b: Buffer, enc: 'utf8' | 'latin1'): Val {
    if (b.length > MAX_KEPT || this.kept + b.length > MAX_KEPT_TOTAL) return LONG_STR;
    this.kept += b.length;
    return { k: 'str', s: b.toString(enc) };
  }

  private *lenStr(n: number, enc: 'utf8' | 'latin1' | 'bytes', what: string): Generator<Request, Val, unknown> {
    if (!Number.isSafeInteger(n) || n < 0) throw new FormatError(`${what}: bad length ${n}`);
    if (enc === 'bytes' || n > MAX_KEPT) {
      yield* this.skipBytes(n, what);
      return enc === 'bytes' ? OTHER : LONG_STR;
    }
    return this.str(yield* this.bytes(n, what), enc);
  }

  /** Walks one pickle, from its first opcode through STOP. Malformed input ends the walk with `error`. */
  *walk(startOffset: number): Generator<Request, WalkResult, unknown> {
    this.offset = startOffset;
    this.stack = [];
    this.memo = new Map();
    this.kept = 0;
    let legacyMagic = false;
    let opAt = startOffset;
    try {
      for (;;) {
        opAt = this.offset;
        const op = (yield* this.bytes(1, 'pickle (no STOP opcode)'))[0]!;
        const arg = (n: number, what: string) => this.bytes(n, what);
        let b: Buffer;
        switch (op) {
          case 0x28: // MARK (
            this.push(MARK);
            break;
          case 0x2e: // STOP .
            this.pop('STOP');
            return { end: this.offset, legacyMagic };
          case 0x30: // POP 0
            if (this.stack.length === 0) throw new FormatError('POP: stack underflow');
            this.stack.pop();
            break;
          case 0x31: // POP_MARK 1
            this.popMark('POP_MARK');
            break;
          case 0x32: // DUP 2
            this.push(this.top('DUP'));
            break;
          case 0x46: // FLOAT F
          case 0x49: // INT I
          case 0x4c: // LONG L
            yield* this.textLine(MAX_LINE_KEPT, 'number');
            this.push(OTHER);
            break;
          case 0x53: {
            // STRING S: a Python repr, quoted
            const l = yield* this.textLine(MAX_KEPT + 2, 'STRING');
            const u = l.s === undefined ? undefined : unquote(l.s);
            this.push(u === undefined ? LONG_STR : this.str(Buffer.from(u, 'latin1'), 'latin1'));
            break;
          }
          case 0x56: {
            // UNICODE V: raw-unicode-escape
            const l = yield* this.textLine(MAX_KEPT * 6, 'UNICODE');
            this.push(l.s === undefined ? LONG_STR : this.str(Buffer.from(rawUnicodeEscape(l.raw), 'utf8'), 'utf8'));
            break;
          }
          case 0x4e: // NONE N
          case 0x88: // NEWTRUE
          case 0x89: // NEWFALSE
          case 0x29: // EMPTY_TUPLE )
          case 0x5d: // EMPTY_LIST ]
          case 0x7d: // EMPTY_DICT }
          case 0x8f: // EMPTY_SET
          case 0x97: // NEXT_BUFFER
            this.push(OTHER);
            break;
          case 0x50: // PERSID P
            yield* this.textLine(MAX_LINE_KEPT, 'PERSID');
            this.push(OTHER);
            break;
          case 0x51: // BINPERSID Q
            this.pop('BINPERSID');
            this.push(OTHER);
            break;
          case 0x52: {
            // REDUCE R
            this.pop('REDUCE');
            this.call(this.pop('REDUCE'), 'REDUCE', opAt);
            this.push(OTHER);
            break;
          }
          case 0x61: // APPEND a
            this.pop('APPEND');
            this.top('APPEND');
            break;
          case 0x62: // BUILD b
            this.pop('BUILD');
            this.top('BUILD');
            break;
          case 0x63: {
            // GLOBAL c
            const m = yield* this.textLine(MAX_KEPT, 'GLOBAL module');
            const n = yield* this.textLine(MAX_KEPT, 'GLOBAL name');
            this.push(this.global(utf8(m.raw, m.s), utf8(n.raw, n.s), 'GLOBAL', opAt));
            break;
          }
          case 0x64: // DICT d
          case 0x6c: // LIST l
          case 0x74: // TUPLE t
          case 0x91: // FROZENSET
            this.popMark(op === 0x64 ? 'DICT' : op === 0x6c ? 'LIST' : op === 0x74 ? 'TUPLE' : 'FROZENSET');
            this.push(OTHER);
            break;
          case 0x67: {
            // GET g
            const l = yield* this.textLine(MAX_LINE_KEPT, 'GET');
            this.push(this.memo.get(decimal(l.s, 'GET')) ?? { k: 'str', s: undefined });
            break;
          }
          case 0x69: {
            // INST i: module and name lines, arguments above the MARK, then calls the class
            const m = yield* this.textLine(MAX_KEPT, 'INST module');
            const n = yield* this.textLine(MAX_KEPT, 'INST name');
            this.global(utf8(m.raw, m.s), utf8(n.raw, n.s), 'INST', opAt);
            this.popMark('INST');
            this.push(OTHER);
            break;
          }
          case 0x70: {
            // PUT p
            const l = yield* this.textLine(MAX_LINE_KEPT, 'PUT');
            this.memoize(decimal(l.s, 'PUT'), 'PUT');
            break;
          }
          case 0x73: // SETITEM s
            this.pop('SETITEM');
            this.pop('SETITEM');
            this.top('SETITEM');
            break;
          case 0x47: // BINFLOAT G
            yield* arg(8, 'BINFLOAT');
            this.push(OTHER);
            break;
          case 0x4a: // BININT J
            yield* arg(4, 'BININT');
            this.push(OTHER);
            break;
          case 0x4b: // BININT1 K
            yield* arg(1, 'BININT1');
            this.push(OTHER);
            break;
          case 0x4d: // BININT2 M
            yield* arg(2, 'BININT2');
            this.push(OTHER);
            break;
          case 0x54: // BINSTRING T (signed length)
            b = yield* arg(4, 'BINSTRING');
            this.push(yield* this.lenStr(b.readInt32LE(0), 'latin1', 'BINSTRING'));
            break;
          case 0x55: // SHORT_BINSTRING U
            b = yield* arg(1, 'SHORT_BINSTRING');
            this.push(yield* this.lenStr(b[0]!, 'latin1', 'SHORT_BINSTRING'));
            break;
          case 0x58: // BINUNICODE X
            b = yield* arg(4, 'BINUNICODE');
            this.push(yield* this.lenStr(b.readUInt32LE(0), 'utf8', 'BINUNICODE'));
            break;
          case 0x8c: // SHORT_BINUNICODE
            b = yield* arg(1, 'SHORT_BINUNICODE');
            this.push(yield* this.lenStr(b[0]!, 'utf8', 'SHORT_BINUNICODE'));
            break;
          case 0x8d: // BINUNICODE8
            b = yield* arg(8, 'BINUNICODE8');
            this.push(yield* this.lenStr(u64(b), 'utf8', 'BINUNICODE8'));
            break;
          case 0x42: // BINBYTES B
            b = yield* arg(4, 'BINBYTES');
            this.push(yield* this.lenStr(b.readUInt32LE(0), 'bytes', 'BINBYTES'));
            break;
          case 0x43: // SHORT_BINBYTES C
            b = yield* arg(1, 'SHORT_BINBYTES');
            this.push(yield* this.lenStr(b[0]!, 'bytes', 'SHORT_BINBYTES'));
            break;
          case 0x8e: // BINBYTES8
          case 0x96: // BYTEARRAY8
            b = yield* arg(8, op === 0x8e ? 'BINBYTES8' : 'BYTEARRAY8');
            this.push(yield* this.lenStr(u64(b), 'bytes', op === 0x8e ? 'BINBYTES8' : 'BYTEARRAY8'));
            break;
          case 0x8a: // LONG1
            b = yield* arg(1, 'LONG1');
            if (startOffset === 0 && opAt === 2 && b[0] === TORCH_LEGACY_MAGIC.length)
              legacyMagic = (yield* this.bytes(b[0], 'LONG1')).equals(TORCH_LEGACY_MAGIC);
            else yield* this.skipBytes(b[0]!, 'LONG1');
            this.push(OTHER);
            break;
          case 0x8b: {
            // LONG4 (signed length)
            b = yield* arg(4, 'LONG4');
            const n = b.readInt32LE(0);
            if (n < 0) throw new FormatError('LONG4: negative length');
            yield* this.skipBytes(n, 'LONG4');
            this.push(OTHER);
            break;
          }
          case 0x65: // APPENDS e
            this.popMark('APPENDS');
            this.top('APPENDS');
            break;
          case 0x75: // SETITEMS u
            this.popMark('SETITEMS');
            this.top('SETITEMS');
            break;
          case 0x90: // ADDITEMS
            this.popMark('ADDITEMS');
            this.top('ADDITEMS');
            break;
          case 0x68: // BINGET h
            b = yield* arg(1, 'BINGET');
            this.push(this.memo.get(b[0]!) ?? { k: 'str', s: undefined });
            break;
          case 0x6a: // LONG_BINGET j
            b = yield* arg(4, 'LONG_BINGET');
            this.push(this.memo.get(b.readUInt32LE(0)) ?? { k: 'str', s: undefined });
            break;
          case 0x71: // BINPUT q
            b = yield* arg(1, 'BINPUT');
            this.memoize(b[0]!, 'BINPUT');
            break;
          case 0x72: // LONG_BINPUT r
            b = yield* arg(4, 'LONG_BINPUT');
            this.memoize(b.readUInt32LE(0), 'LONG_BINPUT');
            break;
          case 0x94: // MEMOIZE
            this.memoize(this.memo.size, 'MEMOIZE');
            break;
          case 0x6f: {
            // OBJ o: MARK cls args... → cls(*args)
            const items = this.popMark('OBJ');
            if (items.length === 0) throw new FormatError('OBJ: no class');
            this.call(items[0]!, 'OBJ', opAt);
            this.push(OTHER);
            break;
          }
          case 0x80: {
            // PROTO
            b = yield* arg(1, 'PROTO');
            if (b[0]! > 5) throw new FormatError(`unsupported pickle protocol ${b[0]}`);
            break;
          }
          case 0x81: // NEWOBJ: cls args → cls.__new__(cls, *args)
            this.pop('NEWOBJ');
            this.call(this.pop('NEWOBJ'), 'NEWOBJ', opAt);
            this.push(OTHER);
            break;
          case 0x92: // NEWOBJ_EX: cls args kwargs
            this.pop('NEWOBJ_EX');
            this.pop('NEWOBJ_EX');
            this.call(this.pop('NEWOBJ_EX'), 'NEWOBJ_EX', opAt);
            this.push(OTHER);
            break;
          case 0x82: // EXT1
          case 0x83: // EXT2
          case 0x84: {
            // EXT4
            const size = op === 0x82 ? 1 : op === 0x83 ? 2 : 4;
            const name = op === 0x82 ? 'EXT1' : op === 0x83 ? 'EXT2' : 'EXT4';
            b = yield* arg(size, name);
            const code = size === 1 ? b[0]! : size === 2 ? b.readUInt16LE(0) : b.readInt32LE(0);
            this.report.finding({
              kind: 'extension',
              severity: 'dangerous',
              global: `ext:${code}`,
              opcode: name,
              ...(this.entry ? { entry: this.entry } : {}),
              offset: opAt,
              message: `${name} imports extension code ${code}: a global from the loader's copyreg registry, which the file does not name`,
            });
            this.push({ k: 'global', name: `ext:${code}` });
            break;
          }
          case 0x85: // TUPLE1
            this.pop('TUPLE1');
            this.push(OTHER);
            break;
          case 0x86: // TUPLE2
            this.pop('TUPLE2');
            this.pop('TUPLE2');
            this.push(OTHER);
            break;
          case 0x87: // TUPLE3
            this.pop('TUPLE3');
            this.pop('TUPLE3');
            this.pop('TUPLE3');
            this.push(OTHER);
            break;
          case 0x93: {
            // STACK_GLOBAL: module name → global
            const name = this.pop('STACK_GLOBAL');
            const module = this.pop('STACK_GLOBAL');
            this.push(
              this.global(
                module.k === 'str' ? module.s : undefined,
                name.k === 'str' ? name.s : undefined,
                'STACK_GLOBAL',
                opAt,
              ),
            );
            break;
          }
          case 0x95: // FRAME: a length prefix only, the opcodes inside follow as usual
            yield* arg(8, 'FRAME');
            break;
          case 0x98: // READONLY_BUFFER
            this.top('READONLY_BUFFER');
            break;
          default:
            throw new FormatError(`not a pickle: unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
        }
      }
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      return { end: this.offset, error: e.message, errorAt: opAt };
    }
  }
}

function u64(b: Buffer): number {
  const v = b.readBigUInt64LE(0);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`length ${v} out of range`);
  return Number(v);
}

function decimal(s: string | undefined, op: string): number {
  const t = s?.trim();
  if (!t || !/^-?\d+$/.test(t)) throw new FormatError(`${op}: bad memo key`);
  const n = Number(t);
  if (n < 0) throw new FormatError(`${op}: negative memo key`);
  return n;
}

/** GLOBAL/INST lines are UTF-8 (CPython decodes them so); `kept` undefined when overlong. */
function utf8(raw: Buffer, kept: string | undefined): string | undefined {
  return kept === undefined ? undefined : raw.toString('utf8');
}

/** A protocol-0 STRING argument: a quoted Python repr with backslash escapes. */
function unquote(s: string): string | undefined {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) return undefined;
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    const simple: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      '\\': '\\',
      "'": "'",
      '"': '"',
      a: '\x07',
      b: '\b',
      f: '\f',
      v: '\v',
    };
    return simple[e] ?? `\\${e}`;
  });
}

/** CPython's raw-unicode-escape: `\uXXXX` and `\UXXXXXXXX` escapes, every other byte is Latin-1. */
function rawUnicodeEscape(raw: Buffer): string {
  return raw
    .toString('latin1')
    .replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) =>
      String.fromCodePoint(parseInt((a ?? b)!, 16)),
    );
}
