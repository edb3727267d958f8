/**
 * NumPy `.npy` (format versions 1-3, NumPy's format module): magic `\x93NUMPY`, version, header
 * length, then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': ...}. An
 * array whose dtype holds objects (`|O`, or a structured dtype with an `O` field) is stored as
 * a pickle after the header, which `np.load(allow_pickle=True)` unpickles: that pickle is
 * walked like any other. Plain arrays are raw numbers and skipped.
 */
import { FormatError, readExact, type Parser } from './driver.js';
import { pickleParser } from './pickle.js';
import type { ScanReport } from './report.js';

/** numpy reads at most 10,000 header bytes unless told otherwise; the format allows 4 GiB. */
const MAX_HEADER = 1024 * 1024;

type Py = string | number | boolean | null | Py[] | { [k: string]: Py };

export function* npyParser(o: { report: ScanReport; entry?: string }): Parser {
  const where = o.entry ? `${o.entry}: ` : '';
  const magic = yield* readExact(8, 'npy header');
  if (!magic.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1')))
    throw new FormatError(`${where}not a .npy file (bad magic)`);
  const major = magic[6]!;
  if (major < 1 || major > 3) throw new FormatError(`${where}unsupported .npy format version ${major}`);
  const lenBytes = yield* readExact(major === 1 ? 2 : 4, 'npy header length');
  const len = major === 1 ? lenBytes.readUInt16LE(0) : lenBytes.readUInt32LE(0);
  if (len > MAX_HEADER) throw new FormatError(`${where}.npy header of ${len} bytes`);
  const text = (yield* readExact(len, 'npy header')).toString(major === 3 ? 'utf8' : 'latin1');
  let header: Py;
  try {
    header = new PyLiteral(text).parse();
  } catch (e) {
    throw new FormatError(`${where}.npy header is not a Python literal: ${(e as Error).message}`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header) || !('descr' in header))
    throw new FormatError(`${where}.npy header has no descr`);
  if (hasObject(header['descr']!)) {
    o.report.note(`${where}object array: the data is a pickle, walked`);
    yield* pickleParser({ report: o.report, ...(o.entry ? { entry: o.entry } : {}) });
  }
  // A numeric array: the rest is raw data.
}

/** numpy's `dtype.hasobject` for a descr: a type string of kind `O` anywhere in it. */
function hasObject(descr: Py): boolean {
  if (typeof descr === 'string') return /^[<>|=]?O\d*$/.test(descr);
  if (Array.isArray(descr))
    // Structured: [(name, descr[, shape]), ...]; the name (first item) is not a type.
    return descr.some((field) => Array.isArray(field) && field.length >= 2 && hasObject(field[1]!));
  return false;
}

/** Just enough of Python's literal syntax for .npy headers: dict, tuple, list, str, int, bool, None. */
class PyLiteral {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): Py {
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) throw new Error(`unexpected ${JSON.stringify(this.s[this.i])}`);
    return v;
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  private value(depth: number): Py {
    if (depth > 32) throw new Error('nested too deeply');
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.seq('}', depth, true) as Py;
    if (c === '(') return this.seq(')', depth, false) as Py;
    if (c === '[') return this.seq(']', depth, false) as Py;
    if (c === "'" || c === '"') return this.str(c);
    const m = /^(-?\d+|True|False|None)/.exec(this.s.slice(this.i, this.i + 32));
    if (!m) throw new Error(`unexpected ${JSON.stringify(c ?? 'end')}`);
    this.i += m[0].length;
    return m[0] === 'True' ? true : m[0] === 'False' ? false : m[0] === 'None' ? null : Number(m[0]);
  }

  private seq(close: string, depth: number, dict: boolean): Py[] | Record<string, Py> {
    this.i++;
    const items: Py[] = [];
    const obj: Record<string, Py> = {};
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) {
        this.i++;
        return dict ? obj : items;
      }
      const v = this.value(depth + 1);
      if (dict) {
        this.ws();
        if (this.s[this.i++] !== ':' || typeof v !== 'string') throw new Error('bad dict entry');
        obj[v] = this.value(depth + 1);
      } else items.push(v);
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) throw new Error(`expected , or ${close}`);
    }
  }

  private str(q: string): string {
    let out = '';
    for (this.i++; this.i < this.s.length; this.i++) {
      const c = this.s[this.i]!;
      if (c === q) {
        this.i++;
        return out;
      }
      if (c === '\\') {
        this.i++;
        out += this.s[this.i] ?? '';
      } else out += c;
    }
    throw new Error('unterminated string');
  }
}
