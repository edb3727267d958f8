/**
 * safetensors header sanity, the checks of the reference implementation
 * (huggingface/safetensors: `read_metadata`, `Metadata::validate`, `Dtype::bitsize`; see
 * docs/predicates.md "Model scan", Sources): an 8-byte little-endian header length N of at most 100,000,000, N bytes
 * of JSON starting with `{`, then tensors whose `data_offsets` tile the byte buffer after the
 * header exactly, each as long as its shape and dtype say. A header that claims more than the
 * file holds, offsets that overlap or point outside the buffer, and unknown dtypes are
 * findings: loaders that trust the header read out of bounds or alias tensors. Only the header
 * is read; the tensor bytes are not needed.
 */
import { MAX_SAFETENSORS_HEADER } from '../modelpack/safetensors.js';
import { FormatError, readExact, type Parser } from './driver.js';
import type { ScanReport } from './report.js';

/** Bits per element, `Dtype::bitsize`. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
}; // prettier-ignore

export function* safetensorsParser(o: { report: ScanReport; size: number }): Parser {
  const { report, size } = o;
  const header = (message: string, severity: 'dangerous' | 'not-allowed' = 'dangerous', offset = 0): void =>
    report.finding({ kind: 'header', severity, offset, message });
  const n64 = (yield* readExact(8, 'safetensors header length')).readBigUInt64LE(0);
  if (n64 > BigInt(MAX_SAFETENSORS_HEADER)) {
    header(`header length ${n64} exceeds the ${MAX_SAFETENSORS_HEADER} bytes safetensors accepts (a header size bomb)`);
    return;
  }
  const n = Number(n64);
  if (n > size - 8) {
    header(`header length ${n} is larger than the file (${size} bytes)`);
    return;
  }
  const bytes = yield* readExact(n, 'safetensors header');
  if (bytes[0] !== 0x7b) throw new FormatError('safetensors header does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new FormatError(`safetensors header is not JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new FormatError('safetensors header is not a JSON object');
  const buffer = size - 8 - n;
  const tensors: { name: string; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      const ok =
        raw && typeof raw === 'object' && !Array.isArray(raw) && Object.values(raw).every((v) => typeof v === 'string');
      if (!ok) header('__metadata__ is not a map of strings', 'not-allowed');
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const offsets = t?.data_offsets;
    if (
      !t ||
      typeof t.dtype !== 'string' ||
      !Array.isArray(t.shape) ||
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)
    ) {
      header(`tensor ${JSON.stringify(name)} lacks a dtype, shape or two data_offsets`, 'not-allowed');
      continue;
    }
    const [begin, end] = offsets as [number, number];
    const bits = DTYPE_BITS[t.dtype];
    if (bits === undefined)
      header(`tensor ${JSON.stringify(name)} has unknown dtype ${JSON.stringify(t.dtype)}`, 'not-allowed');
    if (end < begin) header(`tensor ${JSON.stringify(name)} ends (${end}) before it begins (${begin})`);
    else if (end > buffer)
      header(`tensor ${JSON.stringify(name)} data [${begin}, ${end}) is outside the ${buffer}-byte buffer`);
    let elements = 1n;
    let badShape = false;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || (d as number) < 0) badShape = true;
      else elements *= BigInt(d as number);
    }
    if (badShape) header(`tensor ${JSON.stringify(name)} has a bad shape`, 'not-allowed');
    else if (bits !== undefined && end >= begin) {
      const want = elements * BigInt(bits);
      if (want % 8n !== 0n || want / 8n !== BigInt(end - begin))
        header(
          `tensor ${JSON.stringify(name)} is ${end - begin} bytes, its shape and dtype need ${want / 8n}`,
          'not-allowed',
        );
    }
    tensors.push({ name, begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of tensors) {
    if (t.begin < at)
      header(`tensor ${JSON.stringify(t.name)} overlaps the previous tensor's data (offset ${t.begin} < ${at})`);
    else if (t.begin > at)
      header(`${t.begin - at} bytes before tensor ${JSON.stringify(t.name)} belong to no tensor`, 'not-allowed');
    at = Math.max(at, t.end);
  }
  if (at < buffer) header(`${buffer - at} bytes after the last tensor belong to no tensor`, 'not-allowed');
}
