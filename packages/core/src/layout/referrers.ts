import { isManifestMediaType, referrerEntry, type ManifestSummary } from '../manifest.js';
import { ANNOTATION_REF_NAME, OCI_INDEX } from '../mediatypes.js';
import { isDigest, referrersFallbackTag, type Descriptor, type Index } from '../oci.js';
import { checkReferrerCount } from '../registry/referrers.js';

/** image-spec#1171 proposal: an index blob holding one subject's referrers, listed in index.json. */
export const ANNOTATION_REFERRER_SUBJECT = 'org.opencontainers.image.referrer.subject';

/**
 * Manifests of a layout whose `subject` is `desc`. Candidates are every manifest listed in
 * index.json plus the entries of indexes that list referrers for `desc` in the image-spec#1171
 * shape or under the `sha256-<hex>` fallback tag (regclient); each candidate is read
 * (`summary`) and its subject checked, so a stale list is never trusted.
 */
export async function layoutReferrers(
  index: Index,
  desc: Descriptor,
  artifactType: string | undefined,
  summary: (d: Descriptor) => Promise<ManifestSummary | undefined>,
  where: string,
): Promise<Descriptor[]> {
  const fallbackTag = referrersFallbackTag(desc.digest);
  const candidates: Descriptor[] = [];
  const seen = new Set<string>();
  const add = (d: Descriptor): void => {
    if (!seen.has(d.digest) && isDigest(d.digest) && isManifestMediaType(d.mediaType)) {
      seen.add(d.digest);
      candidates.push(d);
    }
  };
  for (const d of index.manifests) {
    add(d);
    const listsReferrers =
      d.mediaType === OCI_INDEX &&
      (d.annotations?.[ANNOTATION_REFERRER_SUBJECT] === desc.digest ||
        d.annotations?.[ANNOTATION_REF_NAME] === fallbackTag);
    if (listsReferrers) for (const r of (await summary(d))?.manifests ?? []) add(r);
  }
  const out: Descriptor[] = [];
  for (const c of candidates) {
    if (c.digest === desc.digest) continue;
    const s = await summary(c);
    if (!s || s.subject?.digest !== desc.digest) continue;
    if (artifactType !== undefined && s.effectiveArtifactType !== artifactType) continue;
    out.push(referrerEntry({ ...c, mediaType: s.mediaType ?? c.mediaType }, s));
    // A layout from elsewhere is as untrusted as a registry: the same cap, checked as found.
    checkReferrerCount(out.length, where);
  }
  return out;
}
