import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingContext } from '../actions/common/test/fake-context.js';
import { run as runPackAction } from '../actions/pack/src/run.js';
import { gguf } from '../packages/core/test/modelpack-fixtures.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface PackJson {
  digest: string;
  config: { descriptor: { name: string; family?: string }; config: { format?: string; quantization?: string } };
  layers: { path: string; kind: string }[];
}

/** A small GGUF v3 file whose header names the model (general.name) and its quantization. */
function ggufModel(name?: string): Buffer {
  return gguf(
    {
      'general.architecture': { type: 'string', value: 'llama' },
      ...(name ? { 'general.name': { type: 'string', value: name } } : {}),
      'general.file_type': { type: 'u32', value: 15 },
    },
    [{ name: 'token_embd.weight', dims: [8, 4] }],
  );
}

async function packJson(args: string[]): Promise<PackJson> {
  const r = await runCli(['pack', ...args, '--json', '--no-cache', '--no-progress']);
  expect([r.status, r.stderr]).toEqual([0, '']);
  return JSON.parse(r.stdout) as PackJson;
}

describe('pack FILE: one model file, as the directory holding only it', () => {
  let mixed: string;
  let only: string;
  beforeAll(() => {
    // The file sits among others, an ignore file and a Modelfile that would change a
    // directory pack: none of them may count.
    mixed = join(tmp.dir, 'downloads');
    mkdirSync(mixed);
    writeFileSync(join(mixed, 'tiny-q4.gguf'), ggufModel('tiny-llama'));
    writeFileSync(join(mixed, 'README.md'), '---\nlicense: mit\nmodel_name: other\n---\n');
    writeFileSync(join(mixed, 'notes.txt'), 'not part of the model');
    writeFileSync(join(mixed, '.gitignore'), '*.gguf\n');
    writeFileSync(join(mixed, 'Modelfile'), 'NAME from-modelfile\nMODEL notes.txt\n');
    only = join(tmp.dir, 'only');
    mkdirSync(only);
    writeFileSync(join(only, 'tiny-q4.gguf'), readFileSync(join(mixed, 'tiny-q4.gguf')));
  });

  it('gives the digest of packing a directory that holds only the file, with GGUF metadata', async () => {
    const dir = await packJson([only, '-o', join(tmp.dir, 'dir-oci')]);
    const file = await packJson([join(mixed, 'tiny-q4.gguf'), '-o', join(tmp.dir, 'file-oci')]);
    expect(file.digest).toBe(dir.digest);
    expect(file.layers.map((l) => [l.path, l.kind])).toEqual([['tiny-q4.gguf', 'weight']]);
    expect(file.config.descriptor.name).toBe('tiny-llama');
    expect(file.config.descriptor.family).toBe('llama');
    expect(file.config.config.format).toBe('gguf');
    expect(file.config.config.quantization).toBe('Q4_K_M');
  });

  it('names the model after the file when the GGUF header does not, and pull writes the file back', async () => {
    const bare = join(tmp.dir, 'bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'phi-mini.Q8_0.gguf'), ggufModel());
    const layout = join(tmp.dir, 'bare-oci');
    const r = await packJson([join(bare, 'phi-mini.Q8_0.gguf'), '-o', `${layout}:v1`]);
    expect(r.config.descriptor.name).toBe('phi-mini.Q8_0');
    const out = join(tmp.dir, 'bare-out');
    const p = await runCli(['pull', `oci:${layout}:v1`, '--extract', out, '--no-progress']);
    expect(p.status).toBe(0);
    expect(readdirSync(out)).toEqual(['phi-mini.Q8_0.gguf']);
    expect(readFileSync(join(out, 'phi-mini.Q8_0.gguf')).equals(readFileSync(join(bare, 'phi-mini.Q8_0.gguf')))).toBe(
      true,
    );
  });

  it('a symlink to a model file is packed under the link name, as in a directory', async () => {
    const link = join(tmp.dir, 'linked.gguf');
    symlinkSync(join(only, 'tiny-q4.gguf'), link);
    const r = await packJson([link, '-o', join(tmp.dir, 'link-oci')]);
    expect(r.layers.map((l) => l.path)).toEqual(['linked.gguf']);
  });

  it('refuses --include/--exclude/--spec with one file (they choose files in a directory)', async () => {
    const r = await runCli(['pack', join(mixed, 'tiny-q4.gguf'), '--include', '*.gguf', '-o', join(tmp.dir, 'x-oci')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error: .*tiny-q4\.gguf is one file: --include, --exclude and a spec choose files/);
  });

  it('the pack action takes a file as its path input', async () => {
    const layout = join(tmp.dir, 'action-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await runPackAction(
      {
        pack: {
          dir: join(mixed, 'tiny-q4.gguf'),
          target: `oci:${layout}:v1`,
          targetLabel: 'input output',
          tags: [],
          options: { family: 'cncf', layerFormat: 'raw', scan: { useDirSpec: true }, metadata: {} },
          cache: false,
          variants: { names: [] },
        },
        registry: {},
        showSummary: true,
      },
      ctx,
    );
    const dir = await packJson([only, '-o', join(tmp.dir, 'dir2-oci')]);
    expect(recorded.outputs.digest).toBe(dir.digest);
  });
});
