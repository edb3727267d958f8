/**
 * pack's pure part: the ModelPack config and manifest over layers already stored. No I/O, so
 * the same inputs always give the same bytes and digests (what makes a pack reproducible).
 */
import { sha256Digest } from './digest.js';
import { ModelshipError } from './errors.js';
import {
  ANNOTATION_CREATED,
  OCI_INDEX,
  OCI_MANIFEST,
  layerMediaType,
  modelConfigMediaType,
  modelManifestArtifactType,
  parseLayerMediaType,
  type IdentifierFamily,
} from './mediatypes.js';
import { buildModelConfig, serializeConfig, validateModelConfig } from './modelpack/config.js';
import type { ModelMetadata, SpecFormat } from './modelpack/types.js';
import type { Descriptor, Index, Manifest } from './oci.js';

/** modctl's manifest annotation holding the Modelfile text (`org.cnai.` in modctl 0.1.x/0.2.2). */
export const ANNOTATION_MODCTL_MODELFILE = 'org.cncf.modctl.modelfile';
export const ANNOTATION_MODCTL_MODELFILE_CNAI = 'org.cnai.modctl.modelfile';
const MODELFILE_ANNOTATION_MAX = 64 * 1024;

/** Compact JSON with a fixed key order, so the same inputs give the same manifest digest. */
export function serializeManifest(manifest: Manifest | Index): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}

/** A manifest or index with its bytes and descriptor. */
export interface BuiltManifest<T extends Manifest | Index = Manifest> {
  manifest: T;
  manifestBytes: Buffer;
  descriptor: Descriptor;
}

function built<T extends Manifest | Index>(manifest: T): BuiltManifest<T> {
  const manifestBytes = serializeManifest(manifest);
  return {
    manifest,
    manifestBytes,
    descriptor: { mediaType: manifest.mediaType, digest: sha256Digest(manifestBytes), size: manifestBytes.length },
  };
}

/**
 * An image manifest over stored blobs, fields in the one order every builder uses (ModelPack
 * artifacts, their variants, modelcar images), so equal inputs give equal digests.
 */
export function buildManifest(input: {
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}): BuiltManifest {
  return built<Manifest>({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(input.artifactType ? { artifactType: input.artifactType } : {}),
    config: input.config,
    layers: input.layers,
    ...(input.subject ? { subject: input.subject } : {}),
    ...(input.annotations && Object.keys(input.annotations).length
      ? { annotations: sortedRecord(input.annotations) }
      : {}),
  });
}

/** An image index, fields in a fixed order (see buildManifest). */
export function buildIndex(input: {
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}): BuiltManifest<Index> {
  return built<Index>({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    ...(input.artifactType ? { artifactType: input.artifactType } : {}),
    manifests: input.manifests,
    ...(input.subject ? { subject: input.subject } : {}),
    ...(input.annotations && Object.keys(input.annotations).length
      ? { annotations: sortedRecord(input.annotations) }
      : {}),
  });
}

/** `org.cncf.model.x` -> `org.cnai.model.x` (and modctl's Modelfile key); other keys as they are. */
function legacyKey(key: string): string {
  if (key === ANNOTATION_MODCTL_MODELFILE) return ANNOTATION_MODCTL_MODELFILE_CNAI;
  return key.startsWith('org.cncf.model.') ? `org.cnai.model.${key.slice('org.cncf.model.'.length)}` : key;
}

function legacyAnnotations(a: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!a) return undefined;
  return sortedRecord(Object.fromEntries(Object.entries(a).map(([k, v]) => [legacyKey(k), v])));
}

/**
 * The `cnai` variant of a cncf ModelPack manifest: the very same config and layer blobs (same
 * digests, no byte written but this manifest) under the legacy identifiers that released
 * Harbor (≤ v2.15, model-spec v0.0.5) and CRI-O 1.33 read: artifactType, config and layer
 * media types, and the `org.cnai.model.*` layer annotations (the title stays for CRI-O).
 */
export function buildCnaiVariant(primary: Manifest): BuiltManifest {
  if (primary.artifactType !== modelManifestArtifactType('cncf'))
    throw new ModelshipError(
      'USAGE',
      `a cnai variant is made from a cncf ModelPack manifest, not ${primary.artifactType ?? primary.config.mediaType}`,
      { hint: 'pack with the cncf identifiers (the default); a cnai artifact needs no cnai variant' },
    );
  const layers = primary.layers.map((l) => {
    const parsed = parseLayerMediaType(l.mediaType);
    if (!parsed)
      throw new ModelshipError('INVALID', `layer ${l.digest} has media type ${l.mediaType}, not a ModelPack layer`);
    const annotations = legacyAnnotations(l.annotations);
    return {
      mediaType: layerMediaType('cnai', parsed.kind, parsed.encoding),
      digest: l.digest,
      size: l.size,
      ...(annotations ? { annotations } : {}),
    };
  });
  const annotations = legacyAnnotations(primary.annotations);
  return buildManifest({
    artifactType: modelManifestArtifactType('cnai'),
    config: { mediaType: modelConfigMediaType('cnai'), digest: primary.config.digest, size: primary.config.size },
    layers,
    ...(annotations ? { annotations } : {}),
  });
}

export function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface ArtifactInput {
  family: IdentifierFamily;
  metadata: ModelMetadata;
  /** In manifest order, each with the diffId the config lists for it. */
  layers: { descriptor: Descriptor; diffId: string }[];
  createdAt?: string;
  /** The Modelfile / spec file the model dir carried, if any. */
  spec?: { format: SpecFormat; text: string | undefined };
  manifestAnnotations?: Record<string, string>;
}

export interface BuiltArtifact {
  config: Record<string, unknown>;
  configBytes: Buffer;
  configDescriptor: Descriptor;
  manifest: Manifest;
  manifestBytes: Buffer;
  descriptor: Descriptor;
}

/**
 * The ModelPack config and manifest over already-stored layers: no I/O, so the same inputs
 * always give the same bytes and digests (what makes a pack reproducible).
 */
export function buildArtifact(input: ArtifactInput): BuiltArtifact {
  const { family, createdAt } = input;
  const config = buildModelConfig(
    input.metadata,
    input.layers.map((l) => l.diffId),
    createdAt ? { createdAt } : {},
  );
  validateModelConfig(config);
  const configBytes = serializeConfig(config);
  const configDescriptor: Descriptor = {
    mediaType: modelConfigMediaType(family),
    digest: sha256Digest(configBytes),
    size: configBytes.length,
  };
  const annotations: Record<string, string> = {};
  // What modctl writes when it builds from a Modelfile, so `modctl` tooling sees the same
  // manifest; small ones only, the manifest must stay far below registries' 4 MiB limit.
  const spec = input.spec;
  if (
    spec?.format === 'modelfile' &&
    spec.text !== undefined &&
    Buffer.byteLength(spec.text) <= MODELFILE_ANNOTATION_MAX
  )
    annotations[family === 'cnai' ? ANNOTATION_MODCTL_MODELFILE_CNAI : ANNOTATION_MODCTL_MODELFILE] = spec.text;
  Object.assign(annotations, input.manifestAnnotations ?? {});
  if (createdAt) annotations[ANNOTATION_CREATED] = createdAt;
  const { manifest, manifestBytes, descriptor } = buildManifest({
    artifactType: modelManifestArtifactType(family),
    config: configDescriptor,
    layers: input.layers.map((l) => l.descriptor),
    annotations,
  });
  return { config, configBytes, configDescriptor, manifest, manifestBytes, descriptor };
}
