import { parseImageManifest } from '../manifest.js';
import { ModelshipError } from '../errors.js';
import { isModelConfigMediaType, layerFilepath, parseLayerMediaType, type LayerKind } from '../mediatypes.js';
import type { Descriptor, Manifest } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';
import { readCards } from './cards.js';

export interface ArtifactLayer {
  path: string;
  kind: LayerKind | 'unknown';
  mediaType: string;
  digest: string;
  size: number;
  /** true for `.raw` layers: the layer digest is the file's sha256. */
  raw: boolean;
}

/**
 * What attestations know about an artifact, read from the store without touching weights:
 * the manifest, the ModelPack config, the layer list, and the bytes of small text layers
 * (model card, licences, config.json, ...) that the MOF and provenance builders read.
 */
export interface ArtifactFacts {
  name: string;
  descriptor: Descriptor;
  manifest: Manifest;
  /** The ModelPack config JSON (descriptor / config / modelfs). */
  config: Record<string, unknown>;
  layers: ArtifactLayer[];
  /** path -> bytes, for raw non-weight layers up to SMALL_FILE_LIMIT (README.md, LICENSE, config.json, ...), and cards. */
  smallFiles: Map<string, Buffer>;
  /**
   * Model and data cards attached as a referrer (attest/cards.ts), named like the doc layers
   * they stand in for; their bytes are in `smallFiles`. Not layers: no file of the artifact.
   */
  cards?: ArtifactLayer[];
}

const SMALL_FILE_LIMIT = 1024 * 1024;

/** A manifest's layers as files: path (from the filepath annotation, '' when none), kind, raw or not. */
export function artifactLayers(layers: readonly Descriptor[]): ArtifactLayer[] {
  return layers.map((l) => {
    const parsed = parseLayerMediaType(l.mediaType);
    return {
      path: layerFilepath(l.annotations) ?? '',
      kind: parsed?.kind ?? 'unknown',
      mediaType: l.mediaType,
      digest: l.digest,
      size: l.size,
      raw: parsed?.encoding === 'raw',
    };
  });
}

/** Reads the facts of `descriptor` in `store`; refuses what is not a ModelPack manifest. */
export async function collectArtifactFacts(
  store: ReadOnlyStore,
  descriptor: Descriptor,
  name: string,
  /** false: manifest and config only (verify reads no model file, not even a README). */
  options: { smallFiles?: boolean } = {},
): Promise<ArtifactFacts> {
  const doc = parseImageManifest(await store.fetchBytes(descriptor), descriptor, 'attest one manifest by digest');
  if (!isModelConfigMediaType(doc.config.mediaType))
    throw new ModelshipError(
      'INVALID',
      `${descriptor.digest} is not a ModelPack artifact (config ${doc.config.mediaType})`,
      { hint: 'for a variant (a modelcar image), attest its primary ModelPack: that covers its variants' },
    );
  let config: Record<string, unknown>;
  try {
    config = JSON.parse((await store.fetchBytes(doc.config)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    throw new ModelshipError('INVALID', `config blob ${doc.config.digest} is not JSON`, { cause: e });
  }
  const layers = artifactLayers(doc.layers);
  const smallFiles = new Map<string, Buffer>();
  for (const [i, l] of layers.entries()) {
    if (options.smallFiles === false) break;
    if (l.raw && l.kind !== 'weight' && l.path && l.size <= SMALL_FILE_LIMIT)
      smallFiles.set(l.path, await store.fetchBytes(doc.layers[i]!, SMALL_FILE_LIMIT));
  }
  if (options.smallFiles === false) return { name, descriptor, manifest: doc, config, layers, smallFiles };
  const { cards, bytes } = await readCards(store, descriptor, new Set(layers.map((l) => l.path)));
  for (const [path, b] of bytes) smallFiles.set(path, b);
  return { name, descriptor, manifest: doc, config, layers, smallFiles, ...(cards.length ? { cards } : {}) };
}
