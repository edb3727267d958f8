import type { ModelMetadataOverrides } from '../modelpack/types.js';

/** The metadata a front end can set; text values and lists as given, empty meaning unset. */
export type MetadataFields = {
  [K in keyof ModelMetadataOverrides]?: ModelMetadataOverrides[K] | '' | undefined;
};

/**
 * The overrides actually given: empty strings and empty lists dropped (an action input that
 * is not set reads as ""), text trimmed, list entries trimmed and empty ones dropped.
 */
export function metadataOverrides(fields: MetadataFields): ModelMetadataOverrides {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(fields) as [string, string | string[] | undefined][]) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      const list = value.map((v) => v.trim()).filter(Boolean);
      if (list.length) out[key] = list;
    } else if (value.trim()) out[key] = value.trim();
  }
  return out as ModelMetadataOverrides;
}
