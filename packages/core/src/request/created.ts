import { ModelshipError } from '../errors.js';
import { isRfc3339 } from '../modelpack/values.js';

/**
 * The creation time to record: `true` means now (whole seconds, UTC), a string must be an
 * RFC 3339 date-time as the ModelPack schema's `format: date-time` wants it (the same
 * `isRfc3339` the config builder applies, so a value accepted here is never refused later),
 * `undefined`/`false` means none (reproducible digests).
 */
export function parseCreated(
  value: string | boolean | undefined,
  label: string,
  now: () => Date = () => new Date(),
): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true)
    return now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  if (!isRfc3339(value))
    throw new ModelshipError('USAGE', `${label} "${value}" is not an RFC 3339 date-time`, {
      hint: 'e.g. 2026-01-31T12:00:00Z (a T, seconds and an offset or Z)',
    });
  return value;
}
