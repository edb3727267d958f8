import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { opt } from '../src/errors.js';
import { classifyPath } from '../src/modelpack/classify.js';
import { scanModelDir } from '../src/modelpack/scan.js';
import { gguf, llamaCheckout, safetensors, tempDir, writeTree } from './modelpack-fixtures.js';
import { rejection } from './rejection.js';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

async function kinds(dir: string, opts = {}): Promise<[string, string, boolean][]> {
  const { files } = await scanModelDir(dir, opts);
  return files.map((f) => [f.path, f.kind, f.untested]);
}

describe('scanModelDir: realistic checkouts', () => {
  it('classifies a sharded Llama-like HF checkout, skipping .git, hidden files and __pycache__', async () => {
    llamaCheckout(tmp.dir);
    expect(await kinds(tmp.dir)).toEqual([
      ['config.json', 'weight.config', true],
      ['generation_config.json', 'weight.config', true],
      ['model.safetensors.index.json', 'weight.config', true],
      ['original/params.json', 'weight.config', true],
      ['special_tokens_map.json', 'weight.config', true],
      ['tokenizer.json', 'weight.config', true],
      ['tokenizer.model', 'weight.config', true],
      ['tokenizer_config.json', 'weight.config', true],
      ['model-00001-of-00002.safetensors', 'weight', true],
      ['model-00002-of-00002.safetensors', 'weight', true],
      ['LICENSE', 'doc', true],
      ['README.md', 'doc', true],
      ['USE_POLICY.md', 'doc', true],
    ]);
  });

  it('classifies GGUF, ONNX and PyTorch checkouts', async () => {
    writeTree(tmp.dir, {
      'gguf/llama-3-8b.Q4_K_M.gguf': gguf({ 'general.architecture': { type: 'string', value: 'llama' } }, []),
      'gguf/mmproj-model-f16.gguf': gguf({}, []),
      'onnx/model.onnx': 'onnx',
      'onnx/model.onnx_data': 'data',
      'onnx/model.onnx.data': 'data',
      'pt/pytorch_model-00001-of-00002.bin': 'pt',
      'pt/pytorch_model.bin.index.json': '{}',
      'pt/training_args.bin': 'pt',
      'pt/checkpoint-500/optimizer.pt': 'opt',
      'pt/checkpoint-500/rng_state_0.pth': 'rng',
      'pt/model.ckpt': 'ckpt',
      'pt/vocab.txt': 'a\nb',
      'pt/merges.txt': 'a b',
      'pt/requirements.txt': 'torch',
      'pt/modeling_custom.py': 'import torch',
      'pt/chat_template.jinja': '{{ x }}',
      'pt/notes.rst': 'notes',
      'pt/NOTICE': 'n',
    });
    const got = Object.fromEntries((await kinds(tmp.dir)).map(([p, k]) => [p, k]));
    expect(got).toEqual({
      'gguf/llama-3-8b.Q4_K_M.gguf': 'weight',
      'gguf/mmproj-model-f16.gguf': 'weight',
      'onnx/model.onnx': 'weight',
      'onnx/model.onnx_data': 'weight',
      'onnx/model.onnx.data': 'weight',
      'pt/pytorch_model-00001-of-00002.bin': 'weight',
      'pt/pytorch_model.bin.index.json': 'weight.config',
      // Training-run state is run metadata, not weights (MOF: Model metadata).
      'pt/training_args.bin': 'weight.config',
      'pt/checkpoint-500/optimizer.pt': 'weight.config',
      'pt/checkpoint-500/rng_state_0.pth': 'weight.config',
      'pt/model.ckpt': 'weight',
      'pt/vocab.txt': 'weight.config',
      'pt/merges.txt': 'weight.config',
      'pt/requirements.txt': 'code',
      'pt/modeling_custom.py': 'code',
      'pt/chat_template.jinja': 'weight.config',
      'pt/notes.rst': 'doc',
      'pt/NOTICE': 'doc',
    });
  });

  it('orders layers weight.config, weight, code, dataset, doc and by byte order within a kind', async () => {
    writeTree(tmp.dir, {
      'b.py': '',
      'a.md': '',
      'data/x.csv': '',
      'w.safetensors': safetensors({ t: { dtype: 'F32', shape: [2] } }),
      'Z.json': '{}',
      'a.json': '{}',
    });
    expect((await kinds(tmp.dir)).map(([p]) => p)).toEqual([
      'Z.json',
      'a.json',
      'w.safetensors',
      'b.py',
      'data/x.csv',
      'a.md',
    ]);
  });

  it('gives dataset layers to data dirs and dataset extensions (modctl drops them)', async () => {
    writeTree(tmp.dir, {
      'model.safetensors': safetensors({ t: { dtype: 'F32', shape: [2] } }),
      'data/train.json': '{}',
      'datasets/eval/part-0.bin': 'x',
      'dataset/readme.md': 'x',
      'samples.jsonl': '{}',
      'extra/table.parquet': 'x',
    });
    const got = Object.fromEntries((await kinds(tmp.dir)).map(([p, k]) => [p, k]));
    expect(got['data/train.json']).toBe('dataset');
    expect(got['datasets/eval/part-0.bin']).toBe('dataset');
    expect(got['dataset/readme.md']).toBe('dataset');
    expect(got['samples.jsonl']).toBe('dataset');
    expect(got['extra/table.parquet']).toBe('dataset');
    expect(got['model.safetensors']).toBe('weight');
  });

  it('classifies unknown files by size: weight from 64 MiB, weight config below', () => {
    expect(classifyPath('blob.xyz', 64 * 1024 * 1024)).toBe('weight');
    expect(classifyPath('blob.xyz', 64 * 1024 * 1024 - 1)).toBe('weight.config');
    expect(classifyPath('LICENSE.txt', 10)).toBe('doc');
    expect(classifyPath('requirements-dev.txt', 10)).toBe('code');
    expect(classifyPath('variables/variables.data-00000-of-00001', 10)).toBe('weight');
  });

  it('does not let readdir order, mtimes or the walk change the result', async () => {
    llamaCheckout(tmp.dir);
    const a = await scanModelDir(tmp.dir);
    utimesSync(join(tmp.dir, 'config.json'), new Date('2001-01-01'), new Date('2001-01-01'));
    const b = await scanModelDir(tmp.dir);
    expect(b.files.map((f) => [f.path, f.kind])).toEqual(a.files.map((f) => [f.path, f.kind]));
  });
});

describe('scanModelDir: filters', () => {
  beforeEach(() => {
    writeTree(tmp.dir, {
      'model.safetensors': safetensors({ t: { dtype: 'F32', shape: [2] } }),
      'model.bin': 'pt',
      'config.json': '{}',
      'sub/deep/extra.bin': 'x',
      'notebooks/train.ipynb': '{}',
      '.env': 'SECRET=1',
    });
  });

  it('include keeps only matching files; ** crosses directories', async () => {
    expect((await kinds(tmp.dir, { include: ['**/*.bin'] })).map(([p]) => p)).toEqual([
      'model.bin',
      'sub/deep/extra.bin',
    ]);
  });

  it('exclude wins over include; a directory pattern excludes what is below it', async () => {
    const got = (await kinds(tmp.dir, { include: ['**/*.bin', 'config.json'], exclude: ['sub', 'model.bin'] })).map(
      ([p]) => p,
    );
    expect(got).toEqual(['config.json']);
    expect((await kinds(tmp.dir, { exclude: ['notebooks/**', '*.bin'] })).map(([p]) => p)).toEqual([
      'config.json',
      'model.safetensors',
      'sub/deep/extra.bin',
    ]);
  });

  it('hidden files come back only when an include names them', async () => {
    expect((await kinds(tmp.dir)).map(([p]) => p)).not.toContain('.env');
    expect((await kinds(tmp.dir, { include: ['.env', 'config.json'] })).map(([p]) => p)).toEqual([
      '.env',
      'config.json',
    ]);
  });

  it('refuses patterns that leave the dir (USAGE)', async () => {
    const e = await rejection(scanModelDir(tmp.dir, { include: ['../x'] }));
    expect(e.code).toBe('USAGE');
  });
});

describe('scanModelDir: errors and symlinks', () => {
  it('refuses a missing dir and a dir with nothing to pack with INPUT; one file is scanned alone', async () => {
    expect((await rejection(scanModelDir(join(tmp.dir, 'nope')))).message).toMatch(/does not exist/);
    writeTree(tmp.dir, { 'f.gguf': 'x', 'g.txt': 'y' });
    const one = await scanModelDir(join(tmp.dir, 'f.gguf'));
    expect(one.files.map((f) => [f.path, f.kind])).toEqual([['f.gguf', 'weight']]);
    expect(one.singleFile).toEqual({ stem: 'f' });
    mkdirSync(join(tmp.dir, 'empty'));
    writeTree(join(tmp.dir, 'empty'), { '.hidden': 'x', '__pycache__/a.pyc': 'x' });
    const e = await rejection(scanModelDir(join(tmp.dir, 'empty')));
    expect(e.code).toBe('INPUT');
    expect(e.message).toMatch(/no model files found in .*empty/);
  });

  it('follows a symlink to a file inside the dir, keeping the link path', async () => {
    writeTree(tmp.dir, { 'blobs/abc': 'weights!', 'config.json': '{}' });
    symlinkSync('blobs/abc', join(tmp.dir, 'model.safetensors'));
    const { files } = await scanModelDir(tmp.dir, { exclude: ['blobs'] });
    const link = files.find((f) => f.path === 'model.safetensors')!;
    expect(link.kind).toBe('weight');
    expect(link.absPath).toBe(realpathSync(join(tmp.dir, 'blobs', 'abc')));
    expect(link.untested).toBe(true);
    expect(link.size).toBe(8);
  });

  it('refuses a symlink escaping the dir with the link, the target and the fix', async () => {
    const outside = tempDir('outside-');
    try {
      writeTree(outside.dir, { 'secret.bin': 'x' });
      mkdirSync(join(tmp.dir, 'm'));
      writeTree(join(tmp.dir, 'm'), { 'config.json': '{}' });
      symlinkSync(join(outside.dir, 'secret.bin'), join(tmp.dir, 'm', 'model.bin'));
      const e = await rejection(scanModelDir(join(tmp.dir, 'm')));
      expect(e.code).toBe('INPUT');
      expect(e.message).toMatch(/^model\.bin is a symlink to .*secret\.bin, outside the model directory$/);
      expect(e.template.hint).toContain(`${opt('exclude')} model.bin`);
      // excluding it is the documented way out
      expect((await scanModelDir(join(tmp.dir, 'm'), { exclude: ['model.bin'] })).files).toHaveLength(1);
    } finally {
      outside.cleanup();
    }
  });

  it('refuses dangling links and symlink loops', async () => {
    writeTree(tmp.dir, { 'config.json': '{}' });
    symlinkSync('missing.bin', join(tmp.dir, 'dangling.bin'));
    expect((await rejection(scanModelDir(tmp.dir))).message).toMatch(
      /dangling\.bin is a symlink to missing\.bin, which does not exist/,
    );
    const t2 = tempDir();
    try {
      writeTree(t2.dir, { 'sub/config.json': '{}' });
      symlinkSync('..', join(t2.dir, 'sub', 'up'));
      expect((await rejection(scanModelDir(t2.dir))).message).toMatch(/symlink loop/);
    } finally {
      t2.cleanup();
    }
  });

  it('refuses fifos with INPUT', async () => {
    writeTree(tmp.dir, { 'config.json': '{}' });
    execFileSync('mkfifo', [join(tmp.dir, 'pipe')]);
    const e = await rejection(scanModelDir(tmp.dir));
    expect(e.code).toBe('INPUT');
    expect(e.message).toMatch(/pipe is not a regular file/);
  });
});
