import { ModelshipError } from '../errors.js';
import { isDigest } from '../oci.js';

/**
 * The tags pack sets: the target's own tag and every one given (as promote sets them), else
 * `latest`; the target's tag first (it is the reference pack prints), each once. A target that
 * names a digest is refused: the digest is what pack computes, it cannot be chosen.
 */
export function packTags(
  target: { reference?: string | undefined },
  spec: string,
  tags: readonly string[] | undefined,
  label: string,
): string[] {
  if (target.reference && isDigest(target.reference))
    throw new ModelshipError('USAGE', `${label} "${spec}" names a digest`, {
      hint: 'name a tag (or none, for latest): pack computes the digest',
    });
  const all = [...(target.reference ? [target.reference] : []), ...(tags ?? [])];
  return all.length ? [...new Set(all)] : ['latest'];
}
