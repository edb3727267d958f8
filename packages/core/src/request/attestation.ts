import {
  ATTESTATION_KINDS,
  SBOM_FORMATS,
  type AttestationKind,
  type CustomPredicate,
  type SbomFormat,
} from '../attest/index.js';
import { ModelshipError } from '../errors.js';
import { parseChoice } from './choice.js';

/**
 * Attestation kinds from list entries (already split), each checked, duplicates dropped: a
 * kind named twice is attested once, not signed and attached twice.
 */
export function parseAttestationKinds(entries: readonly string[], label: string): AttestationKind[] {
  const kinds = entries.map((s) => s.trim()).filter(Boolean);
  return [...new Set(kinds.map((k) => parseChoice<AttestationKind>(k, ATTESTATION_KINDS, label)))];
}

/** SBOM formats (cyclonedx, spdx) from list entries, each checked, duplicates dropped; empty: cyclonedx. */
export function parseSbomFormats(entries: readonly string[], label: string): SbomFormat[] {
  const formats = entries.map((s) => s.trim()).filter(Boolean);
  const parsed = [...new Set(formats.map((f) => parseChoice<SbomFormat>(f, SBOM_FORMATS, label)))];
  return parsed.length ? parsed : ['cyclonedx'];
}

/** A custom predicate: its type and the file holding it come together or not at all. */
export function customPredicates(
  predicateType: string | undefined,
  path: string | undefined,
  labels: { type: string; path: string },
): CustomPredicate[] {
  if (!predicateType !== !path)
    throw new ModelshipError('USAGE', `${labels.type} and ${labels.path} go together`, {
      hint: `set both (the predicate's type URI and the JSON file holding it), or neither`,
    });
  return predicateType && path ? [{ predicateType, path }] : [];
}
