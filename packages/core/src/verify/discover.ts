import { ModelshipError, isModelshipError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, parseReferrerManifest } from '../manifest.js';
import type { Descriptor, Manifest } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';
import { wellFormedReferrers } from '../registry/referrers.js';

/** Layer media types of Sigstore bundles (v0.1 … v0.3, both spellings), as cosign selects them. */
const SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';
/** Largest bundle read from a store: real bundles are a few KiB. */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;

export interface DiscoveredBundle {
  /** The referrer manifest, as listed (its annotations are not trusted; the manifest was re-read). */
  referrer: Descriptor;
  /** The bundle, parsed JSON, not yet validated or verified. */
  bundle: unknown;
  /** Digest of the bundle blob (the referrer's one layer). */
  bundleDigest: string;
}

export interface RejectedReferrer {
  referrer: Descriptor;
  reason: string;
  /** The bundle blob's digest, when the referrer manifest named one that was read. */
  bundleDigest?: string;
}

export interface DiscoveryResult {
  /** One entry per distinct bundle blob: a second referrer to the same bundle is in `rejected`. */
  bundles: DiscoveredBundle[];
  /**
   * Referrers that looked like bundles but cannot be used (wrong subject, unreadable, not JSON,
   * or a copy of a bundle already found under another referrer).
   */
  rejected: RejectedReferrer[];
  /**
   * The referrers that are not Sigstore bundles, their manifests already read (re-read from
   * the store, not the listing): other signature formats (Notation) are picked from these, so
   * each referrer manifest is fetched once. Only what a signature format is told by is kept
   * (artifactType, config media type, subject, at most two layers, no annotations), so a
   * listing of large hostile manifests costs no more memory than a small one.
   */
  others: { referrer: Descriptor; manifest: Manifest }[];
}

/**
 * Every Sigstore bundle attached to `subject`, cosign v3 style: all referrers (no artifactType
 * filter, since old fallback indexes carry wrong ones), each manifest re-read from the store,
 * kept when its single layer is a bundle, the bundle fetched size-capped and digest-checked
 * by the store, and the manifest's own `subject` required to be this artifact.
 */
export async function discoverReferrers(store: ReadOnlyStore, subject: Descriptor): Promise<DiscoveryResult> {
  // Whatever the store hands back is untrusted: entries that are not descriptors are dropped.
  const listed = wellFormedReferrers(await store.referrers(subject));
  const bundles: DiscoveredBundle[] = [];
  const rejected: RejectedReferrer[] = [];
  const others: DiscoveryResult['others'] = [];
  const seen = new Set<string>();
  // Bundle digest -> the first referrer that carried it. Anyone who can push can list a copy of
  // a signature's referrer (one annotation changed gives a new manifest digest): the bundle is
  // the same signature and is counted once.
  const bundleReferrer = new Map<string, string>();
  for (const referrer of listed) {
    if (seen.has(referrer.digest)) continue;
    seen.add(referrer.digest);
    if (referrer.mediaType && !isManifestMediaType(referrer.mediaType)) continue;
    // An index is never a bundle referrer (cosign writes image manifests); modelship's own are
    // variant links (variants/link.ts).
    if (isIndexMediaType(referrer.mediaType)) continue;
    const read = await readReferrerManifest(store, referrer);
    if ('reason' in read) {
      rejected.push({ referrer, reason: `unreadable referrer manifest: ${read.reason}` });
      continue;
    }
    let manifest: Manifest;
    try {
      manifest = parseReferrerManifest(read.bytes);
    } catch (e) {
      rejected.push({ referrer, reason: `unreadable referrer manifest: ${message(e)}` });
      continue;
    }
    const layer = bundleLayer(manifest.layers);
    if (!layer) {
      // Another kind of referrer (Notation signature, SBOM, legacy signature image, …).
      others.push({ referrer, manifest: slim(manifest) });
      continue;
    }
    if (manifest.subject?.digest !== subject.digest) {
      rejected.push({ referrer, reason: 'referrer for another digest' });
      continue;
    }
    const first = bundleReferrer.get(layer.digest);
    if (first !== undefined) {
      rejected.push({
        referrer,
        reason: `same bundle as referrer ${first} (counted once)`,
        bundleDigest: layer.digest,
      });
      continue;
    }
    const bundle = await readBundle(store, layer);
    if ('reason' in bundle) {
      rejected.push({ referrer, reason: `unreadable bundle: ${bundle.reason}` });
      continue;
    }
    bundleReferrer.set(layer.digest, referrer.digest);
    bundles.push({ referrer, bundle: bundle.bundle, bundleDigest: layer.digest });
  }
  return { bundles, rejected, others };
}

/**
 * A referrer manifest's bytes, re-read from the store and capped (referrer manifests are a
 * few hundred bytes), or why they cannot be read. A network failure is no property of the
 * referrer: it is thrown.
 */
export async function readReferrerManifest(
  store: ReadOnlyStore,
  referrer: Descriptor,
): Promise<{ bytes: Buffer } | { reason: string }> {
  try {
    return {
      bytes: await store.fetchBytes(
        { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size },
        MAX_BUNDLE_BYTES,
      ),
    };
  } catch (e) {
    if (isModelshipError(e) && e.code === 'NETWORK') throw e;
    return { reason: message(e) };
  }
}

/** The Sigstore bundle a referrer carries: its single layer, when that is a bundle (as cosign selects). */
export function bundleLayer(layers: readonly unknown[] | undefined): Descriptor | undefined {
  // Only the media type decides; a malformed digest or size then fails the read, visibly.
  const layer = layers?.length === 1 ? (layers[0] as Partial<Descriptor> | null) : undefined;
  const isBundle =
    typeof layer?.mediaType === 'string' && layer.mediaType.startsWith(SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX);
  return isBundle ? (layer as Descriptor) : undefined;
}

/** A bundle blob, size-capped and digest-checked by the store, as parsed JSON, or why not. */
export async function readBundle(
  store: ReadOnlyStore,
  layer: Descriptor,
): Promise<{ bundle: unknown } | { reason: string }> {
  try {
    if (layer.size > MAX_BUNDLE_BYTES) throw new ModelshipError('INVALID', `bundle is ${layer.size} bytes`);
    const bytes = await store.fetchBytes(layer, MAX_BUNDLE_BYTES);
    return { bundle: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch (e) {
    if (isModelshipError(e) && e.code === 'NETWORK') throw e;
    return { reason: message(e) };
  }
}

/** The bundles of `discoverReferrers`, without the rejected referrers. */
export async function discoverBundles(store: ReadOnlyStore, subject: Descriptor): Promise<DiscoveredBundle[]> {
  return (await discoverReferrers(store, subject)).bundles;
}

function slimDescriptor(d: unknown): Descriptor {
  const v = (d ?? {}) as Partial<Descriptor>;
  return { mediaType: String(v.mediaType), digest: String(v.digest), size: Number(v.size) };
}

function slim(m: Manifest): Manifest {
  return {
    schemaVersion: 2,
    mediaType: m.mediaType,
    ...(typeof m.artifactType === 'string' ? { artifactType: m.artifactType } : {}),
    config: slimDescriptor(m.config),
    layers: m.layers.slice(0, 2).map(slimDescriptor),
    ...(m.subject ? { subject: slimDescriptor(m.subject) } : {}),
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
