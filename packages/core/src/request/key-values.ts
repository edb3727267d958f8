import { ModelshipError } from '../errors.js';

/**
 * `key=value` entries (annotations) as a record. Key and value are trimmed: a YAML block or a
 * shell line easily carries a space around `=`, and an annotation key with a space in it is
 * never what was meant. An entry without a key before `=` is a usage error naming `label`.
 */
export function parseKeyValues(entries: readonly string[] | undefined, label: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const i = entry.indexOf('=');
    const key = i < 0 ? '' : entry.slice(0, i).trim();
    if (!key) throw new ModelshipError('USAGE', `${label} "${entry}" is not key=value`);
    out[key] = entry.slice(i + 1).trim();
  }
  return out;
}
