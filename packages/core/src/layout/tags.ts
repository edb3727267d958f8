import {
  ANNOTATION_REF_NAME,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V2,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../mediatypes.js';
import { isReferrersFallbackTag, type Descriptor, type Index } from '../oci.js';

/**
 * cosign's layout annotation (docs/referrers.md, "OCI layouts"): `cosign verify
 * --local-image DIR` verifies the index.json entry annotated `kind:
 * dev.cosignproject.cosign/image` and finds
 * its bundles by scanning blobs/ for referrers of that digest; `cosign save` writes
 * `…/imageIndex` for an index. modelship puts it on the artifact it tagged last, so the
 * layout has one cosign target. Referrer entries get no `…/sigs` / `…/atts` kind: those
 * name cosign's legacy signature images, and would make cosign read a bundle as one.
 * Other readers (oras, skopeo, modctl, containerd) ignore annotations they do not know.
 */
export const ANNOTATION_COSIGN_KIND = 'kind';
export const COSIGN_KIND_IMAGE = 'dev.cosignproject.cosign/image';
export const COSIGN_KIND_IMAGE_INDEX = 'dev.cosignproject.cosign/imageIndex';

function cosignKind(mediaType: string): string | undefined {
  if (mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST_V2) return COSIGN_KIND_IMAGE;
  if (mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST) return COSIGN_KIND_IMAGE_INDEX;
  return undefined;
}

/** image-spec annotations.md grammar for `org.opencontainers.image.ref.name`. */
export const REF_NAME_RE =
  /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** Every tag in `index`, in index order. */
export function indexTags(index: Index): string[] {
  const out: string[] = [];
  for (const d of index.manifests) {
    const t = d.annotations?.[ANNOTATION_REF_NAME];
    if (t !== undefined && !out.includes(t)) out.push(t);
  }
  return out;
}

/** The entry `tag` names: the last one carrying it (a later write wins). */
export function taggedEntry(index: Index, tag: string): Descriptor | undefined {
  const matches = index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] === tag);
  return matches[matches.length - 1];
}

/**
 * Points `tag` at `desc` in `index` (in place): the tag moves off every other entry, which
 * stays as an untagged root; `artifactType` types a new entry; cosign's `kind` follows the tag.
 * Returns whether anything changed.
 */
export function applyTag(index: Index, desc: Descriptor, tag: string, artifactType: string | undefined): boolean {
  const before = JSON.stringify(index.manifests);
  for (const d of index.manifests)
    if (d.digest !== desc.digest && d.annotations?.[ANNOTATION_REF_NAME] === tag)
      dropAnnotations(d, [ANNOTATION_REF_NAME]);
  const mine = index.manifests.filter((d) => d.digest === desc.digest);
  if (!mine.some((d) => d.annotations?.[ANNOTATION_REF_NAME] === tag)) {
    const untagged = mine.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === undefined);
    if (untagged) untagged.annotations = { ...untagged.annotations, [ANNOTATION_REF_NAME]: tag };
    else {
      const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
      const type = mine[0]?.artifactType ?? artifactType;
      if (type) entry.artifactType = type;
      entry.annotations = { [ANNOTATION_REF_NAME]: tag };
      index.manifests.push(entry);
    }
  }
  // A referrers fallback tag (sha256-<hex>) names a list of referrers, not an artifact.
  const kind = isReferrersFallbackTag(tag) ? undefined : cosignKind(desc.mediaType);
  if (kind) markCosignTarget(index.manifests, desc.digest, kind);
  index.manifests = dropRedundantUntagged(index.manifests);
  return JSON.stringify(index.manifests) !== before;
}

/** Moves cosign's `kind` to the tagged entries of `digest`, off every other artifact. */
function markCosignTarget(manifests: Descriptor[], digest: string, kind: string): void {
  for (const d of manifests) {
    const current = d.annotations?.[ANNOTATION_COSIGN_KIND];
    if (d.digest === digest) {
      if (d.annotations?.[ANNOTATION_REF_NAME] !== undefined && current !== kind)
        d.annotations = { ...d.annotations, [ANNOTATION_COSIGN_KIND]: kind };
    } else if (current === COSIGN_KIND_IMAGE || current === COSIGN_KIND_IMAGE_INDEX)
      dropAnnotations(d, [ANNOTATION_COSIGN_KIND]);
  }
}

/** Deletes `keys` from an entry's annotations, and the annotations when none are left. */
function dropAnnotations(d: Descriptor, keys: readonly string[]): void {
  if (!d.annotations) return;
  const rest = Object.fromEntries(Object.entries(d.annotations).filter(([k]) => !keys.includes(k)));
  if (Object.keys(rest).length) d.annotations = rest;
  else delete d.annotations;
}

/**
 * Removes `tag` from `index` (in place). Its entry stays as an untagged root, unless the
 * digest is listed elsewhere, for garbage collection to judge; cosign's `kind` leaves with the
 * tag. Returns the digest the tag named, undefined when no entry carries it.
 */
export function removeTag(index: Index, tag: string): string | undefined {
  const named = taggedEntry(index, tag);
  if (!named) return undefined;
  for (const d of index.manifests)
    if (d.annotations?.[ANNOTATION_REF_NAME] === tag) dropAnnotations(d, [ANNOTATION_REF_NAME, ANNOTATION_COSIGN_KIND]);
  index.manifests = dropRedundantUntagged(index.manifests);
  keepCosignTarget(index);
  return named.digest;
}

/** Removes every entry of `digest` (in place); returns the tags they carried, undefined when none is listed. */
export function removeManifestEntries(index: Index, digest: string): string[] | undefined {
  const mine = index.manifests.filter((d) => d.digest === digest);
  if (!mine.length) return undefined;
  index.manifests = index.manifests.filter((d) => d.digest !== digest);
  keepCosignTarget(index);
  return mine.map((d) => d.annotations?.[ANNOTATION_REF_NAME]).filter((t): t is string => t !== undefined);
}

/**
 * After a removal the layout still has one cosign target when it has a tagged artifact: the
 * last tagged entry in index order (tags set later are appended), as if it was tagged last.
 */
function keepCosignTarget(index: Index): void {
  const isTarget = (k: string | undefined): boolean => k === COSIGN_KIND_IMAGE || k === COSIGN_KIND_IMAGE_INDEX;
  if (index.manifests.some((d) => isTarget(d.annotations?.[ANNOTATION_COSIGN_KIND]))) return;
  const last = index.manifests.findLast((d) => {
    const t = d.annotations?.[ANNOTATION_REF_NAME];
    return t !== undefined && !isReferrersFallbackTag(t) && cosignKind(d.mediaType) !== undefined;
  });
  if (last) markCosignTarget(index.manifests, last.digest, cosignKind(last.mediaType)!);
}

/** Untagged duplicates add nothing once the same digest is listed elsewhere. */
function dropRedundantUntagged(manifests: Descriptor[]): Descriptor[] {
  const tagged = new Set(
    manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== undefined).map((d) => d.digest),
  );
  const keptUntagged = new Set<string>();
  return manifests.filter((d) => {
    if (d.annotations?.[ANNOTATION_REF_NAME] !== undefined) return true;
    if (tagged.has(d.digest) || keptUntagged.has(d.digest)) return false;
    keptUntagged.add(d.digest);
    return true;
  });
}
