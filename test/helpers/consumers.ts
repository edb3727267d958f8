/**
 * Consumers' acceptance rules, rewritten from their source, for tests that check modelship's
 * output against them (as test/referrers-golden.test.ts does for the signature verifiers).
 */
import type { Manifest } from '@modelship/core';

const FILEPATH = 'org.cncf.model.filepath';

/**
 * What Docker Model Runner requires of a ModelPack, re-read from its source
 * (github.com/docker/model-runner): the config media type (pkg/distribution/distribution/client.go
 * `checkCompat`), the artifactType that routes to `UnpackFromLayers`
 * (pkg/distribution/internal/bundle/unpack.go `isCNCFModel`), a filepath on every layer it
 * links, and for the generic raw weight type a config format of gguf/safetensors/dduf
 * (`updateBundleFieldsFromLayer`); tar layers would be linked as tar bytes.
 */
export function dockerModelRunnerAccepts(manifest: Manifest, config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (manifest.config.mediaType !== 'application/vnd.cncf.model.config.v1+json') problems.push('config media type');
  if (manifest.artifactType !== 'application/vnd.cncf.model.manifest.v1+json') problems.push('artifactType');
  const format = String((config['config'] as { format?: string } | undefined)?.format ?? '').toLowerCase();
  for (const l of manifest.layers) {
    if (!l.annotations?.[FILEPATH]) problems.push(`${l.digest}: no filepath`);
    // It hard-links every layer at its filepath: anything but a raw layer would land as archive bytes.
    if (!/^application\/vnd\.cncf\.model\.[a-z.]+\.v1\.raw$/.test(l.mediaType))
      problems.push(`${l.digest}: ${l.mediaType}`);
    if (l.mediaType === 'application/vnd.cncf.model.weight.v1.raw' && !['gguf', 'safetensors', 'dduf'].includes(format))
      problems.push(`weight ${l.digest} with format "${format}"`);
  }
  return problems;
}

/**
 * What KitOps requires to unpack a ModelPack (github.com/kitops-ml/kitops): the manifest is a
 * ModelPack by artifactType or config type (pkg/lib/constants/mediatype/artifacttype.go
 * `ModelFormatForManifest`), each layer type matches its ModelPack pattern
 * (mediatype/mediatype.go), raw layers are not compressed, each layer names its filepath, and
 * the config lists one diffId per layer.
 */
export function kitopsAccepts(manifest: Manifest, config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (
    manifest.artifactType !== 'application/vnd.cncf.model.manifest.v1+json' &&
    manifest.config.mediaType !== 'application/vnd.cncf.model.config.v1+json'
  )
    problems.push('not a ModelPack manifest');
  const re = /^application\/vnd\.cncf\.model\.(\w+(?:\.\w+)?)\.v1\.(\w+)(?:\+(\w+))?$/;
  for (const l of manifest.layers) {
    const m = re.exec(l.mediaType);
    if (!m || !['weight', 'weight.config', 'dataset', 'code', 'doc'].includes(m[1]!) || !['raw', 'tar'].includes(m[2]!))
      problems.push(`${l.digest}: ${l.mediaType}`);
    else if (m[2] === 'raw' && m[3]) problems.push(`${l.digest}: compressed raw layer`);
    if (!l.annotations?.[FILEPATH]) problems.push(`${l.digest}: no filepath`);
  }
  const diffIds = (config['modelfs'] as { diffIds?: unknown[] } | undefined)?.diffIds;
  if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) problems.push('diffIds');
  return problems;
}
