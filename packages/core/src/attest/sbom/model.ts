import { parse as yamlParse } from 'yaml';
import { parseModelCard } from '../../modelpack/modelcard.js';
import type { ReadOnlyStore } from '../../store.js';
import type { ArtifactFacts } from '../facts.js';
import { buildFileManifestPredicate, type FileResource } from '../files.js';
import { buildMofPredicate } from '../mof/index.js';

/**
 * What both SBOM formats say about an artifact, gathered once from the facts attest reads
 * (manifest, ModelPack config, small layers: model card, config.json) without a weight byte.
 */
export interface SbomModel {
  /** Subject name (`host/repo` or `oci:DIR`). */
  subject: string;
  name: string;
  version?: string;
  /** Manifest digest (`sha256:<hex>`): the artifact. */
  digest: string;
  purl: string;
  description?: string;
  authors: string[];
  vendor?: string;
  sourceURL?: string;
  revision?: string;
  docURL?: string;
  createdAt?: string;
  /** SPDX expressions as declared. */
  licenses: string[];
  architecture?: string;
  family?: string;
  format?: string;
  paramSize?: string;
  precision?: string;
  quantization?: string;
  task?: string;
  inputs: string[];
  outputs: string[];
  languages: string[];
  baseModels: string[];
  mof: { class: number; label: string };
  files: SbomFile[];
  datasets: SbomDataset[];
}

export interface SbomFile {
  path: string;
  kind: string;
  mediaType: string;
  /** The layer holding the file. */
  layer: string;
  size: number;
  /** sha256 hex of the file itself, when known (raw layers; tar layers with the model directory). */
  sha256?: string;
}

export interface SbomDataset {
  /** Hugging Face dataset id from the card, or the dataset layer's path. */
  name: string;
  url?: string;
  /** A dataset layer of the artifact. */
  path?: string;
}

export interface SbomModelOptions {
  /** The model directory: per-file digests of tar layers (checked against the artifact first). */
  dir?: string;
  store?: ReadOnlyStore;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** purl-spec `oci` type: the repository's last segment, the digest as version, the repository as qualifier. */
export function ociPurl(subject: string, digest: string, fallbackName: string): string {
  const enc = encodeURIComponent;
  if (subject.startsWith('oci:')) return `pkg:oci/${enc(fallbackName.toLowerCase())}@${enc(digest)}`;
  const repo = subject.split('/').pop() ?? fallbackName;
  return `pkg:oci/${enc(repo.toLowerCase())}@${enc(digest)}?repository_url=${enc(subject.toLowerCase())}`;
}

export async function sbomModel(facts: ArtifactFacts, options: SbomModelOptions = {}): Promise<SbomModel> {
  const d = obj(facts.config['descriptor']);
  const c = obj(facts.config['config']);
  const caps = obj(c['capabilities']);
  const readme = facts.layers.find((l) => l.kind === 'doc' && /^readme\.md$/i.test(l.path));
  const readmeText = readme ? facts.smallFiles.get(readme.path)?.toString('utf8') : undefined;
  let card: ReturnType<typeof parseModelCard>;
  let front: Record<string, unknown> = {};
  try {
    card = readmeText !== undefined ? parseModelCard(readmeText) : undefined;
    const m = readmeText !== undefined ? /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---/.exec(readmeText) : null;
    front = m ? obj(yamlParse(m[1]!)) : {};
  } catch {
    card = undefined; // front matter that is not YAML says nothing
  }
  let hf: Record<string, unknown> = {};
  try {
    const text = facts.smallFiles.get('config.json')?.toString('utf8');
    if (text) hf = obj(JSON.parse(text));
  } catch {
    hf = {};
  }
  const name = str(d['name']) ?? card?.modelName ?? facts.name;
  const mof = buildMofPredicate(facts).evaluation;

  // Per-file digests: a raw layer is its file; tar layers need the model directory, checked
  // against the artifact by the files machinery (the same rule as the files predicate).
  const hasTar = facts.layers.some((l) => !l.raw);
  const resources: FileResource[] | undefined =
    hasTar && options.dir
      ? ((
          await buildFileManifestPredicate(facts, {
            dir: options.dir,
            ...(options.store ? { store: options.store } : {}),
          })
        ).resources as FileResource[])
      : undefined;
  const files: SbomFile[] = [];
  for (const l of facts.layers) {
    const base = { kind: l.kind, mediaType: l.mediaType, layer: l.digest };
    if (l.raw) files.push({ ...base, path: l.path, size: l.size, sha256: l.digest.replace(/^sha256:/, '') });
    else if (resources) {
      const inLayer = resources.filter((r) => r.name === l.path || r.name.startsWith(`${l.path}/`));
      for (const r of inLayer) files.push({ ...base, path: r.name, size: r.size, sha256: r.digest });
      if (!inLayer.length) files.push({ ...base, path: l.path, size: l.size });
    } else files.push({ ...base, path: l.path, size: l.size });
  }

  const datasets: SbomDataset[] = [
    ...facts.layers.filter((l) => l.kind === 'dataset').map((l) => ({ name: l.path, path: l.path })),
    ...(card?.datasets ?? []).map((id) => ({ name: id, url: `https://huggingface.co/datasets/${id}` })),
  ];
  const set = <T>(v: T | undefined): T | undefined => v;
  const model: SbomModel = {
    subject: facts.name,
    name,
    digest: facts.descriptor.digest,
    purl: ociPurl(facts.name, facts.descriptor.digest, name),
    authors: strs(d['authors']).length ? strs(d['authors']) : (card?.authors ?? []),
    licenses: strs(d['licenses']),
    inputs: strs(caps['inputTypes']),
    outputs: strs(caps['outputTypes']),
    languages: card?.languages ?? [],
    baseModels: card?.baseModels ?? [],
    mof: { class: mof.class, label: mof.label },
    files,
    datasets,
  };
  const optional: Partial<SbomModel> = {
    version: str(d['version']),
    description: str(d['description']) ?? str(d['title']),
    vendor: str(d['vendor']),
    sourceURL: str(d['sourceURL']),
    revision: str(d['revision']),
    docURL: str(d['docURL']),
    createdAt: str(d['createdAt']),
    architecture: str(c['architecture']) ?? strs(hf['architectures'])[0],
    family: str(d['family']) ?? str(hf['model_type']),
    format: str(c['format']),
    paramSize: str(c['paramSize']),
    precision: str(c['precision']) ?? str(hf['torch_dtype']),
    quantization: str(c['quantization']) ?? str(obj(hf['quantization_config'])['quant_method']),
    task: card?.pipelineTag ?? set(str(front['pipeline_tag'])),
  };
  for (const [k, v] of Object.entries(optional))
    if (v !== undefined) (model as unknown as Record<string, unknown>)[k] = v;
  return model;
}
