import { ModelshipError } from '../errors.js';
import { isDigest, isReferrersFallbackTag, type Descriptor } from '../oci.js';

/**
 * A tag a user asks to set. The `sha256-<hex>` shape is refused: on a registry without the
 * referrers API that tag holds the referrers index of the digest it names, and an artifact
 * tagged there would hide that digest's signatures and attestations.
 */
export function settableTag(tag: string, label: string): string {
  if (isReferrersFallbackTag(tag))
    throw new ModelshipError('USAGE', `${label} "${tag}" is a referrers index tag (sha256-<hex>), not a tag to set`, {
      hint: 'that tag lists the signatures and attestations of the digest it names; choose another tag',
    });
  return tag;
}

/**
 * The tags a copy sets in its destination (cp, push, pull into a layout): the destination's
 * own tag, else the source's, then every extra one. A destination that names a digest must
 * name the source's (a copy never changes digests) and sets no tag of its own.
 */
export function copyTags(
  root: Descriptor,
  source: { reference?: string | undefined },
  destination: { reference?: string | undefined; display: string },
  extra: readonly string[] | undefined,
  labels: { destination: string; tag: string },
): string[] {
  const dst = destination.reference;
  if (dst && isDigest(dst) && dst !== root.digest)
    throw new ModelshipError(
      'USAGE',
      `${labels.destination} ${destination.display} names digest ${dst}, but the source is ${root.digest}`,
      { hint: 'a copy keeps the digest: name the destination by repository or tag' },
    );
  const own =
    dst && !isDigest(dst) ? dst : source.reference && !isDigest(source.reference) ? source.reference : undefined;
  const tags = own ? [settableTag(own, labels.destination)] : [];
  for (const t of extra ?? []) if (!tags.includes(t)) tags.push(settableTag(t, labels.tag));
  return tags;
}
