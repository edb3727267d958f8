/**
 * Variants of a ModelPack artifact and how they are found. A variant is another manifest of
 * the same model for consumers that cannot read the primary cncf manifest (docs/kubernetes.md):
 *
 * - `cnai`: the same blobs under the legacy identifiers (released Harbor, CRI-O 1.33);
 * - `modelcar`: an OCI image with the files under /models (containerd, KServe).
 *
 * Each variant is linked to its primary by a small index that is a referrer of the primary
 * (artifactType VARIANT_LINK_TYPE, one entry: the variant). The link is unsigned and only
 * says where to look; what a verifier trusts is the signed variant record on the variant
 * (variants/record.ts). Because the link is a referrer, the one graph copy (copy.ts) moves a
 * primary's variants, and their signatures, with it; the variant manifests carry no `subject`
 * of their own, so registries that hide referrers (Harbor lists them as accessories) still
 * show each variant as an artifact of its own.
 */
import { ModelshipError } from '../errors.js';
import { isIndexMediaType, parseManifest } from '../manifest.js';
import { isDigest, type Descriptor } from '../oci.js';
import { buildIndex, type BuiltManifest } from '../pack-manifest.js';
import { wellFormedReferrers } from '../registry/referrers.js';
import type { Index } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';

export type VariantName = 'cnai' | 'modelcar';
export const VARIANT_NAMES: readonly VariantName[] = ['cnai', 'modelcar'];

/** artifactType of the link index (a referrer of the primary) that names one variant. */
export const VARIANT_LINK_TYPE = 'application/vnd.modelship.variant.link.v1+json';
/** Annotation on the link and on its entry: the variant's name. */
export const ANNOTATION_VARIANT = 'dev.modelship.variant';
/** Annotation on a modelcar's link entry: the base image's digest, empty without one. */
export const ANNOTATION_VARIANT_BASE = 'dev.modelship.variant.base';

/** The tag of a variant next to the primary's tag: `<tag>-<name>`. */
export function variantTag(tag: string, name: VariantName): string {
  return `${tag}-${name}`;
}

/** The link index from `primary` to `variant` (deterministic: re-linking writes nothing new). */
export function buildVariantLink(
  primary: Descriptor,
  variant: Descriptor,
  name: VariantName,
  extra: Record<string, string> = {},
): BuiltManifest<Index> {
  return buildIndex({
    artifactType: VARIANT_LINK_TYPE,
    manifests: [
      {
        mediaType: variant.mediaType,
        digest: variant.digest,
        size: variant.size,
        annotations: { [ANNOTATION_VARIANT]: name, ...extra },
      },
    ],
    subject: { mediaType: primary.mediaType, digest: primary.digest, size: primary.size },
    annotations: { [ANNOTATION_VARIANT]: name },
  });
}

export interface LinkedVariant {
  name: VariantName;
  descriptor: Descriptor;
  /** The link index (a referrer of the primary). */
  link: Descriptor;
  /** The entry's annotations (modelcar: the base image digest). */
  annotations: Record<string, string>;
}

const MAX_LINK_BYTES = 64 * 1024;

/** Whether a referrers entry is a variant link (by its listed artifactType; the bytes are re-read). */
export function isVariantLink(r: Descriptor): boolean {
  return r.artifactType === VARIANT_LINK_TYPE && isIndexMediaType(r.mediaType);
}

/**
 * The variants linked to `primary` in `store`, read from the link indexes among its
 * referrers. Each link is re-read and must have `primary` as subject and one well-formed
 * entry with a known variant name; anything else is ignored (a referrer listing is untrusted).
 * Unsigned: callers that act on a variant check it (variants/record.ts `checkVariant`) or trust its signed record.
 */
export async function linkedVariants(store: ReadOnlyStore, primary: Descriptor): Promise<LinkedVariant[]> {
  const out: LinkedVariant[] = [];
  const seen = new Set<string>();
  for (const r of wellFormedReferrers(await store.referrers(primary))) {
    if (!isVariantLink(r) || seen.has(r.digest)) continue;
    seen.add(r.digest);
    let doc: ReturnType<typeof parseManifest>;
    try {
      doc = parseManifest(await store.fetchBytes(r, MAX_LINK_BYTES), r);
    } catch (e) {
      if (e instanceof ModelshipError && e.code === 'NETWORK') throw e;
      continue;
    }
    if (!('manifests' in doc) || doc.subject?.digest !== primary.digest || doc.manifests.length !== 1) continue;
    const entry = doc.manifests[0]!;
    const name = entry.annotations?.[ANNOTATION_VARIANT];
    if (!VARIANT_NAMES.includes(name as VariantName) || !isDigest(entry.digest)) continue;
    out.push({
      name: name as VariantName,
      descriptor: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size },
      link: { mediaType: r.mediaType, digest: r.digest, size: r.size },
      annotations: { ...entry.annotations },
    });
  }
  return out;
}
