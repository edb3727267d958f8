#!/usr/bin/env node
// Writes a tiny, deterministic Llama-shaped model in Hugging Face layout (two safetensors
// shards + index, config, tokenizer files, model card with front matter, LICENSE).
// Usage: node scripts/make-sample-model.mjs OUT_DIR [--shard-mib N] [--shards N]
// With --shard-mib it makes big synthetic shards for benchmarks (bytes from a fast PRNG,
// incompressible like real weights). Same arguments => byte-identical output.
import { mkdirSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const out = args[0];
if (!out) {
  console.error('usage: make-sample-model.mjs OUT_DIR [--shard-mib N] [--shards N]');
  process.exit(2);
}
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const shardMiB = opt('--shard-mib', 0);
const shardCount = opt('--shards', 2);
mkdirSync(out, { recursive: true });

// xorshift128+ : deterministic, fast, incompressible enough for weights.
function* prng(seed) {
  let s0 = BigInt(seed) | 1n;
  let s1 = 0x9e3779b97f4a7c15n;
  const mask = (1n << 64n) - 1n;
  for (;;) {
    let x = s0;
    const y = s1;
    s0 = y;
    x = (x ^ (x << 23n)) & mask;
    s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    yield (s1 + y) & mask;
  }
}
function fillRandom(buf, seed) {
  const g = prng(seed);
  for (let i = 0; i + 8 <= buf.length; i += 8) buf.writeBigUInt64LE(g.next().value, i);
  return buf;
}

const hidden = 64;
const layers = 2;
const vocab = 256;
const inter = 128;
// Tensor list of a tiny Llama; bf16 => 2 bytes per element.
const tensors = [['model.embed_tokens.weight', [vocab, hidden]]];
for (let l = 0; l < layers; l++) {
  const p = `model.layers.${l}.`;
  for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj'])
    tensors.push([`${p}self_attn.${n}.weight`, [hidden, hidden]]);
  tensors.push([`${p}mlp.gate_proj.weight`, [inter, hidden]]);
  tensors.push([`${p}mlp.up_proj.weight`, [inter, hidden]]);
  tensors.push([`${p}mlp.down_proj.weight`, [hidden, inter]]);
  tensors.push([`${p}input_layernorm.weight`, [hidden]]);
  tensors.push([`${p}post_attention_layernorm.weight`, [hidden]]);
}
tensors.push(['model.norm.weight', [hidden]], ['lm_head.weight', [vocab, hidden]]);

const shards = Array.from({ length: shardCount }, () => []);
tensors.forEach((t, i) => shards[Math.min(shardCount - 1, Math.floor((i * shardCount) / tensors.length))].push(t));

const weightMap = {};
let totalBytes = 0;
shards.forEach((list, si) => {
  const name = `model-${String(si + 1).padStart(5, '0')}-of-${String(shardCount).padStart(5, '0')}.safetensors`;
  const header = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [tname, shape] of list) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[tname] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
    weightMap[tname] = name;
  }
  // Benchmarks: pad with one big extra tensor so the shard reaches the asked size.
  if (shardMiB > 0) {
    const want = shardMiB * 1024 * 1024;
    if (want > offset) {
      const elems = Math.floor((want - offset) / 2);
      header[`bench.padding.${si}`] = { dtype: 'BF16', shape: [elems], data_offsets: [offset, offset + elems * 2] };
      offset += elems * 2;
    }
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(join(out, name), 'w');
  writeSync(fd, len);
  writeSync(fd, Buffer.from(json));
  // One pseudo-random block, stamped with a counter per write: distinct, incompressible
  // chunks without paying a BigInt PRNG for every byte of a multi-GiB shard.
  const chunk = fillRandom(Buffer.alloc(Math.min(offset, 8 * 1024 * 1024) || 8), 1000 + si);
  let left = offset;
  let counter = 0;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    if (chunk.length >= 16) chunk.writeBigUInt64LE(BigInt(counter++), 8);
    writeSync(fd, chunk, 0, n);
    left -= n;
  }
  closeSync(fd);
  totalBytes += offset;
});

const write = (name, content) =>
  writeFileSync(join(out, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2) + '\n');
write('model.safetensors.index.json', { metadata: { total_size: totalBytes }, weight_map: weightMap });
write('config.json', {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: hidden,
  intermediate_size: inter,
  num_attention_heads: 4,
  num_hidden_layers: layers,
  num_key_value_heads: 4,
  vocab_size: vocab,
  max_position_embeddings: 512,
  rms_norm_eps: 1e-6,
  torch_dtype: 'bfloat16',
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
});
write('generation_config.json', { bos_token_id: 1, eos_token_id: 2, max_new_tokens: 64 });
const vocabMap = {};
for (let i = 0; i < vocab; i++)
  vocabMap[i < 3 ? ['<unk>', '<s>', '</s>'][i] : `<0x${i.toString(16).padStart(2, '0').toUpperCase()}>`] = i;
write('tokenizer.json', {
  version: '1.0',
  added_tokens: [
    { id: 0, content: '<unk>', special: true },
    { id: 1, content: '<s>', special: true },
    { id: 2, content: '</s>', special: true },
  ],
  model: { type: 'BPE', vocab: vocabMap, merges: [], byte_fallback: true },
});
write('tokenizer_config.json', {
  bos_token: '<s>',
  eos_token: '</s>',
  unk_token: '<unk>',
  model_max_length: 512,
  tokenizer_class: 'LlamaTokenizerFast',
});
write('special_tokens_map.json', { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
write(
  'README.md',
  `---
license: mit
language:
- en
library_name: transformers
pipeline_tag: text-generation
tags:
- llama
- synthetic
model_name: modelship-sample-llama
authors:
- modelship maintainers
datasets:
- modelship/synthetic-none
---

# modelship sample model

A tiny Llama-shaped model with random bf16 weights (two safetensors shards), shipped so the
modelship README's main job and the tests have a real Hugging Face layout to pack. It
generates nothing useful. Regenerate it with \`node scripts/make-sample-model.mjs\`.

| field | value |
|---|---|
| architecture | LlamaForCausalLM |
| layers | ${layers} |
| hidden size | ${hidden} |
| vocab | ${vocab} |
| dtype | bfloat16 |
`,
);
write(
  'LICENSE',
  `MIT License

Copyright (c) 2026 modelship maintainers

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`,
);
console.log(`wrote ${out}: ${shardCount} shards, ${totalBytes} weight bytes`);
