import { ModelshipError } from '../errors.js';
import { VARIANT_NAMES, type VariantName } from '../variants/link.js';
import { parseChoice } from './choice.js';

export interface VariantsPlan {
  names: VariantName[];
  /** The base image reference for the modelcar, as given. */
  baseImage?: string;
}

/**
 * The variants a pack, push, promote or release asks for: each value a name or a comma- or
 * newline-separated list, names checked and kept once in the order given. A base image goes
 * only with the modelcar variant. `labels` name the flag or input each came from.
 */
export function parseVariants(
  values: readonly string[] | undefined,
  baseImage: string | undefined,
  labels: { variants: string; baseImage?: string },
): VariantsPlan {
  const names: VariantName[] = [];
  for (const v of values ?? [])
    for (const part of v
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean)) {
      const name = parseChoice<VariantName>(part, VARIANT_NAMES, labels.variants);
      if (!names.includes(name)) names.push(name);
    }
  if (baseImage && !names.includes('modelcar'))
    throw new ModelshipError('USAGE', `${labels.baseImage ?? 'a base image'} goes with the modelcar variant`, {
      hint: `add ${labels.variants} modelcar, or drop ${labels.baseImage ?? 'the base image'}`,
    });
  return { names, ...(baseImage ? { baseImage } : {}) };
}
