/**
 * ONNX external data: a TensorProto may keep its bytes in another file, named by the
 * `location` entry of `external_data` (ONNX's protobuf schema). ONNX's checker refuses
 * absolute locations and ones that leave the model's directory
 * (`resolve_external_data_location`; docs/predicates.md "Model scan", Sources), but a runtime that trusts the model would read any file
 * the location names (`/etc/passwd`, `../../.ssh/id_rsa`) into a tensor. The walk follows only
 * the messages that can hold a TensorProto (model → graph, training info, functions → nodes →
 * attributes → tensors, subgraphs, sparse tensors) and skips every other field by its length,
 * so inline weights (`raw_data`) are never held.
 *
 * A minimal protobuf walker, hand-written: the protobuf libraries in the tree
 * (@protobuf-ts, through @sigstore/protobuf-specs) decode whole messages from one buffer,
 * which for a model with inline weights is the whole file.
 */
import { posix } from 'node:path';
import { FormatError, readExact, skipExact, type Parser, type Request } from './driver.js';
import type { ScanReport } from './report.js';

type Msg = 'Model' | 'Graph' | 'TrainingInfo' | 'Function' | 'Node' | 'Attribute' | 'Tensor' | 'SparseTensor';

/** Field number → message type, for the fields that lead to a TensorProto. */
const FIELDS: Record<Msg, Record<number, Msg>> = {
  Model: { 7: 'Graph', 20: 'TrainingInfo', 25: 'Function' },
  TrainingInfo: { 1: 'Graph', 2: 'Graph' },
  Graph: { 1: 'Node', 5: 'Tensor', 15: 'SparseTensor' },
  Function: { 7: 'Node', 11: 'Attribute' },
  Node: { 5: 'Attribute' },
  Attribute: { 5: 'Tensor', 6: 'Graph', 10: 'Tensor', 11: 'Graph', 22: 'SparseTensor', 23: 'SparseTensor' },
  SparseTensor: { 1: 'Tensor', 2: 'Tensor' },
  Tensor: {},
};

const MAX_DEPTH = 64;
const MAX_STRING = 65_536;

export interface OnnxOptions {
  report: ScanReport;
  size: number;
  /** The model file's path in the artifact (POSIX), to resolve locations against. */
  path: string;
}

export function* onnxParser(o: OnnxOptions): Parser {
  let pos = 0;
  function* byte(): Generator<Request, number, unknown> {
    const b = yield* readExact(1, 'protobuf');
    pos++;
    return b[0]!;
  }
  function* varint(): Generator<Request, number, unknown> {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = yield* byte();
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
    throw new FormatError('not ONNX: bad protobuf varint');
  }
  function* skipN(n: number): Generator<Request, void, unknown> {
    yield* skipExact(n, 'protobuf field');
    pos += n;
  }
  function* text(n: number): Generator<Request, string | undefined, unknown> {
    if (n > MAX_STRING) {
      yield* skipN(n);
      return undefined;
    }
    const b = yield* readExact(n, 'protobuf string');
    pos += n;
    return b.toString('utf8');
  }

  /** Walks a message ending at `end`; for a TensorProto, returns its name and external location. */
  function* message(
    type: Msg,
    end: number,
    depth: number,
  ): Generator<Request, { name?: string; location?: string }, unknown> {
    if (depth > MAX_DEPTH) throw new FormatError('ONNX messages nested too deeply');
    const out: { name?: string; location?: string } = {};
    while (pos < end) {
      const tag = yield* varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) yield* varint();
      else if (wire === 1) yield* skipN(8);
      else if (wire === 5) yield* skipN(4);
      else if (wire === 2) {
        const len = yield* varint();
        if (pos + len > end) throw new FormatError(`not ONNX: field ${field} runs past its message`);
        const next = FIELDS[type][field];
        if (next) yield* message(next, pos + len, depth + 1);
        else if (type === 'Tensor' && field === 8) out.name = yield* text(len);
        else if (type === 'Tensor' && field === 13) {
          const entry = yield* stringEntry(pos + len);
          if (entry.key === 'location') out.location = entry.value ?? '';
        } else yield* skipN(len);
      } else throw new FormatError(`not ONNX: protobuf wire type ${wire}`);
    }
    if (pos !== end) throw new FormatError('not ONNX: message length mismatch');
    if (type === 'Tensor' && out.location !== undefined) check(out.name, out.location);
    return out;
  }

  /** StringStringEntryProto {key = 1, value = 2}. */
  function* stringEntry(end: number): Generator<Request, { key?: string; value?: string }, unknown> {
    const e: { key?: string; value?: string } = {};
    while (pos < end) {
      const tag = yield* varint();
      if ((tag & 7) !== 2) throw new FormatError('not ONNX: bad external_data entry');
      const len = yield* varint();
      if (pos + len > end) throw new FormatError('not ONNX: external_data entry runs past its end');
      const v = yield* text(len);
      if (tag >> 3 === 1) e.key = v;
      else if (tag >> 3 === 2) e.value = v;
    }
    return e;
  }

  function check(name: string | undefined, location: string): void {
    const what = `tensor ${JSON.stringify(name ?? '?')}`;
    const dir = posix.dirname(o.path);
    const escapes = (): boolean => {
      if (location === '' || location.includes('\0')) return true;
      // Absolute on any platform the file may be loaded on: /x, \x, C:\x, C:x, \\server\share.
      if (/^[/\\]/.test(location) || /^[A-Za-z]:/.test(location)) return true;
      const joined = posix.normalize(posix.join(dir, location.replace(/\\/g, '/')));
      return joined === '..' || joined.startsWith('../');
    };
    if (escapes())
      o.report.finding({
        kind: 'external-data',
        severity: 'dangerous',
        location,
        message: `${what} reads its data from ${JSON.stringify(location)}, outside the model directory`,
      });
    else if (location.split(/[/\\]/).includes('..'))
      o.report.note(
        `${what} reads external data from ${JSON.stringify(location)} (inside the model, but through "..", which ONNX's checker refuses)`,
      );
  }

  yield* message('Model', o.size, 0);
}
