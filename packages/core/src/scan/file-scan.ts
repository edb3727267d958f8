/**
 * One file's scan: the format is recognised from its first bytes (and, for formats without a
 * magic number, its name), then the matching parser walks it. What a loader would deserialise
 * into code (pickles, and pickles inside PyTorch zips and NumPy object arrays) is walked for
 * imports; headers that tell a loader where to read (safetensors, GGUF, ONNX external data)
 * are checked against the file. A `FileScanner` is a sink: push the file's bytes once, in
 * order (skipping what `needFrom` says is not needed), then `end`.
 */
import { posix } from 'node:path';
import { FormatError, ParserSink, read, type Line, type Parser, type Request, type Sink } from './driver.js';
import { ggufParser } from './gguf.js';
import { npyParser } from './numpy.js';
import { onnxParser } from './onnx.js';
import { pickleParser } from './pickle.js';
import { ScanReport, type FileScanResult } from './report.js';
import { safetensorsParser } from './safetensors.js';
import { zipParser, type ZipEntry } from './zip.js';

export interface FileScanInput {
  /** POSIX path of the file in the model (its layer's filepath). */
  path: string;
  /** Bytes in the file. */
  size: number;
  /** The layer kind (weight, code, doc, ...), when known. */
  kind?: string;
}

/** Extensions PyTorch, joblib and plain pickle files use (picklescan and modelscan's lists). */
const PICKLE_EXTS = new Set(['.pkl', '.pickle', '.joblib', '.dill', '.dat', '.data', '.bin', '.pt', '.pth', '.ckpt']);
/** Code: executed when imported or run, which no scanner can vouch for. */
const CODE_EXTS = new Set(['.py', '.pyc', '.sh', '.bash', '.js', '.mjs', '.cjs', '.ts', '.rb', '.pl', '.lua', '.bat', '.cmd', '.ps1', '.so', '.dll', '.dylib', '.exe', '.ipynb']); // prettier-ignore
/** Formats that can run code through their loaders and that this scanner does not read. */
const UNREAD_MODEL_EXTS = new Set(['.h5', '.hdf5', '.keras', '.pb', '.tflite', '.mlmodel', '.msgpack', '.gz', '.tar', '.7z', '.zst']); // prettier-ignore

const TEXT_CHECK_CHUNK = 1 << 16;

const startsWith = (b: Buffer, s: string): boolean =>
  b.length >= s.length && b.subarray(0, s.length).equals(Buffer.from(s, 'latin1'));

function looksLikeSafetensors(head: Buffer): boolean {
  if (head.length < 9 || head[8] !== 0x7b) return false;
  const n = head.readBigUInt64LE(0);
  return n > 1n && n < 100_000_000n;
}

/** Drives `inner` as if `prefix` (already read) were still in front of the stream. */
export function* withPrefix(prefix: Buffer, inner: Parser): Parser {
  let p = prefix;
  let v: unknown;
  for (;;) {
    const n = inner.next(v);
    if (n.done) return;
    const r = n.value;
    if (p.length === 0) {
      v = yield r;
      continue;
    }
    switch (r.t) {
      case 'read':
        if (p.length >= r.n) {
          v = p.subarray(0, r.n);
          p = p.subarray(r.n);
        } else {
          const have = p;
          p = Buffer.alloc(0);
          v = Buffer.concat([have, (yield { t: 'read', n: r.n - have.length }) as Buffer]);
        }
        break;
      case 'skip':
        if (p.length >= r.n) {
          v = r.n;
          p = p.subarray(r.n);
        } else {
          const k = p.length;
          p = Buffer.alloc(0);
          v = k + ((yield { t: 'skip', n: r.n - k }) as number);
        }
        break;
      case 'line': {
        const nl = p.indexOf(0x0a);
        if (nl !== -1) {
          const body = p.subarray(0, nl);
          v = { kept: body.subarray(0, r.keep), length: body.length, eol: true } satisfies Line;
          p = p.subarray(nl + 1);
        } else {
          const body = p;
          p = Buffer.alloc(0);
          const l = (yield { t: 'line', keep: Math.max(0, r.keep - body.length) }) as Line;
          v = {
            kept: Buffer.concat([body.subarray(0, r.keep), l.kept]),
            length: body.length + l.length,
            eol: l.eol,
          } satisfies Line;
        }
        break;
      }
      case 'sub': {
        const k = Math.min(p.length, r.n);
        r.sink.write(p.subarray(0, k), 0);
        p = p.subarray(k);
        if (k === r.n) {
          r.sink.end(k);
          v = k;
        } else {
          const sink = r.sink;
          const shifted: Sink = {
            write: (c, off) => sink.write(c, off === undefined ? undefined : off + k),
            end: (total) => sink.end(total === undefined ? undefined : total + k),
            needFrom: () => sink.needFrom() - k,
          };
          v = k + ((yield { t: 'sub', n: r.n - k, sink: shifted }) as number);
        }
        break;
      }
    }
  }
}

function message(e: unknown): string {
  return e instanceof FormatError ? e.message : `scanner error: ${e instanceof Error ? e.message : String(e)}`;
}

/** A sink running `parser`, whose failure makes the file unknown-format (naming `where`). */
function entrySink(report: ScanReport, where: string, parser: () => Parser): ParserSink {
  return new ParserSink(parser, (e) => report.unknown(`${where}: ${message(e)}`));
}

type EntryKind = 'pickle' | 'npy' | 'skip' | 'code' | 'sniff';

/** What a zip member is, by name (PyTorch's archive layout, docs/predicates.md "Model scan"). */
function zipEntryKind(name: string): EntryKind {
  if (name.endsWith('/')) return 'skip';
  if (/\.(pkl|pickle|debug_pkl)$/.test(name)) return 'pickle';
  if (name.endsWith('.npy')) return 'npy';
  // Tensor storages are raw bytes the loader hands to persistent_load, never unpickled.
  if (/(^|\/)data\/\d+$/.test(name)) return 'skip';
  if (
    /(^|\/)(version|byteorder|\.format_version|\.storage_alignment|\.data\/version|\.data\/serialization_id)$/.test(
      name,
    )
  )
    return 'skip';
  if (/(^|\/)code\//.test(name) || CODE_EXTS.has(posix.extname(name))) return 'code';
  return 'sniff';
}

function* zipScan(report: ScanReport, size: number): Parser {
  report.format = 'zip';
  yield* zipParser({
    report,
    size,
    open: (e: ZipEntry) => {
      switch (zipEntryKind(e.name)) {
        case 'skip':
          return undefined;
        case 'pickle':
          return entrySink(report, e.name, () => pickleParser({ report, entry: e.name, multiple: true }));
        case 'npy':
          return entrySink(report, e.name, () => npyParser({ report, entry: e.name }));
        case 'code':
          report.unknown(`${e.name}: code in the archive is not scanned; review it`);
          return undefined;
        case 'sniff':
          return entrySink(report, e.name, () => sniffEntry(report, e.name));
      }
    },
    done: (entries) => {
      if (entries.some((e) => /(^|\/)data\.pkl$/.test(e.name))) report.format = 'pytorch-zip';
      else if (entries.length > 0 && entries.every((e) => e.name.endsWith('.npy'))) report.format = 'npz';
    },
  });
}

/** A zip member without a telling name: a pickle if it starts like one (picklescan does this). */
function* sniffEntry(report: ScanReport, name: string): Parser {
  const head = yield* read(2);
  if (head.length === 2 && head[0] === 0x80 && head[1]! <= 5)
    yield* withPrefix(head, pickleParser({ report, entry: name, multiple: true }));
  else if (head.length > 0) report.unknown(`${name}: archive member of unknown format; not scanned`);
}

/** Text (JSON, Markdown, YAML, vocabularies): safe if it really is text, i.e. holds no NUL byte. */
function* textParser(report: ScanReport): Parser {
  for (;;) {
    const b = yield* read(TEXT_CHECK_CHUNK);
    if (b.includes(0)) {
      report.format = 'unknown';
      report.unknown('binary data of a format this scanner does not read');
      return;
    }
    if (b.length < TEXT_CHECK_CHUNK) return;
  }
}

function* scanParser(input: FileScanInput, report: ScanReport): Generator<Request, void, unknown> {
  const head = yield* read(16);
  const ext = posix.extname(input.path).toLowerCase();
  if (head.length === 0) {
    report.format = 'empty';
    return;
  }
  let inner: Parser;
  // Formats loaders pick by name come first: a safetensors header length can begin with the
  // bytes of a pickle PROTO opcode (0x0480 is `\x80\x04`), and the safetensors loader never
  // unpickles. Then magic numbers.
  if (ext === '.safetensors') {
    report.format = 'safetensors';
    inner = safetensorsParser({ report, size: input.size });
  } else if (ext === '.onnx') {
    report.format = 'onnx';
    inner = onnxParser({ report, size: input.size, path: input.path });
  } else if (startsWith(head, 'GGUF')) {
    report.format = 'gguf';
    inner = ggufParser({ report, size: input.size });
  } else if (startsWith(head, 'PK\x03\x04') || startsWith(head, 'PK\x05\x06')) inner = zipScan(report, input.size);
  else if (startsWith(head, '\x93NUMPY')) {
    report.format = 'numpy';
    inner = npyParser({ report });
  } else if (looksLikeSafetensors(head)) {
    // A pickle crafted to start like this fails the header checks instead: never `safe`.
    report.format = 'safetensors';
    inner = safetensorsParser({ report, size: input.size });
  } else if (head.length >= 2 && head[0] === 0x80 && head[1]! <= 5) {
    report.format = 'pickle';
    inner = pickleParser({ report, multiple: true });
  } else if (PICKLE_EXTS.has(ext)) {
    // Protocol 0 and 1 pickles have no PROTO opcode: the name is the only hint.
    report.format = 'pickle';
    inner = pickleParser({ report, multiple: true });
  } else if (CODE_EXTS.has(ext) || input.kind === 'code') {
    report.format = 'code';
    report.unknown('code is not scanned; review it');
    return;
  } else if (UNREAD_MODEL_EXTS.has(ext)) {
    report.format = ext.slice(1);
    report.unknown(
      `${ext} files are not scanned (their loaders can run code: Keras Lambda layers, TensorFlow ops, archives)`,
    );
    return;
  } else if (startsWith(head, '\x89PNG\r\n\x1a\n') || startsWith(head, '\xff\xd8\xff') || startsWith(head, 'GIF8')) {
    report.format = 'image';
    return;
  } else if (ext === '.model' && head[0] === 0x0a) {
    // SentencePiece ModelProto (field 1, pieces): read by a protobuf parser, which runs no code.
    report.format = 'sentencepiece';
    return;
  } else {
    report.format = 'text';
    inner = textParser(report);
  }
  yield* withPrefix(head, inner);
}

/** Scans one file from pushed bytes (see the module comment). */
export class FileScanner implements Sink {
  private readonly report = new ScanReport();
  private readonly sink: ParserSink;
  private ended = false;

  constructor(readonly input: FileScanInput) {
    this.sink = new ParserSink(
      () => scanParser(input, this.report),
      (e) => this.report.unknown(message(e)),
    );
  }

  write(chunk: Buffer, offset?: number): void {
    this.sink.write(chunk, offset);
  }

  /** `total`: bytes in the stream, when the reader skipped its tail (see Sink.end). */
  end(total?: number): void {
    this.ended = true;
    this.sink.end(total);
  }

  needFrom(): number {
    return this.sink.needFrom();
  }

  /** The verdict; call after `end`. */
  result(): FileScanResult {
    if (!this.ended) this.end();
    return this.report.result();
  }
}
