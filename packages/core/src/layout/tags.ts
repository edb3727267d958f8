import {
  ANNOTATION_REF_NAME,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST_V2,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../mediatypes.js';
import type { Descriptor, Index } from '../oci.js';

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

const FALLBACK_TAG_RE = /^sha256-[0-9a-f]{64}$/;

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
  for (const d of index.manifests) {
    if (d.digest === desc.digest || d.annotations?.[ANNOTATION_REF_NAME] !== tag) continue;
    const { [ANNOTATION_REF_NAME]: _removed, ...rest } = d.annotations;
    if (Object.keys(rest).length) d.annotations = rest;
    else delete d.annotations;
  }
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
  const kind = FALLBACK_TAG_RE.test(tag) ? undefined : cosignKind(desc.mediaType);
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
    } else if (d.annotations && (current === COSIGN_KIND_IMAGE || current === COSIGN_KIND_IMAGE_INDEX)) {
      const { [ANNOTATION_COSIGN_KIND]: _removed, ...rest } = d.annotations;
      if (Object.keys(rest).length) d.annotations = rest;
      else delete d.annotations;
    }
  }
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
