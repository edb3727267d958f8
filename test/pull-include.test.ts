import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { SAMPLE_MODEL, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface Manifest {
  layers: { digest: string; annotations?: Record<string, string> }[];
}

describe('pull --extract --include: only some files (as kit unpack --filter)', () => {
  let reg: TestRegistry;
  let ref: string;
  let manifest: Manifest;
  beforeAll(async () => {
    reg = await startRegistry();
    ref = `${reg.host}/models/sample:v1`;
    const digest = await packSample(tmp.dir, ref);
    const res = await fetch(`${reg.url}/v2/models/sample/manifests/${digest}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    manifest = (await res.json()) as Manifest;
  });
  afterAll(async () => reg?.cleanup());

  /** pull --extract `out` with an --include for each glob (arguments starting with -- are flags). */
  const extract = (out: string, ...args: string[]): string[] => [
    'pull',
    ref,
    '--extract',
    out,
    '--plain-http',
    '--no-progress',
    ...args.flatMap((a) => (a.startsWith('--') ? [a] : ['--include', a])),
  ];
  const digestOf = (path: string): string =>
    manifest.layers.find((l) => l.annotations?.['org.cncf.model.filepath'] === path)!.digest;
  const blobGets = (): string[] =>
    reg
      .accessLog()
      .filter((e) => e.method === 'GET' && e.path.includes('/blobs/sha256:'))
      .map((e) => /\/blobs\/(sha256:[0-9a-f]{64})/.exec(e.path)![1]!);

  it('downloads, verifies and writes only the layers whose path matches', async () => {
    const out = join(tmp.dir, 'json-only');
    reg.clearAccessLog();
    const r = await runCli(extract(out, '*.json', 'LICENSE', '--json'));
    expect([r.status, r.stderr]).toEqual([0, '']);
    const want = readdirSync(SAMPLE_MODEL)
      .filter((f) => f.endsWith('.json') || f === 'LICENSE')
      .sort();
    expect((JSON.parse(r.stdout) as { files: string[] }).files.sort()).toEqual(want);
    expect(readdirSync(out).sort()).toEqual(want);
    for (const f of want) expect(readFileSync(join(out, f)).equals(readFileSync(join(SAMPLE_MODEL, f)))).toBe(true);
    // The weights were never fetched: only the config blob and the chosen layers.
    const fetched = blobGets();
    expect(fetched).not.toContain(digestOf('model-00001-of-00002.safetensors'));
    expect(fetched).not.toContain(digestOf('README.md'));
    for (const f of want) expect(fetched).toContain(digestOf(f));
  });

  it('a glob that matches nothing is exit 6 naming the globs and the files there are; nothing is written', async () => {
    const out = join(tmp.dir, 'none');
    const r = await runCli(extract(out, '*.gguf', 'onnx/'));
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/error: no file of sha256:[0-9a-f]{64} matches "\*\.gguf", "onnx" \(--include\)/);
    expect(r.stderr).toMatch(/hint: its files: .*config\.json/);
    expect(existsSync(out)).toBe(false);
  });

  it('--include goes with --extract only (a layout holds the whole artifact)', async () => {
    const r = await runCli(['pull', ref, '--output', join(tmp.dir, 'l'), '--include', '*.json', '--plain-http']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: --include goes with --extract DIR');
  });
});
