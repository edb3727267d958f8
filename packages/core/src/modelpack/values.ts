/** Normalisers for config values whose spelling the spec fixes but nobody validates. */

const PARAM_SIZE_RE = /^(\d+)(?:\.(\d))?\s*([kmbtq])$/i;

/** `8B`, `1.5b`, `125M` → `8b`, `1.5b`, `125m`; undefined when not in the spec grammar. */
export function normalizeParamSize(value: string): string | undefined {
  const m = PARAM_SIZE_RE.exec(value.trim());
  if (!m) return undefined;
  const decimal = m[2] && m[2] !== '0' ? `.${m[2]}` : '';
  return `${String(Number(m[1]))}${decimal}${m[3]!.toLowerCase()}`;
}

export const PARAM_SIZE_HINT =
  'write the parameter count as <count><scale> with at most one decimal: 8b, 1.5b, 125m, 7k';

const SCALES: readonly [number, string][] = [
  [1e12, 't'],
  [1e9, 'b'],
  [1e6, 'm'],
  [1e3, 'k'],
];

/**
 * 8_030_261_248 → `8b`, 1_543_714_304 → `1.5b`, 124_439_808 → `124m`. One decimal below 100
 * of a unit, none above (like model names do); tiny test models come out as `0.1k`.
 */
export function formatParamSize(count: number): string | undefined {
  if (!Number.isFinite(count) || count <= 0) return undefined;
  for (let i = 0; i < SCALES.length; i++) {
    const [unit, suffix] = SCALES[i]!;
    if (count < unit && i < SCALES.length - 1) continue;
    const v = count / unit;
    const rounded = v >= 100 ? Math.round(v) : Math.round(v * 10) / 10;
    // 999.96m rounds to 1000m: say 1b instead.
    if (rounded >= 1000 && i > 0) return formatParamSize(SCALES[i - 1]![0] * (rounded / 1000));
    const text = rounded >= 100 ? String(rounded) : rounded.toFixed(1).replace(/\.0$/, '');
    if (text === '0') return `0.1${suffix}`;
    return `${text}${suffix}`;
  }
  return undefined;
}

const PRECISION_ALIASES: Record<string, string> = {
  bf16: 'bfloat16',
  bfloat16: 'bfloat16',
  fp16: 'float16',
  f16: 'float16',
  half: 'float16',
  float16: 'float16',
  fp32: 'float32',
  f32: 'float32',
  float: 'float32',
  float32: 'float32',
  fp64: 'float64',
  f64: 'float64',
  double: 'float64',
  float64: 'float64',
  fp8: 'float8_e4m3',
  f8_e4m3: 'float8_e4m3',
  float8_e4m3: 'float8_e4m3',
  float8_e4m3fn: 'float8_e4m3',
  f8_e5m2: 'float8_e5m2',
  float8_e5m2: 'float8_e5m2',
  i8: 'int8',
  int8: 'int8',
  i16: 'int16',
  int16: 'int16',
  i32: 'int32',
  int32: 'int32',
  i64: 'int64',
  int64: 'int64',
  u8: 'uint8',
  uint8: 'uint8',
  u16: 'uint16',
  uint16: 'uint16',
  u32: 'uint32',
  uint32: 'uint32',
  u64: 'uint64',
  uint64: 'uint64',
  bool: 'bool',
};

/**
 * Spells precision the way the spec documents it (`bfloat16`, not `bf16` or `torch.bfloat16`);
 * comma-separated lists are normalised item by item; unknown spellings are kept.
 */
export function normalizePrecision(value: string): string {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((v) => {
      const key = v.toLowerCase().replace(/^torch\./, '');
      return PRECISION_ALIASES[key] ?? v;
    })
    .join(',');
}

/** Precision name for a safetensors dtype string (`BF16`, `F8_E4M3`…). */
export function precisionFromSafetensorsDtype(dtype: string): string | undefined {
  return PRECISION_ALIASES[dtype.toLowerCase()];
}

/** RFC 3339 date-time as the schema's `format: date-time` wants it (`T` separator, explicit offset). */
export function isRfc3339(s: string): boolean {
  return (
    /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s))
  );
}
