import { openFileBytes, type OpenBytes } from './filereader.js';

/**
 * Safetensors layout: 8-byte little-endian header length N, then N bytes of JSON mapping
 * tensor names to {dtype, shape, data_offsets} (plus an optional `__metadata__`). Only the
 * header is read; the safetensors reference implementation caps N at 100 MB.
 */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

export interface SafetensorsSummary {
  parameterCount: number;
  /** Element count per dtype (`BF16`, `F32`, `I32`…). */
  dtypes: Record<string, number>;
  tensorCount: number;
}

export async function readSafetensorsHeader(
  absPath: string,
  size: number,
  openBytes: OpenBytes = openFileBytes(absPath),
): Promise<SafetensorsSummary> {
  if (size < 8) throw new Error('file shorter than the 8-byte header length');
  const fh = await openBytes();
  let json: unknown;
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_SAFETENSORS_HEADER))
      throw new Error(`header length ${n} exceeds ${MAX_SAFETENSORS_HEADER} bytes`);
    if (Number(n) > size - 8) throw new Error(`header length ${n} is larger than the file`);
    const header = Buffer.alloc(Number(n));
    const { bytesRead } = await fh.read(header, 0, header.length, 8);
    if (bytesRead !== header.length) throw new Error('truncated header');
    json = JSON.parse(header.toString('utf8'));
  } finally {
    await fh.close();
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('header is not a JSON object');
  const dtypes: Record<string, number> = {};
  let parameterCount = 0;
  let tensorCount = 0;
  for (const [name, info] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const t = info as { dtype?: unknown; shape?: unknown };
    if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape)) throw new Error(`tensor ${name} has no dtype/shape`);
    let elements = 1;
    for (const d of t.shape) {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw new Error(`tensor ${name} has a bad shape`);
      elements *= d;
    }
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + elements;
    parameterCount += elements;
    tensorCount++;
  }
  return { parameterCount, dtypes, tensorCount };
}
