import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { ArtifactFacts, ArtifactLayer } from '../src/attest/facts.js';
import { buildFileManifestPredicate, FILES_PREDICATE_TYPE, verifyFilesAgainstManifest } from '../src/attest/files.js';
import { ModelshipError } from '../src/errors.js';

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

function layer(path: string, raw: boolean, digestHex: string, size: number): ArtifactLayer {
  return {
    path,
    kind: path.endsWith('.safetensors') ? 'weight' : 'doc',
    mediaType: `application/vnd.cncf.model.${path.endsWith('.safetensors') ? 'weight' : 'doc'}.v1.${raw ? 'raw' : 'tar'}`,
    digest: `sha256:${digestHex}`,
    size,
    raw,
  };
}

function facts(layers: ArtifactLayer[]): ArtifactFacts {
  return {
    name: 'registry.example/models/tiny',
    descriptor: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${'a'.repeat(64)}`,
      size: 1,
    },
    manifest: {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 2 },
      layers: [],
    },
    config: {},
    layers,
    smallFiles: new Map(),
  };
}

async function rejection(p: Promise<unknown>): Promise<ModelshipError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ModelshipError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

const FILES: Record<string, string> = {
  'model.safetensors': 'weights weights weights',
  'README.md': '# tiny\n',
  'tokenizer/vocab.json': '{"a":1}',
  'tokenizer/merges.txt': 'a b\n',
};

describe('buildFileManifestPredicate', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ms-attest-files-'));
    for (const [name, body] of Object.entries(FILES)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), body);
    }
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('maps raw layers to their layer digests without reading any file, sorted by name', async () => {
    // Digests deliberately differ from the files on disk: a read would show.
    const layers = [layer('z.safetensors', true, 'c'.repeat(64), 10), layer('A/readme.md', true, 'd'.repeat(64), 3)];
    const expected = {
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
      resources: [
        { name: 'A/readme.md', algorithm: 'sha256', digest: 'd'.repeat(64), size: 3 },
        { name: 'z.safetensors', algorithm: 'sha256', digest: 'c'.repeat(64), size: 10 },
      ],
    };
    expect(await buildFileManifestPredicate(facts(layers))).toEqual(expected);
    expect(await buildFileManifestPredicate(facts(layers), { dir: join(dir, 'does-not-exist') })).toEqual(expected);
    expect(FILES_PREDICATE_TYPE).toBe('https://model_signing/signature/v1.0');
  });

  it('refuses tar layers without the model directory (USAGE, naming --model-dir)', async () => {
    const e = await rejection(
      buildFileManifestPredicate(
        facts([layer('README.md', false, 'e'.repeat(64), 99), layer('w.safetensors', true, 'f'.repeat(64), 1)]),
      ),
    );
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('README.md');
    expect(e.hint).toContain('--model-dir');
  });

  it('hashes the files of tar layers (a file or a directory) in the model directory', async () => {
    const p = await buildFileManifestPredicate(
      facts([
        layer('tokenizer', false, '1'.repeat(64), 4096),
        layer('README.md', false, '2'.repeat(64), 2048),
        layer('model.safetensors', true, '3'.repeat(64), 23),
      ]),
      { dir },
    );
    expect(p.resources).toEqual([
      { name: 'README.md', algorithm: 'sha256', digest: sha(FILES['README.md']!), size: 7 },
      { name: 'model.safetensors', algorithm: 'sha256', digest: '3'.repeat(64), size: 23 },
      { name: 'tokenizer/merges.txt', algorithm: 'sha256', digest: sha(FILES['tokenizer/merges.txt']!), size: 4 },
      { name: 'tokenizer/vocab.json', algorithm: 'sha256', digest: sha(FILES['tokenizer/vocab.json']!), size: 7 },
    ]);
  });

  it('refuses a tar layer whose file is not in the model directory', async () => {
    const e = await rejection(buildFileManifestPredicate(facts([layer('gone.md', false, '1'.repeat(64), 1)]), { dir }));
    expect(e.code).toBe('INPUT');
    expect(e.message).toContain('gone.md');
  });

  it('refuses layer paths that leave the model directory', async () => {
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../b', '']) {
      const e = await rejection(buildFileManifestPredicate(facts([layer(bad, true, '1'.repeat(64), 1)])));
      expect(e.code).toBe('INVALID');
    }
  });
});

describe('verifyFilesAgainstManifest', () => {
  let dir: string;
  let predicate: Record<string, unknown>;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ms-attest-verify-'));
    for (const [name, body] of Object.entries(FILES)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), body);
    }
    predicate = await buildFileManifestPredicate(
      facts(Object.keys(FILES).map((n) => layer(n, false, '0'.repeat(64), 0))),
      { dir },
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the unchanged directory (hidden VCS files are not "extra")', async () => {
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    expect(await verifyFilesAgainstManifest(dir, predicate)).toEqual({
      ok: true,
      mismatched: [],
      missing: [],
      extra: [],
    });
  });

  it('reports a modified, a missing and an extra file', async () => {
    appendFileSync(join(dir, 'README.md'), 'tampered\n');
    unlinkSync(join(dir, 'tokenizer', 'merges.txt'));
    writeFileSync(join(dir, 'tokenizer', 'added.json'), '{}');
    expect(await verifyFilesAgainstManifest(dir, predicate)).toEqual({
      ok: false,
      mismatched: ['README.md'],
      missing: ['tokenizer/merges.txt'],
      extra: ['tokenizer/added.json'],
    });
  });

  it('counts a symlink leaving the directory as mismatched, even with identical content', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'ms-attest-outside-'));
    try {
      writeFileSync(join(outside, 'README.md'), FILES['README.md']!);
      unlinkSync(join(dir, 'README.md'));
      symlinkSync(join(outside, 'README.md'), join(dir, 'README.md'));
      const r = await verifyFilesAgainstManifest(dir, predicate);
      expect(r).toEqual({ ok: false, mismatched: ['README.md'], missing: [], extra: [] });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses a predicate that is not a sha256 files manifest', async () => {
    const e = await rejection(
      verifyFilesAgainstManifest(dir, { serialization: { method: 'shards', hash_type: 'sha256' }, resources: [] }),
    );
    expect(e.code).toBe('INVALID');
    const e2 = await rejection(
      verifyFilesAgainstManifest(dir, {
        serialization: { method: 'files', hash_type: 'sha256' },
        resources: [{ name: '../x', algorithm: 'sha256', digest: 'a'.repeat(64) }],
      }),
    );
    expect(e2.code).toBe('INVALID');
  });
});
