import { ModelshipError } from '../errors.js';

/** `value` as one of `allowed` (a layer format, an identifier family, a Rekor entry type…). */
export function parseChoice<T extends string>(value: string, allowed: readonly T[], label: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new ModelshipError('USAGE', `${label} "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}
