import type { LayerKind } from '../mediatypes.js';

/**
 * Kind rules for files no spec names. Checked in this order; the first hit wins:
 *  1. anything below a `data/`, `dataset/` or `datasets/` directory → dataset
 *     (modctl has no dataset bucket at all; AIKit and KitOps do);
 *  2. exact file names (tokenizer and config files, training-run state, README/LICENSE…,
 *     requirements*.txt);
 *  3. extensions (weights, then datasets, code, docs, weight config);
 *  4. unknown files: weight when ≥ 64 MiB (an unrecognised large blob is almost always a
 *     weight format we do not know), else weight config (small sidecar files).
 * Names are compared lowercased. Every kind decided here is "untested" in the annotations.
 */
export const LARGE_UNKNOWN_FILE = 64 * 1024 * 1024;

const DATASET_DIRS = new Set(['data', 'dataset', 'datasets']);

const CONFIG_NAMES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'vocab.txt',
  'merges.txt',
  'tokenizer.model',
  'spiece.model',
  'sentencepiece.bpe.model',
  'added_tokens.json',
  'preprocessor_config.json',
  'processor_config.json',
  'feature_extractor_config.json',
  'image_processor_config.json',
  'chat_template.jinja',
  'chat_template.json',
  'params.json',
  'model_index.json',
  'scheduler_config.json',
  'adapter_config.json',
  'quantize_config.json',
  'quant_config.json',
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
]);

/**
 * Training-run state a trainer saves beside a checkpoint: the pickled training arguments
 * (`training_args.bin`), optimizer, learning-rate scheduler and grad-scaler state, RNG state.
 * `.bin`/`.pt`/`.pth`, but not weights of the model: they record how it was trained. They are
 * weight config, the kind of their JSON sibling `trainer_state.json`, which MOF reads as
 * "Model metadata" (docs/predicates.md). As code, `training_args` would claim MOF's "Training
 * code"; as weights, "Model parameters".
 */
const RUN_STATE_NAME = /^(training_args\.bin|optimizer\.(pt|bin)|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth)$/;

const CODE_NAMES = new Set([
  'makefile',
  'dockerfile',
  'containerfile',
  'pyproject.toml',
  'setup.py',
  'setup.cfg',
  'pipfile',
  'pipfile.lock',
  'cmakelists.txt',
  'cargo.toml',
  'go.mod',
  'go.sum',
  'package.json',
  'environment.yml',
  'environment.yaml',
]);

/** Name prefixes of documentation files: `README.md`, `LICENSE-APACHE`, `NOTICE.txt`… */
const DOC_PREFIXES = [
  'readme',
  'license',
  'licence',
  'notice',
  'copying',
  'citation',
  'use_policy',
  'authors',
  'changelog',
];

const WEIGHT_EXT = [
  '.safetensors',
  '.bin',
  '.pt',
  '.pth',
  '.pt2',
  '.pte',
  '.ptl',
  '.ckpt',
  '.gguf',
  '.ggml',
  '.llamafile',
  '.onnx',
  '.onnx_data',
  '.onnx.data',
  '.ort',
  '.h5',
  '.hdf5',
  '.keras',
  '.pb',
  '.tflite',
  '.lite',
  '.msgpack',
  '.mlmodel',
  '.pdparams',
  '.pdmodel',
  '.npz',
  '.npy',
  '.pkl',
  '.pickle',
  '.joblib',
  '.mar',
  '.engine',
  '.plan',
  '.trt',
  '.caffemodel',
  '.tensor',
  '.nemo',
  '.mlx',
  '.params',
];
const DATASET_EXT = ['.csv', '.tsv', '.jsonl', '.parquet', '.arrow', '.feather'];
const CODE_EXT = [
  '.py',
  '.pyi',
  '.sh',
  '.bash',
  '.ipynb',
  '.js',
  '.mjs',
  '.ts',
  '.go',
  '.rs',
  '.cpp',
  '.cc',
  '.c',
  '.h',
  '.hpp',
  '.cu',
  '.cuh',
  '.java',
  '.rb',
  '.swift',
  '.kt',
  '.scala',
  '.r',
  '.jl',
  '.lua',
  '.ps1',
  '.bat',
];
const DOC_EXT = [
  '.md',
  '.markdown',
  '.rst',
  '.adoc',
  '.pdf',
  '.html',
  '.htm',
  '.tex',
  '.png',
  '.jpg',
  '.jpeg',
  '.gif',
  '.svg',
  '.webp',
];
const CONFIG_EXT = [
  '.json',
  '.json5',
  '.jsonc',
  '.yaml',
  '.yml',
  '.toml',
  '.txt',
  '.jinja',
  '.jinja2',
  '.tiktoken',
  '.cfg',
  '.ini',
  '.conf',
  '.xml',
  '.model',
  '.vocab',
  '.spm',
];

function endsWithAny(name: string, exts: readonly string[]): boolean {
  return exts.some((e) => name.endsWith(e));
}

export function classifyPath(path: string, size: number): LayerKind {
  const parts = path.toLowerCase().split('/');
  const name = parts[parts.length - 1] ?? '';
  if (parts.slice(0, -1).some((d) => DATASET_DIRS.has(d))) return 'dataset';

  if (CONFIG_NAMES.has(name) || RUN_STATE_NAME.test(name)) return 'weight.config';
  if (name.endsWith('.index.json')) return 'weight.config'; // shard maps: model.safetensors.index.json
  if (CODE_NAMES.has(name) || /^requirements.*\.txt$/.test(name)) return 'code';
  if (
    DOC_PREFIXES.some(
      (p) => name === p || name.startsWith(`${p}.`) || name.startsWith(`${p}-`) || name.startsWith(`${p}_`),
    )
  )
    return 'doc';

  if (endsWithAny(name, WEIGHT_EXT) || /\.data-\d+-of-\d+$/.test(name)) return 'weight'; // TF variables shards
  if (endsWithAny(name, DATASET_EXT)) return 'dataset';
  if (endsWithAny(name, CODE_EXT)) return 'code';
  if (endsWithAny(name, DOC_EXT)) return 'doc';
  if (endsWithAny(name, CONFIG_EXT)) return 'weight.config';

  return size >= LARGE_UNKNOWN_FILE ? 'weight' : 'weight.config';
}

/** Layer order: weight config, weights, code, datasets, docs (modctl: config, model, code, doc). */
export const KIND_ORDER: readonly LayerKind[] = ['weight.config', 'weight', 'code', 'dataset', 'doc'];
