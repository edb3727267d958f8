import { ModelshipError } from '../errors.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * `value` (a flag or input, `label` names it) as a duration in ms: a whole number with a unit
 * `s`, `m`, `h` or `d` (`30m`, `2h`, `7d`), or `0`. Hand-written: one exact pattern, where a
 * duration library would also take `1.5 hours` and `-1h`.
 */
export function parseDuration(value: string, label: string): number {
  const m = /^(\d{1,9})([smhd])?$/.exec(value.trim());
  if (!m || (m[2] === undefined && m[1] !== '0'))
    throw new ModelshipError('USAGE', `${label} "${value}" is not a duration`, {
      hint: 'write a whole number with a unit: 30s, 15m, 2h, 7d (or 0)',
    });
  return Number(m[1]) * (m[2] ? UNIT_MS[m[2] as keyof typeof UNIT_MS] : 0);
}
