import { normalizePrecision } from './values.js';

/** What a Hugging Face `config.json` says about the model. */
export interface HfConfigFacts {
  family?: string;
  architecture?: string;
  /** `architectures[0]`, e.g. `LlamaForCausalLM`; kept for reports, not a config field. */
  className?: string;
  precision?: string;
  quantization?: string;
}

/** model_type values of transformers models that are not transformers. */
const NON_TRANSFORMER: Record<string, string> = {
  resnet: 'cnn',
  convnext: 'cnn',
  convnextv2: 'cnn',
  efficientnet: 'cnn',
  mobilenet_v1: 'cnn',
  mobilenet_v2: 'cnn',
  regnet: 'cnn',
  bit: 'cnn',
  van: 'cnn',
  vgg: 'cnn',
  mamba: 'ssm',
  mamba2: 'ssm',
  falcon_mamba: 'ssm',
  rwkv: 'rnn',
  rwkv5: 'rnn',
  rwkv6: 'rnn',
  xlstm: 'rnn',
};

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * `config.architecture` is the network family in the spec's vocabulary (`transformer`,
 * `cnn`, `rnn`), so the transformers class name (`LlamaForCausalLM`) does not go there;
 * `model_type` (`llama`, `qwen2`) becomes `descriptor.family`.
 */
export function readHfConfig(json: unknown): HfConfigFacts | undefined {
  const c = obj(json);
  if (!c) return undefined;
  const text = obj(c['text_config']);
  const modelType = str(c['model_type']) ?? str(text?.['model_type']);
  const archs = Array.isArray(c['architectures']) ? c['architectures'] : [];
  const className = str(archs[0]);
  const isHf = modelType !== undefined || className !== undefined || c['transformers_version'] !== undefined;
  if (!isHf) return undefined;

  const facts: HfConfigFacts = {};
  if (modelType) facts.family = modelType;
  if (className) facts.className = className;
  facts.architecture = (modelType && NON_TRANSFORMER[modelType.toLowerCase()]) || 'transformer';

  const dtype = str(c['torch_dtype']) ?? str(c['dtype']) ?? str(text?.['torch_dtype']) ?? str(text?.['dtype']);
  if (dtype && dtype !== 'auto') facts.precision = normalizePrecision(dtype);

  const quant = obj(c['quantization_config']);
  const method = str(quant?.['quant_method']);
  if (method) facts.quantization = method.toLowerCase();
  return facts;
}
