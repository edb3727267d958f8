import { HeaderReader, openFileBytes, type OpenBytes } from './filereader.js';

/**
 * GGUF header reader (v2/v3: magic, version, tensor count, KV count, KVs, tensor infos).
 * Only scalar KVs are kept; arrays (tokenizer vocabularies) are skipped without being
 * materialised. Tensor infos give the exact parameter count.
 */
export type GgufScalar = string | number | bigint | boolean;

export interface GgufSummary {
  version: number;
  metadata: Map<string, GgufScalar>;
  tensorCount: number;
  parameterCount: number;
}

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
const MAX_HEADER_BYTES = 512 * 1024 * 1024;
const MAX_STRING = 64 * 1024 * 1024;
const MAX_COUNT = 1e8;

const SCALAR_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** llama.cpp `llama_ftype` → the name users know from file names. */
const FILE_TYPES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4_MOE',
};

/** Unquantized file types say something about precision instead. */
const FILE_TYPE_PRECISION: Record<number, string> = { 0: 'float32', 1: 'float16', 32: 'bfloat16' };

export function ggufFileTypeName(fileType: number): string | undefined {
  return FILE_TYPES[fileType];
}

export function ggufFileTypePrecision(fileType: number): string | undefined {
  return FILE_TYPE_PRECISION[fileType];
}

async function readString(r: HeaderReader): Promise<string> {
  const len = await r.u64();
  if (len > MAX_STRING) throw new Error(`GGUF string of ${len} bytes`);
  return (await r.bytes(len)).toString('utf8');
}

async function readScalar(r: HeaderReader, type: number): Promise<GgufScalar> {
  const b = type === 8 ? undefined : await r.bytes(SCALAR_SIZES[type] ?? 0);
  switch (type) {
    case 0:
      return b!.readUInt8(0);
    case 1:
      return b!.readInt8(0);
    case 2:
      return b!.readUInt16LE(0);
    case 3:
      return b!.readInt16LE(0);
    case 4:
      return b!.readUInt32LE(0);
    case 5:
      return b!.readInt32LE(0);
    case 6:
      return b!.readFloatLE(0);
    case 7:
      return b!.readUInt8(0) !== 0;
    case 8:
      return readString(r);
    case 10: {
      const v = b!.readBigUInt64LE(0);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 11: {
      const v = b!.readBigInt64LE(0);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
    }
    case 12:
      return b!.readDoubleLE(0);
    default:
      throw new Error(`unknown GGUF value type ${type}`);
  }
}

async function skipArray(r: HeaderReader): Promise<void> {
  const type = await r.u32();
  const count = await r.u64();
  if (count > MAX_COUNT) throw new Error(`GGUF array of ${count} items`);
  if (type === 8) {
    for (let i = 0; i < count; i++) {
      const len = await r.u64();
      if (len > MAX_STRING) throw new Error(`GGUF string of ${len} bytes`);
      await r.skip(len);
    }
  } else if (type === 9) {
    for (let i = 0; i < count; i++) await skipArray(r);
  } else {
    const size = SCALAR_SIZES[type];
    if (size === undefined) throw new Error(`unknown GGUF array type ${type}`);
    await r.skip(size * count);
  }
}

/** Reads the GGUF header; throws a plain Error describing what is wrong (callers turn it into a warning). */
export async function readGgufHeader(
  absPath: string,
  size: number,
  openBytes: OpenBytes = openFileBytes(absPath),
): Promise<GgufSummary> {
  const fh = await openBytes();
  try {
    const r = new HeaderReader(fh, size, MAX_HEADER_BYTES, 'GGUF');
    if ((await r.u32()) !== GGUF_MAGIC) throw new Error('not a GGUF file (bad magic)');
    const version = await r.u32();
    if (version !== 2 && version !== 3) throw new Error(`unsupported GGUF version ${version}`);
    const tensorCount = await r.u64();
    const kvCount = await r.u64();
    if (tensorCount > MAX_COUNT || kvCount > MAX_COUNT) throw new Error('implausible GGUF tensor/KV counts');
    const metadata = new Map<string, GgufScalar>();
    for (let i = 0; i < kvCount; i++) {
      const key = await readString(r);
      const type = await r.u32();
      if (type === 9) await skipArray(r);
      else metadata.set(key, await readScalar(r, type));
    }
    let parameterCount = 0;
    for (let i = 0; i < tensorCount; i++) {
      await readString(r);
      const nDims = await r.u32();
      if (nDims > 8) throw new Error(`tensor with ${nDims} dimensions`);
      let elements = 1;
      for (let d = 0; d < nDims; d++) elements *= await r.u64();
      await r.u32(); // ggml type
      await r.u64(); // data offset
      parameterCount += elements;
    }
    return { version, metadata, tensorCount, parameterCount };
  } finally {
    await fh.close();
  }
}
