import { ModelshipError } from '../errors.js';
import { isDigest } from '../oci.js';

/**
 * The tags pack sets: the ones given, else the target's own tag, else `latest`. A target that
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
  return tags?.length ? [...tags] : [target.reference ?? 'latest'];
}
