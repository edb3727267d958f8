import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { ModelshipError } from '../src/errors.js';
import { scanModelDir } from '../src/modelpack/scan.js';
import { parseKitfile, parseModelfile, parseYamlSpec } from '../src/modelpack/spec.js';
import { safetensors, tempDir, writeTree } from './modelpack-fixtures.js';
import { rejection } from './rejection.js';

function thrown(fn: () => unknown): ModelshipError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelshipError);
    return e as ModelshipError;
  }
  throw new Error('expected an error');
}

describe('parseModelfile', () => {
  it('reads directives case-insensitively, skips comments, unquotes arguments', () => {
    const spec = parseModelfile(
      [
        '# a comment',
        'name "tiny llama"',
        'ARCH transformer',
        'Family llama',
        'PARAMSIZE 8B',
        'PRECISION bf16',
        '',
        'CONFIG *.json',
        'MODEL **/*.safetensors',
        "DATASET 'data dir/**'",
        'CODE ./src/',
        'DOC README.md',
      ].join('\n'),
    );
    expect(spec.metadata).toEqual({
      name: 'tiny llama',
      architecture: 'transformer',
      family: 'llama',
      paramSize: '8b',
      precision: 'bfloat16',
    });
    expect(spec.entries.map((e) => [e.kind, e.pattern, e.origin, e.literal])).toEqual([
      ['weight.config', '*.json', 'Modelfile:8', false],
      ['weight', '**/*.safetensors', 'Modelfile:9', false],
      ['dataset', 'data dir/**', 'Modelfile:10', false],
      ['code', 'src', 'Modelfile:11', true],
      ['doc', 'README.md', 'Modelfile:12', true],
    ]);
  });

  it('names the line of an unknown directive', () => {
    const e = thrown(() => parseModelfile('NAME x\n\nFROM llama\n'));
    expect(e.code).toBe('INPUT');
    expect(e.message).toBe('Modelfile:3: unknown directive "FROM"');
    expect(e.hint).toMatch(/CONFIG, MODEL, CODE, DATASET, DOC/);
  });

  it('refuses duplicates, missing or extra arguments and bad PARAMSIZE, with line numbers', () => {
    expect(thrown(() => parseModelfile('NAME a\nNAME b')).message).toBe(
      'Modelfile:2: NAME is given twice (first on line 1)',
    );
    expect(thrown(() => parseModelfile('MODEL')).message).toBe('Modelfile:1: MODEL needs one argument');
    expect(thrown(() => parseModelfile('MODEL a b')).message).toMatch(
      /^Modelfile:1: MODEL takes one argument; quote it/,
    );
    expect(thrown(() => parseModelfile('MODEL "a')).message).toMatch(/^Modelfile:1: unterminated quote/);
    const e = thrown(() => parseModelfile('# x\nPARAMSIZE 16', 'my.Modelfile'));
    expect(e.message).toBe('my.Modelfile:2: paramSize "16" is not in the spec\'s <count><scale> form');
    expect(e.hint).toMatch(/8b, 1\.5b/);
    expect(thrown(() => parseModelfile('MODEL ../outside.bin')).message).toMatch(
      /^Modelfile:1: pattern "..\/outside.bin" must stay inside/,
    );
  });
});

describe('parseKitfile', () => {
  const kitfile = `manifestVersion: "1.0"
package:
  name: tiny
  version: 1.0
  license: Apache-2.0
  authors: [Jane, Joe]
model:
  name: tiny-model
  path: model
  license: mit
  format: SafeTensors
  parts:
    - path: tokenizer.json
datasets:
  - name: train
    path: data/train.csv
    license: cc-by-4.0
code:
  - path: src
docs:
  - path: README.md
`;

  it('maps package/model/parts/code/datasets/docs', () => {
    const spec = parseKitfile(kitfile);
    expect(spec.metadata).toEqual({
      name: 'tiny',
      version: '1.0',
      authors: ['Jane', 'Joe'],
      licenses: ['Apache-2.0', 'CC-BY-4.0', 'MIT'],
      format: 'safetensors',
    });
    expect(spec.entries.map((e) => [e.kind, e.pattern, e.modelGroup ?? false])).toEqual([
      ['weight', 'model', true],
      ['weight.config', 'tokenizer.json', true],
      ['dataset', 'data/train.csv', false],
      ['doc', 'README.md', false],
      ['code', 'src', false],
    ]);
    expect(spec.entries[2]!.origin).toBe('Kitfile:16 (datasets[0].path)');
  });

  it('is strict: unknown keys, wrong types and a missing manifestVersion are errors with a line', () => {
    const e = thrown(() => parseKitfile(kitfile.replace('  format: SafeTensors', '  formatt: x')));
    expect(e.code).toBe('INPUT');
    expect(e.message).toMatch(/^Kitfile:11: unknown key "formatt" in model \(allowed: name, path, license/);
    expect(thrown(() => parseKitfile('manifestVersion: 1\ncode: src\n')).message).toBe(
      'Kitfile:2: code must be a list',
    );
    expect(thrown(() => parseKitfile('package:\n  name: x\n')).message).toMatch(/manifestVersion is required/);
    expect(thrown(() => parseKitfile('manifestVersion: 1\ndocs:\n  - description: x\n')).message).toBe(
      'Kitfile:3: docs[0].path is required',
    );
    expect(
      thrown(() => parseKitfile('manifestVersion: 1\nmodel: {path: "jozu.ml/org/base:latest"}\n')).message,
    ).toMatch(/refers to another ModelKit/);
    expect(thrown(() => parseKitfile('manifestVersion: 1\n  bad: [\n')).message).toMatch(/^Kitfile:\d+: invalid YAML/);
  });
});

describe('parseYamlSpec', () => {
  it('reads per-kind glob lists and metadata keys', () => {
    const spec = parseYamlSpec(
      'name: tiny\nlicense: apache-2.0\nparamSize: 1.5B\nweights: ["**/*.safetensors"]\nconfig: [tokenizer.model]\ndatasets: [eval/**]\ndocs: [NOTES.txt]\ncode: ["*.py"]\n',
    );
    expect(spec.metadata).toEqual({ name: 'tiny', licenses: ['Apache-2.0'], paramSize: '1.5b' });
    expect(spec.entries.map((e) => [e.kind, e.pattern])).toEqual([
      ['weight', '**/*.safetensors'],
      ['weight.config', 'tokenizer.model'],
      ['dataset', 'eval/**'],
      ['doc', 'NOTES.txt'],
      ['code', '*.py'],
    ]);
  });

  it('refuses unknown keys with their line', () => {
    const e = thrown(() => parseYamlSpec('name: x\nweight: [a]\n', 'spec.yaml'));
    expect(e.message).toMatch(/^spec\.yaml:2: unknown key "weight" in the spec/);
  });
});

describe('scanModelDir with spec files', () => {
  let tmp: { dir: string; cleanup: () => void };
  beforeEach(() => {
    tmp = tempDir();
    writeTree(tmp.dir, {
      'weights/a/model.safetensors': safetensors({ t: { dtype: 'F32', shape: [2] } }),
      'weights/b/model.safetensors': safetensors({ t: { dtype: 'F32', shape: [2] } }),
      'config.json': '{}',
      'eval/qa.txt': 'q',
      'NOTES.txt': 'notes',
      'run.py': 'print()',
      'README.md': '# x',
    });
  });
  afterEach(() => tmp.cleanup());

  it('auto-reads a Modelfile: ** works, DATASET makes dataset layers, listed files are tested, the rest fall back to rules', async () => {
    writeTree(tmp.dir, { Modelfile: 'NAME tiny\nMODEL weights/**/*.safetensors\nDATASET eval/**\nDOC NOTES.txt\n' });
    const r = await scanModelDir(tmp.dir);
    expect(r.specSource).toBe('Modelfile');
    expect(r.specFormat).toBe('modelfile');
    expect(r.specMetadata).toEqual({ name: 'tiny' });
    expect(r.files.map((f) => [f.path, f.kind, f.untested])).toEqual([
      ['config.json', 'weight.config', true],
      ['weights/a/model.safetensors', 'weight', false],
      ['weights/b/model.safetensors', 'weight', false],
      ['run.py', 'code', true],
      ['eval/qa.txt', 'dataset', false],
      ['NOTES.txt', 'doc', false],
      ['README.md', 'doc', true],
    ]);
    // the Modelfile itself is metadata, not a layer
    expect(r.files.map((f) => f.path)).not.toContain('Modelfile');
  });

  it('ignores the dir spec when useDirSpec is false', async () => {
    writeTree(tmp.dir, { Modelfile: 'DOC NOTES.txt\n' });
    const r = await scanModelDir(tmp.dir, { useDirSpec: false });
    expect(r.specSource).toBeUndefined();
    expect(r.files.find((f) => f.path === 'NOTES.txt')!.kind).toBe('weight.config');
  });

  it('fails when a literal spec path does not exist, naming the spec line', async () => {
    writeTree(tmp.dir, { Modelfile: 'NAME x\nMODEL model.gguf\n' });
    const e = await rejection(scanModelDir(tmp.dir));
    expect(e.code).toBe('INPUT');
    expect(e.message).toBe('Modelfile:2: model.gguf does not exist in the model directory');
  });

  it('warns about spec globs that match nothing', async () => {
    writeTree(tmp.dir, { Modelfile: 'MODEL *.gguf\n' });
    expect((await scanModelDir(tmp.dir)).warnings).toEqual(['Modelfile:1: *.gguf matches no file']);
  });

  it('expands Kitfile directories; the model dir mixes weights and configs; exact paths beat directories', async () => {
    writeTree(tmp.dir, {
      Kitfile:
        'manifestVersion: "1.0"\npackage: {name: kit}\nmodel:\n  path: weights\ndatasets:\n  - path: eval\ncode:\n  - path: .\ndocs:\n  - path: README.md\n',
      'weights/a/config.json': '{}',
    });
    const r = await scanModelDir(tmp.dir);
    expect(r.specFormat).toBe('kitfile');
    expect(r.specSource).toBe('Kitfile');
    const got = Object.fromEntries(r.files.map((f) => [f.path, `${f.kind}${f.untested ? '?' : ''}`]));
    expect(got).toEqual({
      'weights/a/model.safetensors': 'weight',
      'weights/b/model.safetensors': 'weight',
      'weights/a/config.json': 'weight.config',
      'eval/qa.txt': 'dataset',
      'README.md': 'doc',
      // `code: .` claims everything else
      'config.json': 'code',
      'NOTES.txt': 'code',
      'run.py': 'code',
    });
  });

  it('takes an explicit YAML spec from outside the dir', async () => {
    const other = tempDir();
    try {
      const specPath = join(other.dir, 'layers.yaml');
      writeTree(other.dir, { 'layers.yaml': 'name: from-yaml\ndatasets: [eval/**]\nweights: ["weights/a/*"]\n' });
      const r = await scanModelDir(tmp.dir, { spec: specPath });
      expect(r.specFormat).toBe('yaml');
      expect(r.specSource).toBe(specPath);
      expect(r.specMetadata.name).toBe('from-yaml');
      const a = r.files.find((f) => f.path === 'weights/a/model.safetensors')!;
      const b = r.files.find((f) => f.path === 'weights/b/model.safetensors')!;
      expect([a.untested, b.untested]).toEqual([false, true]);
      expect(r.files.find((f) => f.path === 'eval/qa.txt')!.kind).toBe('dataset');
      await expect(scanModelDir(tmp.dir, { spec: join(other.dir, 'missing.yaml') })).rejects.toThrow(
        /spec file .*missing\.yaml does not exist/,
      );
    } finally {
      other.cleanup();
    }
  });

  it('exclude also removes files a spec names', async () => {
    writeTree(tmp.dir, { Modelfile: 'MODEL weights/**\n' });
    const r = await scanModelDir(tmp.dir, { exclude: ['weights/b'] });
    expect(r.files.map((f) => f.path)).not.toContain('weights/b/model.safetensors');
  });
});
