/**
 * pack's pure part: the ModelPack config and manifest over layers already stored. No I/O, so
 * the same inputs always give the same bytes and digests (what makes a pack reproducible).
 */
import { sha256Digest } from './digest.js';
import {
  ANNOTATION_CREATED,
  OCI_MANIFEST,
  modelConfigMediaType,
  modelManifestArtifactType,
  type IdentifierFamily,
} from './mediatypes.js';
import { buildModelConfig, serializeConfig, validateModelConfig } from './modelpack/config.js';
import type { ModelMetadata, SpecFormat } from './modelpack/types.js';
import type { Descriptor, Manifest } from './oci.js';

/** modctl's manifest annotation holding the Modelfile text (`org.cnai.` in modctl 0.1.x/0.2.2). */
export const ANNOTATION_MODCTL_MODELFILE = 'org.cncf.modctl.modelfile';
export const ANNOTATION_MODCTL_MODELFILE_CNAI = 'org.cnai.modctl.modelfile';
const MODELFILE_ANNOTATION_MAX = 64 * 1024;

/** Compact JSON with a fixed key order, so the same inputs give the same manifest digest. */
export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
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
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: modelManifestArtifactType(family),
    config: configDescriptor,
    layers: input.layers.map((l) => l.descriptor),
    ...(Object.keys(annotations).length ? { annotations: sortedRecord(annotations) } : {}),
  };
  const manifestBytes = serializeManifest(manifest);
  const descriptor: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest: sha256Digest(manifestBytes),
    size: manifestBytes.length,
  };
  return { config, configBytes, configDescriptor, manifest, manifestBytes, descriptor };
}
