import { ModelshipError } from '../../errors.js';
import { CYCLONEDX_PREDICATE_TYPE, buildCycloneDx, cycloneDxProblems } from './cyclonedx.js';
import type { SbomModel } from './model.js';
import { SPDX_PREDICATE_TYPE, buildSpdx, spdxProblems } from './spdx.js';

export { CYCLONEDX_PREDICATE_TYPE, buildCycloneDx, cycloneDxProblems } from './cyclonedx.js';
export { SPDX_CONTEXT, SPDX_PREDICATE_TYPE, SPDX_VERSION, buildSpdx, spdxProblems } from './spdx.js';
export { ociPurl, sbomModel, type SbomDataset, type SbomFile, type SbomModel, type SbomModelOptions } from './model.js';

export type SbomFormat = 'cyclonedx' | 'spdx';
export const SBOM_FORMATS: readonly SbomFormat[] = ['cyclonedx', 'spdx'];

export const SBOM_PREDICATE_TYPES: Record<SbomFormat, string> = {
  cyclonedx: CYCLONEDX_PREDICATE_TYPE,
  spdx: SPDX_PREDICATE_TYPE,
};

export function buildSbom(
  format: SbomFormat,
  model: SbomModel,
  options: { now?: Date; tool?: { name: string; version: string } } = {},
): Record<string, unknown> {
  if (format === 'cyclonedx') return buildCycloneDx(model, options);
  if (format === 'spdx') return buildSpdx(model, options);
  throw new ModelshipError('USAGE', `unknown SBOM format "${String(format)}"`, {
    hint: `use ${SBOM_FORMATS.join(' or ')}`,
  });
}

/** Why a signed SBOM does not describe the artifact `digest` with these layers (empty: it does). */
export function sbomProblems(
  format: SbomFormat,
  predicate: Record<string, unknown>,
  digest: string,
  layers: readonly string[],
): string[] {
  return format === 'cyclonedx'
    ? cycloneDxProblems(predicate, digest, layers)
    : spdxProblems(predicate, digest, layers);
}
