import { parse } from 'yaml';
import type { Modality, ModelCapabilities } from './types.js';

/** Hugging Face model card metadata: the `---` YAML block at the top of README.md. */
export interface ModelCard {
  license?: string[];
  licenseName?: string;
  modelName?: string;
  baseModels?: string[];
  languages?: string[];
  tags?: string[];
  datasets?: string[];
  authors?: string[];
  pipelineTag?: string;
}

function strings(v: unknown): string[] | undefined {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  const out = list.filter((x): x is string | number => typeof x === 'string' || typeof x === 'number').map(String);
  return out.length > 0 ? out : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** Returns undefined when there is no front matter; throws when there is one that is not valid YAML. */
export function parseModelCard(text: string): ModelCard | undefined {
  const m = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!m) return undefined;
  const data: unknown = parse(m[1]!);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  const card: ModelCard = {};
  const set = <K extends keyof ModelCard>(k: K, v: ModelCard[K] | undefined): void => {
    if (v !== undefined) card[k] = v;
  };
  set('license', strings(d['license']));
  set('licenseName', str(d['license_name']));
  set('modelName', str(d['model_name']));
  set('baseModels', strings(d['base_model']));
  set('languages', strings(d['language']));
  set('tags', strings(d['tags']));
  set('datasets', strings(d['datasets']));
  set('authors', strings(d['authors']) ?? strings(d['author']));
  set('pipelineTag', str(d['pipeline_tag']));
  return card;
}

const PIPELINES: Record<string, [Modality[], Modality[]]> = {
  'text-generation': [['text'], ['text']],
  'text2text-generation': [['text'], ['text']],
  summarization: [['text'], ['text']],
  translation: [['text'], ['text']],
  'fill-mask': [['text'], ['text']],
  'question-answering': [['text'], ['text']],
  'feature-extraction': [['text'], ['embedding']],
  'sentence-similarity': [['text'], ['embedding']],
  'image-text-to-text': [['text', 'image'], ['text']],
  'image-to-text': [['image'], ['text']],
  'visual-question-answering': [['text', 'image'], ['text']],
  'text-to-image': [['text'], ['image']],
  'image-to-image': [['image'], ['image']],
  'automatic-speech-recognition': [['audio'], ['text']],
  'text-to-speech': [['text'], ['audio']],
  'text-to-audio': [['text'], ['audio']],
  'text-to-video': [['text'], ['video']],
};

/** Input/output modalities implied by the card's `pipeline_tag`. */
export function capabilitiesFromPipeline(tag: string | undefined): ModelCapabilities | undefined {
  const p = tag ? PIPELINES[tag] : undefined;
  return p ? { inputTypes: [...p[0]], outputTypes: [...p[1]] } : undefined;
}
