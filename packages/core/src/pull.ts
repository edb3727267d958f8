import { mkdir } from 'node:fs/promises';
import { countBytes } from './streams.js';
import { copyGraph, parseManifest, type CopyOptions, type CopyStats } from './copy.js';
import { ModelshipError } from './errors.js';
import { extractLayer } from './extract.js';
import { isModelConfigMediaType } from './mediatypes.js';
import type { Descriptor } from './oci.js';
import type { ContentStore } from './store.js';

export interface ExtractResult {
  descriptor: Descriptor;
  files: string[];
  bytes: number;
}

/** Resolves `reference` (tag or digest) in `store`, with a clear error when it is missing. */
export async function resolveReference(store: ContentStore, reference: string | undefined): Promise<Descriptor> {
  if (!reference)
    throw new ModelshipError('USAGE', `no tag or digest given for ${store.location}`, {
      hint: 'name one, e.g. host/repo:v1 or oci:./model-oci:v1',
    });
  return store.resolve(reference);
}

/** Copies an artifact and its referrers into another store (push = layout -> registry, pull = registry -> layout). */
export async function transfer(
  src: ContentStore,
  dst: ContentStore,
  root: Descriptor,
  options: CopyOptions = {},
): Promise<CopyStats> {
  return copyGraph(src, dst, root, options);
}

/**
 * Writes the files of a ModelPack artifact into `dir`. Every byte is digest-verified as it is
 * read; paths from annotations and tar entries may not leave `dir`.
 */
export async function extractArtifact(
  store: ContentStore,
  root: Descriptor,
  dir: string,
  options: { onBytes?: (n: number) => void } = {},
): Promise<ExtractResult> {
  const doc = parseManifest(await store.fetchBytes(root), root);
  if ('manifests' in doc)
    throw new ModelshipError('INVALID', `${root.digest} is an index, not a model manifest`, {
      hint: 'pick one manifest by digest',
    });
  if (!isModelConfigMediaType(doc.config.mediaType) && doc.artifactType === undefined)
    throw new ModelshipError('INVALID', `${root.digest} is not a ModelPack artifact (config ${doc.config.mediaType})`);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let bytes = 0;
  for (const layer of doc.layers) {
    const counted = countBytes(await store.fetch(layer), (_total, delta) => {
      bytes += delta;
      options.onBytes?.(bytes);
    });
    files.push(...(await extractLayer(dir, layer, counted)));
  }
  return { descriptor: root, files, bytes };
}
