/**
 * The one place that knows what a manifest is: media-type tests, strict parsing (what is
 * copied or read as an artifact), a lenient summary (what index scans and referrer listings
 * need from bytes that may be anything), and the referrers-list entry rule. Stores, the graph
 * copy, discovery and attestation facts all read manifests through these.
 */
import { ModelshipError } from './errors.js';
import { DOCKER_MANIFEST_LIST, MANIFEST_MEDIA_TYPES, OCI_INDEX } from './mediatypes.js';
import type { Descriptor, Index, Manifest } from './oci.js';

/** True for the four manifest and index media types stores tell apart from blobs. */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && MANIFEST_MEDIA_TYPES.includes(mediaType);
}

/** True for an image index or Docker manifest list. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

export function isManifestDescriptor(desc: Descriptor): boolean {
  return isManifestMediaType(desc.mediaType);
}

/** Parses manifest bytes, refusing what is not JSON or not a manifest/index. */
export function parseManifest(bytes: Buffer, desc: Descriptor): Manifest | Index {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ModelshipError('INVALID', `manifest ${desc.digest} is not valid JSON`, { cause: e });
  }
  if (!doc || typeof doc !== 'object' || (doc as { schemaVersion?: unknown }).schemaVersion !== 2)
    throw new ModelshipError('INVALID', `manifest ${desc.digest} is not an OCI manifest or index (schemaVersion 2)`);
  const d = doc as Partial<Manifest & Index>;
  const isIndex = isIndexMediaType(desc.mediaType) || Array.isArray(d.manifests);
  if (isIndex) {
    if (!Array.isArray(d.manifests)) throw new ModelshipError('INVALID', `index ${desc.digest} has no manifests list`);
    return d as Index;
  }
  if (!d.config || !Array.isArray(d.layers))
    throw new ModelshipError('INVALID', `manifest ${desc.digest} lacks config or layers`);
  return d as Manifest;
}

/**
 * What a manifest or index points at, the edges every graph walk follows (copy, inspect, a
 * layout's garbage collection): an index's manifests, else a manifest's config and layers.
 * Referrers are not in here: they point at the manifest, not the other way round.
 */
export function manifestChildren(doc: Manifest | Index): Descriptor[] {
  return 'manifests' in doc ? doc.manifests : [doc.config, ...doc.layers];
}

/**
 * One image manifest (what pull extracts and attestations describe): an index is refused,
 * with `hint` saying how to pick one of its manifests.
 */
export function parseImageManifest(bytes: Buffer, desc: Descriptor, hint: string): Manifest {
  const doc = parseManifest(bytes, desc);
  if ('manifests' in doc)
    throw new ModelshipError('INVALID', `${desc.digest} is an index, not a model manifest`, { hint });
  return doc;
}

/**
 * A referrer manifest as discovery reads it: JSON with a layers list, nothing more demanded
 * (old signers omit fields; what matters is checked by the caller). Messages are short: they
 * end up in a "rejected referrer" reason.
 */
export function parseReferrerManifest(bytes: Buffer): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ModelshipError('INVALID', 'not JSON', { cause: e });
  }
  const m = doc as Partial<Manifest> | null;
  if (!m || typeof m !== 'object' || !Array.isArray(m.layers))
    throw new ModelshipError('INVALID', 'not an image manifest (no layers)');
  return m as Manifest;
}

/** What index scans and referrer listings need from a manifest or index, read leniently. */
export interface ManifestSummary {
  mediaType: string | undefined;
  /** The manifest's own artifactType field. */
  artifactType: string | undefined;
  /** What a referrers response reports: artifactType, else (image manifests) config.mediaType. */
  effectiveArtifactType: string | undefined;
  subject: Descriptor | undefined;
  annotations: Record<string, string> | undefined;
  /** For indexes: their entries (the #1171 and fallback-tag shapes list referrers there). */
  manifests: Descriptor[];
  /** For image manifests: the config and the layers (entries that are not descriptors dropped). */
  config: Descriptor | undefined;
  layers: Descriptor[];
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, s] of Object.entries(v)) if (typeof s === 'string') out[k] = s;
  return out;
}

/** `v` when it has the three fields every descriptor needs, else undefined. */
export function asDescriptor(v: unknown): Descriptor | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number') return undefined;
  return v as Descriptor;
}

/** Summary of manifest bytes; undefined for anything that is not a JSON object. */
export function summarizeManifest(bytes: Buffer): ManifestSummary | undefined {
  let m: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    m = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const config = asDescriptor(m.config);
  const mediaType = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const artifactType = typeof m.artifactType === 'string' ? m.artifactType : undefined;
  // image-spec: an image manifest without artifactType is typed by its config media type.
  const effectiveArtifactType = artifactType ?? (mediaType !== OCI_INDEX && config ? config.mediaType : undefined);
  const descriptors = (v: unknown): Descriptor[] =>
    Array.isArray(v) ? v.map(asDescriptor).filter((d): d is Descriptor => d !== undefined) : [];
  return {
    mediaType,
    artifactType,
    effectiveArtifactType,
    subject: asDescriptor(m.subject),
    annotations: stringRecord(m.annotations),
    manifests: descriptors(m.manifests),
    config,
    layers: descriptors(m.layers),
  };
}

/**
 * The referrers-list entry for a manifest (distribution-spec: artifactType, else
 * config.mediaType; all annotations), for a store listing what it holds.
 */
export function referrerEntry(desc: Descriptor, summary: ManifestSummary): Descriptor {
  const d: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (summary.effectiveArtifactType) d.artifactType = summary.effectiveArtifactType;
  if (summary.annotations && Object.keys(summary.annotations).length) d.annotations = { ...summary.annotations };
  return d;
}
