import { createHash } from 'node:crypto';
import type { ArtifactFacts, ArtifactLayer } from '../src/attest/facts.js';
import { layerMediaType, modelConfigMediaType, OCI_MANIFEST } from '../src/mediatypes.js';

/** A raw or tar layer record for `path`; weights are `.safetensors`, everything else a doc, unless `kind` says. */
export function factsLayer(
  path: string,
  opts: { raw?: boolean; digestHex?: string; size?: number; kind?: ArtifactLayer['kind'] } = {},
): ArtifactLayer {
  const kind = opts.kind ?? (path.endsWith('.safetensors') ? 'weight' : 'doc');
  const raw = opts.raw ?? true;
  return {
    path,
    kind,
    mediaType: kind === 'unknown' ? 'application/octet-stream' : layerMediaType('cncf', kind, raw ? 'raw' : 'tar'),
    digest: `sha256:${opts.digestHex ?? createHash('sha256').update(path).digest('hex')}`,
    size: opts.size ?? 1000,
    raw,
  };
}

/**
 * The facts attest reads of an artifact, without a store: a made-up manifest digest, the given
 * layers and small files, and a ModelPack config whose descriptor is `descriptor` (when given).
 */
export function artifactFacts(opts: {
  name?: string;
  layers?: ArtifactLayer[];
  smallFiles?: Map<string, Buffer>;
  descriptor?: Record<string, unknown>;
  manifestSize?: number;
}): ArtifactFacts {
  return {
    name: opts.name ?? 'registry.example/models/tiny',
    descriptor: { mediaType: OCI_MANIFEST, digest: `sha256:${'a'.repeat(64)}`, size: opts.manifestSize ?? 1 },
    manifest: {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: modelConfigMediaType('cncf'), digest: `sha256:${'b'.repeat(64)}`, size: 2 },
      layers: [],
    },
    config: opts.descriptor
      ? { descriptor: opts.descriptor, config: {}, modelfs: { type: 'layers', diffIds: [] } }
      : {},
    layers: opts.layers ?? [],
    smallFiles: opts.smallFiles ?? new Map(),
  };
}
