import { ModelshipError } from '../errors.js';

/** The most transfers at once a front end may ask for: past this a registry only throttles. */
export const MAX_CONCURRENCY = 64;

/**
 * `value` (a flag or input, `label` names it) as a transfer concurrency: an integer from 1 to
 * MAX_CONCURRENCY. Empty means `fallback`.
 */
export function parseConcurrency(value: string | undefined, label: string, fallback = 4): number {
  const v = value === undefined || value.trim() === '' ? String(fallback) : value.trim();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY)
    throw new ModelshipError('USAGE', `${label} "${value}" must be an integer from 1 to ${MAX_CONCURRENCY}`);
  return n;
}
