/** Builders for synthetic model directories: real safetensors and GGUF headers, HF checkouts. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function tempDir(prefix = 'modelpack-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [p, content] of Object.entries(files)) {
    const abs = join(root, p);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** A valid safetensors file: 8-byte LE header length, JSON header, zeroed tensor data. */
export function safetensors(
  tensors: Record<string, { dtype: string; shape: number[] }>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 1);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), Buffer.alloc(offset)]);
}

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'u64'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'i32[]'; value: readonly number[] };

function ggufString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(b.length));
  return Buffer.concat([len, b]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** A GGUF v3 file: header, metadata KVs, tensor infos, a little (fake) tensor data. */
export function gguf(kv: Record<string, GgufValue>, tensors: { name: string; dims: number[] }[]): Buffer {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(tensors.length), u64(Object.keys(kv).length)];
  for (const [key, v] of Object.entries(kv)) {
    parts.push(ggufString(key));
    switch (v.type) {
      case 'u32':
        parts.push(u32(4), u32(v.value));
        break;
      case 'u64':
        parts.push(u32(10), u64(v.value));
        break;
      case 'f32': {
        const b = Buffer.alloc(4);
        b.writeFloatLE(v.value);
        parts.push(u32(6), b);
        break;
      }
      case 'bool':
        parts.push(u32(7), Buffer.from([v.value ? 1 : 0]));
        break;
      case 'string':
        parts.push(u32(8), ggufString(v.value));
        break;
      case 'string[]':
        parts.push(u32(9), u32(8), u64(v.value.length), ...v.value.map(ggufString));
        break;
      case 'i32[]': {
        parts.push(u32(9), u32(5), u64(v.value.length));
        for (const n of v.value) {
          const b = Buffer.alloc(4);
          b.writeInt32LE(n);
          parts.push(b);
        }
        break;
      }
    }
  }
  let offset = 0;
  for (const t of tensors) {
    parts.push(ggufString(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(0), u64(offset));
    offset += 32;
  }
  parts.push(Buffer.alloc(64));
  return Buffer.concat(parts);
}

/** A Llama-like Hugging Face checkout: sharded safetensors + index, tokenizer, card, license, .git, __pycache__. */
export function llamaCheckout(root: string): void {
  writeTree(root, {
    'config.json': JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      torch_dtype: 'bfloat16',
      transformers_version: '4.44.0',
      hidden_size: 64,
    }),
    'generation_config.json': '{"bos_token_id": 1}',
    'model-00001-of-00002.safetensors': safetensors({
      'model.embed_tokens.weight': { dtype: 'BF16', shape: [1000, 64] },
      'model.layers.0.self_attn.q_proj.weight': { dtype: 'BF16', shape: [64, 64] },
    }),
    'model-00002-of-00002.safetensors': safetensors({
      'model.layers.0.mlp.up_proj.weight': { dtype: 'BF16', shape: [256, 64] },
      'model.norm.weight': { dtype: 'F32', shape: [64] },
    }),
    'model.safetensors.index.json': JSON.stringify({ metadata: { total_size: 1 }, weight_map: {} }),
    'tokenizer.json': '{"version": "1.0"}',
    'tokenizer_config.json': '{}',
    'special_tokens_map.json': '{}',
    'tokenizer.model': Buffer.from([1, 2, 3]),
    'README.md':
      '---\nlicense: llama3.1\nmodel_name: Tiny-Llama-Test\nlanguage: [en, de]\ntags: [llama, test]\npipeline_tag: text-generation\n---\n# Tiny Llama\n',
    LICENSE: 'LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\n',
    'USE_POLICY.md': 'Be nice.\n',
    'original/params.json': '{"dim": 64}',
    '.gitattributes': '*.safetensors filter=lfs\n',
    '.git/HEAD': 'ref: refs/heads/main\n',
    '.git/refs/heads/main': 'a'.repeat(40) + '\n',
    '.git/config': '[remote "origin"]\n\turl = https://user:hf_secret@huggingface.co/org/tiny-llama\n',
    '__pycache__/modeling.cpython-311.pyc': 'junk',
    '.cache/huggingface/download/x.lock': '',
    '.DS_Store': 'junk',
  });
}
