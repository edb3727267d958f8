import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelshipError } from '../src/errors.js';
import { readGgufHeader } from '../src/modelpack/gguf.js';
import { parseGitRemotes, readGitInfo, stripUrlCredentials } from '../src/modelpack/git.js';
import { toSpdx } from '../src/modelpack/license.js';
import { parseSpdxExpression } from '../src/spdx.js';
import { inferModelMetadata } from '../src/modelpack/metadata.js';
import { parseModelCard } from '../src/modelpack/modelcard.js';
import { readSafetensorsHeader } from '../src/modelpack/safetensors.js';
import { scanModelDir } from '../src/modelpack/scan.js';
import { formatParamSize } from '../src/modelpack/values.js';
import { gguf, llamaCheckout, safetensors, tempDir, writeTree } from './modelpack-fixtures.js';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

async function infer(dir: string, overrides = {}, options = { checkGitDirty: false }) {
  const { files } = await scanModelDir(dir);
  return inferModelMetadata(dir, files, overrides, options);
}

describe('inferModelMetadata: Hugging Face checkout', () => {
  it('reads config.json, safetensors headers, the model card and .git', async () => {
    llamaCheckout(tmp.dir);
    const m = await infer(tmp.dir);
    expect(m).toMatchObject({
      name: 'Tiny-Llama-Test',
      family: 'llama',
      architecture: 'transformer',
      precision: 'bfloat16',
      format: 'safetensors',
      // 1000*64 + 64*64 + 256*64 + 64 = 84544 elements over both shards
      parameterCount: 84544,
      paramSize: '84.5k',
      licenses: ['LicenseRef-llama3.1'],
      sourceURL: 'https://huggingface.co/org/tiny-llama',
      revision: 'a'.repeat(40),
      languages: ['en', 'de'],
      tags: ['llama', 'test'],
      capabilities: { inputTypes: ['text'], outputTypes: ['text'] },
    });
    expect(m.sources.paramSize).toBe('safetensors headers');
    expect(m.sources.name).toBe('README.md model_name');
    expect(JSON.stringify(m)).not.toContain('hf_secret');
  });

  it('lets overrides win and validates them', async () => {
    llamaCheckout(tmp.dir);
    const m = await infer(tmp.dir, { name: 'flag-name', paramSize: '8B', precision: 'fp16', licenses: ['apache-2.0'] });
    expect(m).toMatchObject({ name: 'flag-name', paramSize: '8b', precision: 'float16', licenses: ['Apache-2.0'] });
    expect(m.sources.name).toBe('override');
    await expect(infer(tmp.dir, { paramSize: '8 billion' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(infer(tmp.dir, { createdAt: 'yesterday' })).rejects.toThrow(ModelshipError);
  });

  it('counts a directory holding the same weights twice (consolidated + shards) once', async () => {
    writeTree(tmp.dir, {
      'consolidated.safetensors': safetensors({ w: { dtype: 'F16', shape: [100, 10] } }),
      'model-00001-of-00002.safetensors': safetensors({ a: { dtype: 'F16', shape: [50, 10] } }),
      'model-00002-of-00002.safetensors': safetensors({ b: { dtype: 'F16', shape: [50, 10] } }),
      'unet/diffusion_pytorch_model.safetensors': safetensors({ u: { dtype: 'F16', shape: [500] } }),
    });
    const m = await infer(tmp.dir);
    expect(m.parameterCount).toBe(1000 + 500);
    expect(m.precision).toBe('float16');
  });

  it('does not guess paramSize from packed GPTQ tensors, and warns', async () => {
    writeTree(tmp.dir, {
      'config.json': JSON.stringify({ model_type: 'llama', quantization_config: { quant_method: 'gptq', bits: 4 } }),
      'model.safetensors': safetensors({ 'l.qweight': { dtype: 'I32', shape: [8, 64] } }),
    });
    const m = await infer(tmp.dir);
    expect(m.quantization).toBe('gptq');
    expect(m.paramSize).toBeUndefined();
    expect(m.warnings.join('\n')).toMatch(/quantized tensors are packed/);
  });

  it('turns an unreadable safetensors header into a warning, not a failure', async () => {
    const bad = Buffer.alloc(16);
    bad.writeBigUInt64LE(10n ** 12n);
    writeTree(tmp.dir, { 'model.safetensors': bad });
    const m = await infer(tmp.dir);
    expect(m.paramSize).toBeUndefined();
    expect(m.warnings[0]).toMatch(
      /cannot read the safetensors header of model\.safetensors: header length 1000000000000 exceeds/,
    );
    await expect(readSafetensorsHeader(join(tmp.dir, 'model.safetensors'), 16)).rejects.toThrow(/exceeds/);
  });

  it('maps non-transformer model types and falls back to the sanitized directory name', async () => {
    const dir = join(tmp.dir, 'My Model (v2)');
    mkdirSync(dir);
    writeTree(dir, { 'config.json': JSON.stringify({ model_type: 'mamba', dtype: 'float32' }), 'w.bin': 'x' });
    const m = await infer(dir);
    expect(m).toMatchObject({
      name: 'My-Model-v2',
      architecture: 'ssm',
      family: 'mamba',
      precision: 'float32',
      format: 'pt',
    });
  });

  it('detects Apache-2.0 and MIT from the LICENSE text when nothing declares a license', async () => {
    writeTree(tmp.dir, {
      'model.onnx': 'x',
      LICENSE:
        '\n                                 Apache License\n                           Version 2.0, January 2004\n',
    });
    expect((await infer(tmp.dir)).licenses).toEqual(['Apache-2.0']);
    writeTree(tmp.dir, {
      LICENSE: 'Permission is hereby granted, free of charge, to any person obtaining a copy of this',
    });
    const m = await infer(tmp.dir);
    expect(m.licenses).toEqual(['MIT']);
    expect(m.format).toBe('onnx');
  });
});

describe('GGUF', () => {
  const kv = {
    'general.architecture': { type: 'string', value: 'llama' },
    'general.name': { type: 'string', value: 'Llama 3 8B Instruct' },
    'general.file_type': { type: 'u32', value: 15 },
    'general.license': { type: 'string', value: 'llama3' },
    'general.organization': { type: 'string', value: 'Meta' },
    'llama.context_length': { type: 'u32', value: 8192 },
    'tokenizer.ggml.tokens': { type: 'string[]', value: ['<s>', '</s>', 'hello', 'wörld'] },
    'tokenizer.ggml.token_type': { type: 'i32[]', value: [1, 1, 1, 1] },
    'general.quantized': { type: 'bool', value: true },
    'general.size_label': { type: 'string', value: '8B' },
  } as const;

  it('reads KVs past arrays and sums tensor dims', async () => {
    const file = gguf(kv, [
      { name: 'token_embd.weight', dims: [4096, 32000] },
      { name: 'output_norm.weight', dims: [4096] },
    ]);
    writeTree(tmp.dir, { 'm.gguf': file });
    const g = await readGgufHeader(join(tmp.dir, 'm.gguf'), file.length);
    expect(g.version).toBe(3);
    expect(g.metadata.get('general.name')).toBe('Llama 3 8B Instruct');
    expect(g.metadata.get('llama.context_length')).toBe(8192);
    expect(g.metadata.get('general.quantized')).toBe(true);
    expect(g.metadata.has('tokenizer.ggml.tokens')).toBe(false);
    expect(g.parameterCount).toBe(4096 * 32000 + 4096);
  });

  it('turns GGUF metadata into model metadata, ignoring the mmproj file', async () => {
    writeTree(tmp.dir, {
      'Meta-Llama-3-8B-Instruct.Q4_K_M.gguf': gguf(kv, [{ name: 't', dims: [1000, 1000, 8] }]),
      'mmproj-model-f16.gguf': gguf(
        { 'general.architecture': { type: 'string', value: 'clip' }, 'general.file_type': { type: 'u32', value: 1 } },
        [{ name: 'v', dims: [10] }],
      ),
    });
    const m = await infer(tmp.dir);
    expect(m).toMatchObject({
      name: 'Llama 3 8B Instruct',
      family: 'llama',
      architecture: 'transformer',
      quantization: 'Q4_K_M',
      format: 'gguf',
      paramSize: '8m',
      licenses: ['LicenseRef-llama3'],
      vendor: 'Meta',
    });
    expect(m.precision).toBeUndefined();
  });

  it('reports a non-GGUF file as a warning', async () => {
    writeTree(tmp.dir, { 'x.gguf': 'definitely not gguf' });
    const m = await infer(tmp.dir);
    expect(m.warnings.join()).toMatch(/cannot read the GGUF header of x\.gguf: not a GGUF file/);
  });
});

describe('model card and licenses', () => {
  it('parses front matter and ignores a README without it', () => {
    expect(parseModelCard('# Title\n---\nlicense: mit\n---\n')).toBeUndefined();
    expect(
      parseModelCard(
        '---\r\nlicense: other\r\nlicense_name: my-license\r\nbase_model: meta/llama\r\nauthor: Jane\r\n---\r\nbody',
      ),
    ).toEqual({ license: ['other'], licenseName: 'my-license', baseModels: ['meta/llama'], authors: ['Jane'] });
  });

  it.each([
    ['apache-2.0', 'Apache-2.0'],
    ['mit', 'MIT'],
    ['cc-by-4.0', 'CC-BY-4.0'],
    ['cc-by-nc-4.0', 'CC-BY-NC-4.0'],
    ['bsd-3-clause', 'BSD-3-Clause'],
    ['gpl-3.0', 'GPL-3.0-only'],
    ['openrail', 'LicenseRef-openrail'],
    ['openrail++', 'LicenseRef-openrail-plus-plus'],
    ['llama3.1', 'LicenseRef-llama3.1'],
    ['gemma', 'LicenseRef-gemma'],
    ['Apache-2.0', 'Apache-2.0'],
    ['BSD-4-Clause', 'BSD-4-Clause'],
    ['MIT OR Apache-2.0', 'MIT OR Apache-2.0'],
    // Mixed case is not SPDX by itself: what pack writes must parse as SPDX.
    ['Apache2', 'LicenseRef-Apache2'],
    ['Llama-3-Community', 'LicenseRef-Llama-3-Community'],
    ['bsd-4-clause', 'BSD-4-Clause'],
    ['MIT OR Foo', 'MIT OR LicenseRef-Foo'],
    ['(MIT AND Bar) or gpl-2.0', '(MIT AND LicenseRef-Bar) OR GPL-2.0-only'],
    ['Apache-2.0 WITH LLVM-exception', 'Apache-2.0 WITH LLVM-exception'],
    ['Some License', 'LicenseRef-Some-License'],
  ])('maps %s to %s', (id, spdx) => {
    expect(toSpdx(id)).toBe(spdx);
  });

  it('every id it returns parses as an SPDX expression', () => {
    for (const id of ['Apache2', 'MIT OR Foo', 'GPL-2.0+', 'Some License', 'Weird(id', 'a AND (b OR', 'x WITH y'])
      expect(parseSpdxExpression(toSpdx(id)!)).toMatchObject({ ok: true });
  });

  it('uses license_name for `other` and drops unknown', () => {
    expect(toSpdx('other', 'Tongyi Qianwen')).toBe('LicenseRef-Tongyi-Qianwen');
    expect(toSpdx('other')).toBeUndefined();
    expect(toSpdx('unknown')).toBeUndefined();
  });
});

describe('formatParamSize', () => {
  it.each([
    [8_030_261_248, '8b'],
    [1_543_714_304, '1.5b'],
    [7_241_732_096, '7.2b'],
    [124_439_808, '124m'],
    [999_960_000, '1b'],
    [70_553_706_496, '70.6b'],
    [405_000_000_000, '405b'],
    [1_200_000_000_000, '1.2t'],
    [7_000, '7k'],
    [40, '0.1k'],
  ])('%d → %s', (n, s) => {
    expect(formatParamSize(n)).toBe(s);
  });
});

describe('git', () => {
  it('strips credentials from remote URLs', () => {
    expect(stripUrlCredentials('https://user:ghp_token@github.com/org/repo.git')).toBe(
      'https://github.com/org/repo.git',
    );
    expect(stripUrlCredentials('https://oauth2:x@gitlab.com/org/repo')).toBe('https://gitlab.com/org/repo');
    expect(stripUrlCredentials('ssh://git:pw@host/org/repo')).toBe('ssh://git@host/org/repo');
    expect(stripUrlCredentials('git@github.com:org/repo.git')).toBe('git@github.com:org/repo.git');
  });

  it('parses remotes from .git/config', () => {
    const remotes = parseGitRemotes(
      '[core]\n\tbare = false\n[remote "upstream"]\n\turl = a\n[remote "origin"]\n  url = "b"\n  fetch = x\n',
    );
    expect([...remotes]).toEqual([
      ['upstream', 'a'],
      ['origin', 'b'],
    ]);
  });

  it('resolves HEAD through packed-refs without git', async () => {
    writeTree(tmp.dir, {
      '.git/HEAD': 'ref: refs/heads/release\n',
      '.git/packed-refs': `# pack-refs with: peeled\n${'b'.repeat(40)} refs/heads/release\n`,
      '.git/config': '[remote "mine"]\n\turl = https://example.com/m.git\n',
      'sub/model.bin': 'x',
    });
    const info = await readGitInfo(join(tmp.dir, 'sub'), { checkDirty: false });
    expect(info).toMatchObject({ sourceURL: 'https://example.com/m.git', revision: 'b'.repeat(40) });
  });

  it('suffixes -dirty when a real checkout has changes in the model dir', async () => {
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'commit.gpgsign=false', ...args], {
        cwd: tmp.dir,
        env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
      })
        .toString()
        .trim();
    git('init', '-q', '-b', 'main');
    writeTree(tmp.dir, { 'config.json': '{}', 'model.safetensors': safetensors({ t: { dtype: 'F32', shape: [4] } }) });
    git('add', '.');
    git('commit', '-q', '-m', 'model');
    git('remote', 'add', 'origin', 'https://bot:secret@example.com/org/model.git');
    const head = git('rev-parse', 'HEAD');
    const clean = await inferModelMetadata(tmp.dir, (await scanModelDir(tmp.dir)).files);
    expect(clean.revision).toBe(head);
    expect(clean.sourceURL).toBe('https://example.com/org/model.git');
    writeFileSync(join(tmp.dir, 'config.json'), '{"changed": true}');
    const dirty = await inferModelMetadata(tmp.dir, (await scanModelDir(tmp.dir)).files);
    expect(dirty.revision).toBe(`${head}-dirty`);
  });
});
