/**
 * GGUF header sanity (the GGUF specification and llama.cpp's GGML_QUANT_SIZES table, see
 * docs/predicates.md "Model scan", Sources): every count and length must fit in what is
 * left of the file before it is believed, so a header cannot make a loader allocate or read
 * past the end; tensor data must lie inside the data section, aligned, without overlaps or
 * duplicate names. Strings and arrays (tokenizer vocabularies) are skipped by length.
 */
import { FormatError, readExact, skipExact, type Parser, type Request } from './driver.js';
import type { ScanReport } from './report.js';

/** Bytes per scalar value type (0 u8 ... 12 f64); 8 string and 9 array are variable. */
const SCALAR: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** ggml type → [block size, bytes per block]. */
const GGML_TYPES: Record<number, [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 40],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110],
  22: [256, 82], 23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8],
  29: [256, 56], 30: [1, 2], 34: [256, 54], 35: [256, 66], 39: [32, 17],
}; // prettier-ignore

const GGML_MAX_DIMS = 4;
const MAX_TENSORS = 1_000_000;
const MAX_KEY = 65_536;

export function* ggufParser(o: { report: ScanReport; size: number }): Parser {
  const { report, size } = o;
  let pos = 0;
  const header = (message: string, severity: 'dangerous' | 'not-allowed' = 'dangerous'): void =>
    report.finding({ kind: 'header', severity, offset: pos, message });
  const left = (): number => size - pos;
  function* bytes(n: number, what: string): Generator<Request, Buffer, unknown> {
    const b = yield* readExact(n, what);
    pos += n;
    return b;
  }
  function* u32(what: string): Generator<Request, number, unknown> {
    return (yield* bytes(4, what)).readUInt32LE(0);
  }
  function* u64(what: string): Generator<Request, number, unknown> {
    const v = (yield* bytes(8, what)).readBigUInt64LE(0);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  }
  /** A length or count checked against the bytes left: false (and a finding) when it cannot fit. */
  const fits = (n: number, unit: number, what: string): boolean => {
    if (n * unit <= left()) return true;
    header(`${what} ${n === Infinity ? '≥ 2^53' : n} does not fit in the ${left()} bytes left of the file`);
    return false;
  };
  function* skipStr(what: string, keep = 0): Generator<Request, string | false, unknown> {
    const n = yield* u64(`${what} length`);
    if (!fits(n, 1, `${what} length`)) return false;
    if (keep >= n) return (yield* bytes(n, what)).toString('utf8');
    yield* skipExact(n, what);
    pos += n;
    return '';
  }
  function* value(type: number, depth: number): Generator<Request, boolean, unknown> {
    if (type === 8) return (yield* skipStr('string value')) !== false;
    if (type === 9) {
      if (depth > 8) throw new FormatError('GGUF arrays nested too deeply');
      const itemType = yield* u32('array type');
      const count = yield* u64('array count');
      const unit = itemType === 8 ? 8 : itemType === 9 ? 12 : SCALAR[itemType];
      if (unit === undefined) {
        header(`array of unknown value type ${itemType}`, 'not-allowed');
        return false;
      }
      if (!fits(count, unit, 'array count')) return false;
      if (itemType !== 8 && itemType !== 9) {
        yield* skipExact(count * unit, 'array');
        pos += count * unit;
        return true;
      }
      for (let i = 0; i < count; i++) if (!(yield* value(itemType, depth + 1))) return false;
      return true;
    }
    const n = SCALAR[type];
    if (n === undefined) {
      header(`value of unknown type ${type}`, 'not-allowed');
      return false;
    }
    yield* skipExact(n, 'value');
    pos += n;
    return true;
  }

  yield* bytes(4, 'GGUF magic');
  const version = yield* u32('GGUF version');
  if (version !== 2 && version !== 3) throw new FormatError(`GGUF version ${version} is not read (2 and 3 are)`);
  const tensorCount = yield* u64('tensor count');
  const kvCount = yield* u64('metadata count');
  // A KV is at least 13 bytes (key length, type, one-byte value); a tensor info at least 24.
  if (!fits(kvCount, 13, 'metadata count') || !fits(tensorCount, 24, 'tensor count')) return;
  if (tensorCount > MAX_TENSORS) throw new FormatError(`GGUF with ${tensorCount} tensors`);
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const key = yield* skipStr('metadata key', MAX_KEY);
    if (key === false) return;
    const type = yield* u32('metadata type');
    if (key === 'general.alignment' && type === 4) {
      alignment = yield* u32('general.alignment');
      if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
        header(`general.alignment ${alignment} is not a power of two`, 'not-allowed');
        alignment = 32;
      }
    } else if (!(yield* value(type, 0))) return;
  }
  const tensors: { name: string; offset: number; bytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = yield* skipStr('tensor name', MAX_KEY);
    if (name === false) return;
    if (names.has(name)) header(`tensor ${JSON.stringify(name)} is listed twice`, 'not-allowed');
    names.add(name);
    const dims = yield* u32('tensor dimensions');
    if (dims > GGML_MAX_DIMS) {
      header(`tensor ${JSON.stringify(name)} has ${dims} dimensions (ggml allows ${GGML_MAX_DIMS})`, 'not-allowed');
      return;
    }
    let elements = 1;
    for (let d = 0; d < dims; d++) elements *= yield* u64('tensor dimension');
    const type = yield* u32('tensor type');
    const offset = yield* u64('tensor offset');
    const t = GGML_TYPES[type];
    if (!t) {
      report.unknown(`tensor ${JSON.stringify(name)} has ggml type ${type}, which this scanner does not know`);
      continue;
    }
    if (!Number.isSafeInteger(elements) || elements % t[0] !== 0) {
      header(
        `tensor ${JSON.stringify(name)}: ${elements} elements is not a whole number of ${t[0]}-element blocks`,
        'not-allowed',
      );
      continue;
    }
    tensors.push({ name, offset, bytes: (elements / t[0]) * t[1] });
  }
  const dataStart = Math.ceil(pos / alignment) * alignment;
  const dataBytes = size - dataStart;
  tensors.sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const t of tensors) {
    if (t.offset % alignment !== 0)
      header(`tensor ${JSON.stringify(t.name)} data is not aligned to ${alignment}`, 'not-allowed');
    if (t.offset + t.bytes > dataBytes)
      header(
        `tensor ${JSON.stringify(t.name)} data [${t.offset}, ${t.offset + t.bytes}) is outside the ${dataBytes}-byte data section`,
      );
    if (t.offset < end) header(`tensor ${JSON.stringify(t.name)} overlaps the previous tensor's data`);
    end = Math.max(end, t.offset + t.bytes);
  }
}
