import { ModelshipError, isModelshipError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, parseReferrerManifest } from '../manifest.js';
import type { Descriptor, Manifest } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';
import { wellFormedReferrers } from '../registry/referrers.js';

/** Layer media types of Sigstore bundles (v0.1 … v0.3, both spellings), as cosign selects them. */
export const SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';
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
    let manifest: Manifest;
    try {
      const bytes = await store.fetchBytes(
        { mediaType: referrer.mediaType, digest: referrer.digest, size: referrer.size },
        MAX_BUNDLE_BYTES,
      );
      manifest = parseReferrerManifest(bytes);
    } catch (e) {
      if (isModelshipError(e) && e.code === 'NETWORK') throw e;
      rejected.push({ referrer, reason: `unreadable referrer manifest: ${message(e)}` });
      continue;
    }
    const layer = manifest.layers.length === 1 ? manifest.layers[0] : undefined;
    if (!layer || typeof layer.mediaType !== 'string' || !layer.mediaType.startsWith(SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX))
      continue; // another kind of referrer (SBOM, legacy signature image, …)
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
    let bundle: unknown;
    try {
      if (layer.size > MAX_BUNDLE_BYTES) throw new ModelshipError('INVALID', `bundle is ${layer.size} bytes`);
      const bytes = await store.fetchBytes(layer, MAX_BUNDLE_BYTES);
      bundle = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      if (isModelshipError(e) && e.code === 'NETWORK') throw e;
      rejected.push({ referrer, reason: `unreadable bundle: ${message(e)}` });
      continue;
    }
    bundleReferrer.set(layer.digest, referrer.digest);
    bundles.push({ referrer, bundle, bundleDigest: layer.digest });
  }
  return { bundles, rejected };
}

/** The bundles of `discoverReferrers`, without the rejected referrers. */
export async function discoverBundles(store: ReadOnlyStore, subject: Descriptor): Promise<DiscoveredBundle[]> {
  return (await discoverReferrers(store, subject)).bundles;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
