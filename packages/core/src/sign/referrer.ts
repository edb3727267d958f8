import { sha256Digest } from '../digest.js';
import { ANNOTATION_CREATED, OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST } from '../mediatypes.js';
import type { Descriptor, Manifest } from '../oci.js';
import type { ContentStore } from '../store.js';
import {
  ANNOTATION_BUNDLE_CONTENT,
  ANNOTATION_BUNDLE_PREDICATE_TYPE,
  BUNDLE_V03_MEDIA_TYPE,
  type SerializedBundleJson,
} from './types.js';

const EMPTY_JSON = Buffer.from('{}');

export interface AttachedBundle {
  /** The referrer manifest (artifactType = bundle media type, subject = the signed manifest). */
  referrer: Descriptor;
  /** The bundle JSON blob, the referrer's one layer. */
  bundle: Descriptor;
  bundleBytes: Buffer;
}

/** Second-precision RFC 3339, as cosign writes org.opencontainers.image.created. */
export function rfc3339Now(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Attaches a Sigstore bundle to `subject` as an OCI 1.1 referrer in cosign's bundle layout
 * (empty config, one layer = the bundle, artifactType = the bundle media type, annotations
 * content + predicateType + created). Blobs go first and the manifest last, so no store ever
 * holds a referrer whose bundle is missing; the store then makes the referrer discoverable
 * (referrers API, fallback tag index, layout index.json). Each bundle is a new manifest:
 * signing again adds a signature, never replaces one.
 */
export async function attachBundle(
  store: ContentStore,
  subject: Descriptor,
  bundleJson: SerializedBundleJson,
  predicateType: string,
  options: { created?: string } = {},
): Promise<AttachedBundle> {
  const bundleBytes = Buffer.from(JSON.stringify(bundleJson), 'utf8');
  const mediaType = bundleJson.mediaType || BUNDLE_V03_MEDIA_TYPE;
  const pushed = await pushReferrer(store, subject, {
    artifactType: mediaType,
    layer: { mediaType, bytes: bundleBytes },
    annotations: {
      [ANNOTATION_BUNDLE_CONTENT]: bundleJson.dsseEnvelope ? 'dsse-envelope' : 'message-signature',
      [ANNOTATION_BUNDLE_PREDICATE_TYPE]: predicateType,
      [ANNOTATION_CREATED]: options.created ?? rfc3339Now(),
    },
  });
  return { referrer: pushed.referrer, bundle: pushed.layer, bundleBytes };
}

/**
 * Pushes a referrer of `subject` with the empty config and one layer: the config and the layer
 * first, the manifest last, so no store ever holds a referrer whose layer is missing. Sigstore
 * bundles (cosign's layout) and Notation signatures (oras-go's, whose empty config descriptor
 * carries its `data`) both go through here.
 */
export async function pushReferrer(
  store: ContentStore,
  subject: Descriptor,
  what: {
    artifactType: string;
    layer: { mediaType: string; bytes: Buffer };
    annotations: Record<string, string>;
    /** Write the empty config's bytes into its descriptor (`data`), as oras-go does. */
    configData?: boolean;
  },
): Promise<{ referrer: Descriptor; layer: Descriptor }> {
  const layer: Descriptor = {
    mediaType: what.layer.mediaType,
    digest: sha256Digest(what.layer.bytes),
    size: what.layer.bytes.length,
  };
  const config: Descriptor = { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: EMPTY_JSON.length };
  await store.push(config, EMPTY_JSON);
  await store.push(layer, what.layer.bytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: what.artifactType,
    config: what.configData ? { ...config, data: EMPTY_JSON.toString('base64') } : config,
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: what.annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const referrer: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(referrer, bytes);
  return { referrer: { ...referrer, artifactType: what.artifactType, annotations: what.annotations }, layer };
}
