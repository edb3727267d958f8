import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parse as yamlParse } from 'yaml';
import { sha256Digest } from '../digest.js';
import { ModelshipError } from '../errors.js';
import { parseReferrerManifest } from '../manifest.js';
import { ANNOTATION_CREATED, ANNOTATION_TITLE, OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_MANIFEST } from '../mediatypes.js';
import type { Descriptor, Manifest } from '../oci.js';
import { rfc3339Now } from '../sign/referrer.js';
import type { ContentStore, ReadOnlyStore } from '../store.js';
import type { ArtifactFacts, ArtifactLayer } from './facts.js';

/**
 * Model and data cards attached to an artifact after it was packed (an artifact pulled
 * without its README, a data card derived from the cards of the datasets it was trained on):
 * an OCI referrer of this artifact type whose layers are Markdown cards, each named by its
 * title annotation. Attestation facts read them beside the doc layers, so the MOF evaluation
 * counts them (docs/predicates.md, "MOF openness"); a doc layer of the same name wins.
 */
export const CARDS_ARTIFACT_TYPE = 'application/vnd.modelship.cards.v1';
export const CARD_MEDIA_TYPE = 'text/markdown';
/** The names MOF derivation knows: the model card and the data card. */
export const MODEL_CARD_NAME = 'README.md';
export const DATA_CARD_NAME = 'data_card.md';

/** Card referrers read per artifact, and card bytes per layer (cards are small). */
const MAX_CARD_REFERRERS = 10;
const MAX_CARD_BYTES = 1024 * 1024;

const EMPTY_JSON = Buffer.from('{}');

export interface CardsInput {
  /** A model card (Markdown with Hugging Face front matter). */
  modelCard?: { source: string; text: string };
  /** Dataset cards (Hugging Face dataset READMEs) to derive the data card from. */
  datasetCards?: { source: string; text: string }[];
}

export async function readCardsInput(modelCardPath?: string, datasetCardPaths: string[] = []): Promise<CardsInput> {
  const read = async (path: string, what: string): Promise<{ source: string; text: string }> => {
    try {
      const text = await readFile(path, 'utf8');
      if (Buffer.byteLength(text) > MAX_CARD_BYTES)
        throw new ModelshipError('INPUT', `${what} ${path} is larger than ${MAX_CARD_BYTES} bytes`);
      return { source: path, text };
    } catch (e) {
      if (e instanceof ModelshipError) throw e;
      throw new ModelshipError('INPUT', `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
    }
  };
  return {
    ...(modelCardPath ? { modelCard: await read(modelCardPath, 'model card') } : {}),
    ...(datasetCardPaths.length
      ? { datasetCards: await Promise.all(datasetCardPaths.map((p) => read(p, 'dataset card'))) }
      : {}),
  };
}

function frontMatter(text: string): { data: Record<string, unknown>; body: string } {
  const m = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!m) return { data: {}, body: text };
  let data: unknown;
  try {
    data = yamlParse(m[1]!);
  } catch {
    data = undefined;
  }
  const body = text.slice(m[0].length);
  return {
    data: data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {},
    body,
  };
}

const list = (v: unknown): string[] =>
  (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v])
    .filter((x) => typeof x === 'string' || typeof x === 'number')
    .map(String);

/** The first prose of a card body: its summary/description section, else its first paragraphs. */
function summary(body: string): string {
  const section = /^#{1,4}\s*(dataset\s+)?(summary|description)\s*$([\s\S]*?)(?=^#{1,4}\s|(?![\s\S]))/im.exec(body);
  const text = (section?.[3] ?? body.replace(/^#.*$/gm, '')).trim();
  const paragraphs = text
    .split(/\r?\n\s*\r?\n/)
    .slice(0, 2)
    .join('\n\n');
  return paragraphs.length > 2000 ? `${paragraphs.slice(0, 2000)}…` : paragraphs;
}

/**
 * A data card (MOF "Data card": what the data is, where it comes from, its licence) derived
 * from dataset cards: each dataset's name, licence, languages, size, tasks and sources from
 * its front matter, and its summary.
 */
export function deriveDataCard(cards: readonly { source: string; text: string }[]): string {
  const parts = [
    '# Data card',
    '',
    `Derived by modelship from ${cards.length} dataset card(s).`,
    '',
    '## Datasets',
    '',
  ];
  for (const c of cards) {
    const { data, body } = frontMatter(c.text);
    const name = list(data['pretty_name'])[0] ?? list(data['dataset_name'])[0] ?? basename(c.source);
    parts.push(`### ${name}`, '');
    const facts: [string, string[]][] = [
      ['Licence', list(data['license'])],
      ['Languages', list(data['language'])],
      ['Size', list(data['size_categories'])],
      ['Tasks', list(data['task_categories'])],
      ['Sources', list(data['source_datasets'])],
      ['Annotations', list(data['annotations_creators'])],
    ];
    for (const [k, v] of facts) if (v.length) parts.push(`- ${k}: ${v.join(', ')}`);
    parts.push(`- Card: ${basename(c.source)} (sha256 ${sha256Digest(Buffer.from(c.text)).slice(7, 19)}…)`, '');
    const s = summary(body);
    if (s) parts.push(s, '');
  }
  return parts.join('\n');
}

export interface CardFile {
  name: string;
  bytes: Buffer;
  descriptor: Descriptor;
}

/** The card blobs for `input`: the model card as given, the data card derived from the dataset cards. */
export function cardFiles(input: CardsInput): CardFile[] {
  const files: [string, string][] = [];
  if (input.modelCard) files.push([MODEL_CARD_NAME, input.modelCard.text]);
  if (input.datasetCards?.length) files.push([DATA_CARD_NAME, deriveDataCard(input.datasetCards)]);
  return files.map(([name, text]) => {
    const bytes = Buffer.from(text, 'utf8');
    return {
      name,
      bytes,
      descriptor: {
        mediaType: CARD_MEDIA_TYPE,
        digest: sha256Digest(bytes),
        size: bytes.length,
        annotations: { [ANNOTATION_TITLE]: name },
      },
    };
  });
}

/**
 * `facts` as they will be once `files` are attached: each card stands in for a doc layer of
 * its name unless the artifact has one (a layer wins), replacing an older card of that name.
 */
export function withCards(facts: ArtifactFacts, files: readonly CardFile[]): ArtifactFacts {
  const taken = new Set(facts.layers.map((l) => l.path));
  const fresh = files.filter((f) => !taken.has(f.name));
  const names = new Set(fresh.map((f) => f.name));
  const smallFiles = new Map(facts.smallFiles);
  for (const f of fresh) smallFiles.set(f.name, f.bytes);
  const cards: ArtifactLayer[] = [
    ...(facts.cards ?? []).filter((c) => !names.has(c.path)),
    ...fresh.map((f) => ({
      path: f.name,
      kind: 'doc' as const,
      mediaType: CARD_MEDIA_TYPE,
      digest: f.descriptor.digest,
      size: f.descriptor.size,
      raw: true,
    })),
  ];
  return { ...facts, smallFiles, ...(cards.length ? { cards } : {}) };
}

/**
 * Attaches the cards to `subject` as one referrer (blobs first, the manifest last, as every
 * referrer modelship writes).
 */
export async function attachCards(
  store: ContentStore,
  subject: Descriptor,
  files: readonly CardFile[],
): Promise<Descriptor> {
  const config: Descriptor = { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: EMPTY_JSON.length };
  await store.push(config, EMPTY_JSON);
  const layers: Descriptor[] = [];
  for (const f of files) {
    await store.push(f.descriptor, f.bytes);
    layers.push(f.descriptor);
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: CARDS_ARTIFACT_TYPE,
    config,
    layers,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { [ANNOTATION_CREATED]: rfc3339Now() },
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const referrer: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(referrer, bytes);
  return { ...referrer, artifactType: CARDS_ARTIFACT_TYPE };
}

/**
 * The cards attached to `subject` (newest referrer first for a name), as doc pseudo-layers
 * with their bytes. Names the artifact's own layers use are left to the layers.
 */
export async function readCards(
  store: ReadOnlyStore,
  subject: Descriptor,
  taken: ReadonlySet<string>,
): Promise<{ cards: ArtifactLayer[]; bytes: Map<string, Buffer> }> {
  const cards: ArtifactLayer[] = [];
  const bytes = new Map<string, Buffer>();
  const refs = (await store.referrers(subject, CARDS_ARTIFACT_TYPE))
    .filter((r) => r.artifactType === CARDS_ARTIFACT_TYPE)
    .sort((a, b) =>
      (b.annotations?.[ANNOTATION_CREATED] ?? '').localeCompare(a.annotations?.[ANNOTATION_CREATED] ?? ''),
    )
    .slice(0, MAX_CARD_REFERRERS);
  for (const r of refs) {
    const m = parseReferrerManifest(await store.fetchBytes(r, MAX_CARD_BYTES));
    for (const l of m.layers) {
      const name = l.annotations?.[ANNOTATION_TITLE];
      if (l.mediaType !== CARD_MEDIA_TYPE || (name !== MODEL_CARD_NAME && name !== DATA_CARD_NAME)) continue;
      if (taken.has(name) || bytes.has(name) || l.size > MAX_CARD_BYTES) continue;
      bytes.set(name, await store.fetchBytes(l, MAX_CARD_BYTES));
      cards.push({ path: name, kind: 'doc', mediaType: l.mediaType, digest: l.digest, size: l.size, raw: true });
    }
  }
  return { cards, bytes };
}
