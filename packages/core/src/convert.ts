/**
 * `convert`: a KitOps ModelKit or a Docker Model Runner artifact into a ModelPack (cncf, raw
 * layers), the form every ModelPack consumer reads (CRI-O mounts it, Docker Model Runner and
 * KitOps pull it; docs/kubernetes.md).
 *
 * Raw blobs are reused as they are: the target gets them by cross-repository mount, or by a
 * copy only when it lacks them (blobCopier checks first, so nothing it has is downloaded
 * again). Only archives are rewritten: a tar layer (KitOps `…v1.tar[+gzip|+zstd]`, Docker's
 * `dir.tar` / `vllm.config.tar`) and a compressed KitOps raw layer are read once and each
 * file they hold becomes one raw layer, because Docker Model Runner links raw layers only and
 * CRI-O mounts tar bytes as a file (consumers' source, named in docs/kubernetes.md "Sources").
 *
 * The source media types and their mapping are the producers' own (docs/kubernetes.md,
 * "Sources (runtimes and servers)"):
 * - KitOps: config `application/vnd.kitops.modelkit.config.v1+json` (the Kitfile as JSON),
 *   manifest artifactType `application/vnd.kitops.modelkit.manifest.v1+json`, layers
 *   `application/vnd.kitops.modelkit.<model|modelpart|dataset|code|docs>.v1.<tar|raw>[+gzip|+zstd]`
 *   with `org.cncf.model.filepath`; older ModelKits name a layer's path only in the Kitfile, in
 *   layer order. Base types map as KitOps maps them to ModelPack: model → weight,
 *   modelpart → weight.config, docs → doc.
 * - Docker Model Runner: config `application/vnd.docker.ai.model.config.v0.1+json` /
 *   `v0.2+json`, layers `application/vnd.docker.ai.{gguf.v3,safetensors,dduf,license,mmproj,
 *   chat.template.jinja,model.file,dir.tar,vllm.config.tar}` with `org.cncf.model.filepath`
 *   (v0.2); kinds as its own ModelPack mapping gives them, the config as it maps it (format,
 *   architecture, family, parameters → paramSize, quantization, created).
 */
import type { Readable } from 'node:stream';
import { blobCopier, type CopyStats } from './copy.js';
import { ModelshipError } from './errors.js';
import { assertDistinctLayerPaths, modeFromAnnotations, readTarLayer } from './extract.js';
import { gunzip, zstdDecompress } from './compression.js';
import { isIndexMediaType, parseImageManifest } from './manifest.js';
import {
  ANNOTATION_CREATED,
  annotationKey,
  isModelConfigMediaType,
  isModelManifestArtifactType,
  layerMediaType,
  type LayerEncoding,
  type LayerKind,
} from './mediatypes.js';
import { classifyPath } from './modelpack/classify.js';
import { layerAnnotations } from './modelpack/annotations.js';
import { licensesToSpdx } from './modelpack/license.js';
import { inferFormat } from './modelpack/metadata.js';
import type { ModelMetadata } from './modelpack/types.js';
import { isRfc3339, normalizeParamSize } from './modelpack/values.js';
import type { Descriptor, Manifest } from './oci.js';
import { buildArtifact, sortedRecord } from './pack-manifest.js';
import { unsafePathReason } from './safe-path.js';
import type { ContentStore, ReadOnlyStore } from './store.js';

export const KITOPS_CONFIG = 'application/vnd.kitops.modelkit.config.v1+json';
export const KITOPS_MANIFEST = 'application/vnd.kitops.modelkit.manifest.v1+json';
export const DOCKER_AI_CONFIG_V01 = 'application/vnd.docker.ai.model.config.v0.1+json';
export const DOCKER_AI_CONFIG_V02 = 'application/vnd.docker.ai.model.config.v0.2+json';

const KITOPS_LAYER = /^application\/vnd\.kitops\.modelkit\.(\w+)\.v1\.(tar|raw)(?:\+(gzip|zstd))?$/;
const KITOPS_KINDS: Record<string, LayerKind | 'model'> = {
  model: 'model',
  modelpart: 'weight.config',
  dataset: 'dataset',
  code: 'code',
  docs: 'doc',
};

/** Docker Model Runner layer types: the kind (its ClassifyLayer) and whether it is an archive. */
const DOCKER_AI_LAYERS: Record<string, { kind: LayerKind; tar?: boolean; legacyName?: string }> = {
  'application/vnd.docker.ai.gguf.v3': { kind: 'weight', legacyName: 'model.gguf' },
  'application/vnd.docker.ai.safetensors': { kind: 'weight', legacyName: 'model.safetensors' },
  'application/vnd.docker.ai.dduf': { kind: 'weight', legacyName: 'model.dduf' },
  'application/vnd.docker.ai.mmproj': { kind: 'weight', legacyName: 'model.mmproj' },
  'application/vnd.docker.ai.license': { kind: 'doc', legacyName: 'LICENSE' },
  'application/vnd.docker.ai.chat.template.jinja': { kind: 'weight.config', legacyName: 'template.jinja' },
  'application/vnd.docker.ai.model.file': { kind: 'weight.config' },
  'application/vnd.docker.ai.vllm.config.tar': { kind: 'weight.config', tar: true },
  'application/vnd.docker.ai.dir.tar': { kind: 'weight.config', tar: true },
};

export type ConvertSource = 'modelkit' | 'docker-model-runner';

export interface ConvertOptions {
  source: ReadOnlyStore;
  /** The source manifest (resolved). */
  root: Descriptor;
  target: ContentStore;
  tags?: string[];
  concurrency?: number;
  /** Repositories on the target's registry to mount blobs from (the source's, when the same registry). */
  mountFrom?: string[];
  onBytes?: (n: number) => void;
  warn?: (message: string) => void;
}

export interface ConvertedLayer {
  path: string;
  kind: LayerKind;
  descriptor: Descriptor;
  /** The source layer it came from. */
  from: string;
  /** The blob is the source's own (reused, not rewritten). */
  reused: boolean;
}

export interface ConvertResult {
  from: ConvertSource;
  descriptor: Descriptor;
  manifest: Manifest;
  config: Record<string, unknown>;
  layers: ConvertedLayer[];
  /** Blob transfers of the reused blobs (copied, mounted, already present). */
  stats: CopyStats;
  /** Files written from archives (tar layers, compressed raw layers). */
  rewritten: number;
  warnings: string[];
}

interface PlannedLayer {
  desc: Descriptor;
  /** `model`: a KitOps model layer, whose files are weights or weight config by their names. */
  kind: LayerKind | 'model';
  /** How the blob holds the file(s). */
  form: 'raw' | 'raw+gzip' | 'raw+zstd' | Exclude<LayerEncoding, 'raw'>;
  path?: string;
  mode: number;
}

interface Plan {
  from: ConvertSource;
  layers: PlannedLayer[];
  metadata: ModelMetadata;
  createdAt?: string;
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function filepathOf(desc: Descriptor): string | undefined {
  return desc.annotations?.[annotationKey('cncf', 'filepath')] ?? desc.annotations?.[annotationKey('cnai', 'filepath')];
}

/** The Kitfile paths, in the order KitOps writes layers (model, parts, datasets, code, docs), by base type. */
function kitfilePaths(kitfile: Record<string, unknown>): Record<string, string[]> {
  const model = obj(kitfile['model']);
  const list = (v: unknown): string[] =>
    (Array.isArray(v) ? v : []).map((e) => str(obj(e)['path'])).filter((p): p is string => p !== undefined);
  return {
    model: str(model['path']) ? [str(model['path'])!] : [],
    modelpart: list(model['parts']),
    dataset: list(kitfile['datasets']),
    code: list(kitfile['code']),
    docs: list(kitfile['docs']),
  };
}

function planModelKit(manifest: Manifest, kitfile: Record<string, unknown>, name: string): Plan {
  const paths = kitfilePaths(kitfile);
  const used: Record<string, number> = {};
  const layers = manifest.layers.map((l): PlannedLayer => {
    const m = KITOPS_LAYER.exec(l.mediaType);
    const base = m?.[1];
    const kind = base ? KITOPS_KINDS[base] : undefined;
    if (!m || !kind)
      throw new ModelshipError(
        'INVALID',
        `ModelKit layer ${l.digest} has media type ${l.mediaType}, which KitOps does not define`,
        {
          hint: 'a ModelKit layer is application/vnd.kitops.modelkit.<model|modelpart|dataset|code|docs>.v1.<tar|raw>[+gzip|+zstd]',
        },
      );
    const i = (used[base!] = (used[base!] ?? -1) + 1);
    const compression = m[3];
    const form: PlannedLayer['form'] =
      m[2] === 'raw'
        ? compression
          ? (`raw+${compression}` as 'raw+gzip')
          : 'raw'
        : compression
          ? (`tar+${compression}` as 'tar+gzip')
          : 'tar';
    const path = filepathOf(l) ?? (m[2] === 'raw' ? paths[base!]?.[i] : undefined);
    return { desc: l, kind, form, ...(path ? { path } : {}), mode: modeFromAnnotations(l.annotations) };
  });
  const pkg = obj(kitfile['package']);
  const model = obj(kitfile['model']);
  const license = str(model['license']) ?? str(pkg['license']);
  const authors = (Array.isArray(pkg['authors']) ? pkg['authors'] : []).map(str).filter((a): a is string => !!a);
  const metadata: ModelMetadata = {
    name: str(model['name']) ?? str(pkg['name']) ?? name,
    ...((str(pkg['version']) ?? str(model['version']))
      ? { version: (str(pkg['version']) ?? str(model['version']))! }
      : {}),
    ...((str(pkg['description']) ?? str(model['description']))
      ? { description: (str(pkg['description']) ?? str(model['description']))! }
      : {}),
    ...(authors.length ? { authors } : {}),
    ...(license ? { licenses: licensesToSpdx([license]) } : {}),
    sources: {},
    warnings: [],
  };
  const created = manifest.annotations?.[ANNOTATION_CREATED];
  return { from: 'modelkit', layers, metadata, ...(created && isRfc3339(created) ? { createdAt: created } : {}) };
}

function planDockerModel(manifest: Manifest, config: Record<string, unknown>, name: string): Plan {
  const counts = new Map<string, number>();
  for (const l of manifest.layers) counts.set(l.mediaType, (counts.get(l.mediaType) ?? 0) + 1);
  const seen = new Map<string, number>();
  const layers = manifest.layers.map((l): PlannedLayer => {
    const t = DOCKER_AI_LAYERS[l.mediaType];
    if (!t)
      throw new ModelshipError(
        'INVALID',
        `Docker model layer ${l.digest} has media type ${l.mediaType}, which Docker Model Runner does not define`,
      );
    const i = (seen.get(l.mediaType) ?? 0) + 1;
    seen.set(l.mediaType, i);
    let path = filepathOf(l);
    // v0.1 artifacts name no paths: the names Docker Model Runner unpacks them to (its legacy unpack).
    if (!path && !t.tar && t.legacyName) {
      const n = counts.get(l.mediaType)!;
      const dot = t.legacyName.lastIndexOf('.');
      path =
        n === 1
          ? t.legacyName
          : dot > 0
            ? `${t.legacyName.slice(0, dot)}-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}${t.legacyName.slice(dot)}`
            : `${t.legacyName}-${i}`;
    }
    return {
      desc: l,
      kind: t.kind,
      form: t.tar ? 'tar' : 'raw',
      ...(path ? { path } : {}),
      mode: modeFromAnnotations(l.annotations),
    };
  });
  const c = obj(config['config']);
  const d = obj(config['descriptor']);
  const paramSize = str(c['parameters']) ?? str(c['size']);
  const normalized = paramSize ? paramSizeOf(paramSize) : undefined;
  const arch = str(c['architecture']);
  const metadata: ModelMetadata = {
    name,
    ...(str(c['format']) ? { format: str(c['format'])!.toLowerCase() } : {}),
    ...(arch ? { architecture: arch, family: arch } : {}),
    ...(normalized ? { paramSize: normalized } : {}),
    ...(str(c['quantization']) ? { quantization: str(c['quantization'])! } : {}),
    sources: {},
    warnings: paramSize && !normalized ? [`parameters "${paramSize}" is not a ModelPack paramSize; left out`] : [],
  };
  const created = str(d['created']);
  const createdAt = created && isRfc3339(created) ? created.replace(/\.\d+(?=Z|[+-])/, '') : undefined;
  return { from: 'docker-model-runner', layers, metadata, ...(createdAt && isRfc3339(createdAt) ? { createdAt } : {}) };
}

/**
 * Docker writes parameters as GGUF readers print them (`1.24 B`, `361.82 M`); the ModelPack
 * grammar has one decimal at most, so the count is rounded to it (`1.2b`).
 */
function paramSizeOf(value: string): string | undefined {
  const direct = normalizeParamSize(value);
  if (direct) return direct;
  const m = /^(\d+(?:\.\d+)?)\s*([kmbtq])$/i.exec(value.trim());
  if (!m) return undefined;
  const rounded = Number(Number(m[1]).toFixed(1));
  return normalizeParamSize(`${rounded}${m[2]!}`);
}

/** What the source is, refusing what convert does not read. */
function plan(manifest: Manifest, config: Record<string, unknown>, root: Descriptor, name: string): Plan {
  const cfg = manifest.config.mediaType;
  if (isModelConfigMediaType(cfg) || isModelManifestArtifactType(manifest.artifactType))
    throw new ModelshipError('USAGE', `${root.digest} is a ModelPack already`, {
      hint: 'copy it with push, pull or promote; convert reads KitOps ModelKits and Docker Model Runner artifacts',
    });
  if (cfg === KITOPS_CONFIG || manifest.artifactType === KITOPS_MANIFEST) return planModelKit(manifest, config, name);
  if (cfg === DOCKER_AI_CONFIG_V01 || cfg === DOCKER_AI_CONFIG_V02) return planDockerModel(manifest, config, name);
  throw new ModelshipError(
    'INVALID',
    `${root.digest} is neither a KitOps ModelKit nor a Docker Model Runner artifact (config ${cfg})`,
    {
      hint: `convert reads configs ${KITOPS_CONFIG}, ${DOCKER_AI_CONFIG_V01} and ${DOCKER_AI_CONFIG_V02}`,
    },
  );
}

function checkedPath(path: string, what: string): string {
  const why = unsafePathReason(path);
  if (why) throw new ModelshipError('INVALID', `${what}: refusing the path "${path}" (${why})`);
  return path
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

function fileKind(kind: PlannedLayer['kind'], path: string, size: number): LayerKind {
  if (kind !== 'model') return kind;
  // A KitOps model holds weights and their config files: the file rules tell them apart.
  const k = classifyPath(path, size);
  return k === 'weight.config' || k === 'doc' ? k : 'weight';
}

function decompress(stream: Readable, form: 'raw+gzip' | 'raw+zstd', what: string): Readable {
  return form === 'raw+gzip' ? gunzip(stream) : zstdDecompress(stream, what);
}

/** Converts `root` in `source` into a ModelPack in `target`, tagged `tags`. */
export async function convertArtifact(options: ConvertOptions): Promise<ConvertResult> {
  const { source, root, target } = options;
  if (isIndexMediaType(root.mediaType))
    throw new ModelshipError('USAGE', `${root.digest} is an index`, { hint: 'name one manifest by its digest' });
  const manifest = parseImageManifest(await source.fetchBytes(root), root, 'name one manifest by its digest');
  let config: Record<string, unknown>;
  try {
    config = obj(JSON.parse((await source.fetchBytes(manifest.config)).toString('utf8')));
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    throw new ModelshipError('INVALID', `config ${manifest.config.digest} of ${root.digest} is not JSON`, { cause: e });
  }
  const name = source.location.split(/[/:]/).filter(Boolean).pop() ?? 'model';
  const p = plan(manifest, config, root, name.replace(/@.*$/, ''));
  const warnings = [...p.metadata.warnings];
  const copier = blobCopier(source, target, {
    concurrency: options.concurrency ?? 4,
    ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
    ...(options.onBytes ? { onBytes: options.onBytes } : {}),
  });

  const layers: ConvertedLayer[] = [];
  let rewritten = 0;
  const add = (
    path: string,
    kind: PlannedLayer['kind'],
    mode: number,
    blob: Descriptor,
    from: string,
    reused: boolean,
  ): void => {
    const k = fileKind(kind, path, blob.size);
    const annotations = sortedRecord(layerAnnotations({ path, size: blob.size, mode, untested: false }, 'cncf'));
    layers.push({
      path,
      kind: k,
      descriptor: { mediaType: layerMediaType('cncf', k, 'raw'), digest: blob.digest, size: blob.size, annotations },
      from,
      reused,
    });
  };
  // Raw blobs first, in parallel (mounts and copies); archives then, one read each.
  const raws = p.layers.filter((l) => l.form === 'raw');
  for (const l of raws)
    if (!l.path)
      throw new ModelshipError('INVALID', `layer ${l.desc.digest} (${l.desc.mediaType}) names no file path`, {
        hint: 'the layer carries no org.cncf.model.filepath annotation and the config names no path for it',
      });
  await Promise.all(
    raws.map((l) => copier.copy({ mediaType: l.desc.mediaType, digest: l.desc.digest, size: l.desc.size })),
  );
  for (const l of p.layers) {
    const what = `layer ${l.desc.digest}`;
    if (l.form === 'raw') {
      add(checkedPath(l.path!, what), l.kind, l.mode, l.desc, l.desc.digest, true);
    } else if (l.form === 'raw+gzip' || l.form === 'raw+zstd') {
      if (!l.path) throw new ModelshipError('INVALID', `${what} (${l.desc.mediaType}) names no file path`);
      const r = await target.ingest(
        'application/octet-stream',
        decompress(await source.fetch(l.desc), l.form, what),
        {},
      );
      rewritten++;
      add(checkedPath(l.path, what), l.kind, l.mode, r.descriptor, l.desc.digest, false);
    } else {
      await readTarLayer(
        l.desc,
        await source.fetch(l.desc),
        {
          file: async (entry, mode, content) => {
            const path = checkedPath(entry, what);
            const r = await target.ingest('application/octet-stream', content, {});
            rewritten++;
            add(path, l.kind, mode, r.descriptor, l.desc.digest, false);
          },
        },
        // Archives of many files compress well; cap the expansion like pull does, a little wider.
        { encoding: l.form, maxExpandedBytes: l.form === 'tar' ? l.desc.size : l.desc.size * 20 + 1024 ** 3 },
      );
    }
  }
  if (!layers.length) throw new ModelshipError('INVALID', `${root.digest} holds no file`);
  assertDistinctLayerPaths(
    layers.map((l) => ({ path: l.path, digest: l.descriptor.digest })),
    `${source.location}@${root.digest}`,
  );

  const metadata: ModelMetadata = { ...p.metadata };
  if (!metadata.format) {
    const format = inferFormat(layers.map((l) => ({ kind: l.kind, path: l.path, size: l.descriptor.size })));
    if (format) metadata.format = format;
    else warnings.push('no weight format recognised (gguf, safetensors, …): config.format is empty');
  }
  const built = buildArtifact({
    family: 'cncf',
    metadata,
    layers: layers.map((l) => ({ descriptor: l.descriptor, diffId: l.descriptor.digest })),
    ...(p.createdAt ? { createdAt: p.createdAt } : {}),
  });
  await target.push(built.configDescriptor, built.configBytes);
  await target.push(built.descriptor, built.manifestBytes);
  for (const t of options.tags ?? []) await target.tag(built.descriptor, t);
  for (const w of warnings) options.warn?.(w);
  return {
    from: p.from,
    descriptor: built.descriptor,
    manifest: built.manifest,
    config: built.config,
    layers,
    stats: copier.stats,
    rewritten,
    warnings,
  };
}
