import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import tarStream from 'tar-stream';
import { collectArtifactFacts, type ArtifactFacts, type ArtifactLayer } from '../src/attest/facts.js';
import { buildFileManifestPredicate, FILES_PREDICATE_TYPE, verifyFilesAgainstManifest } from '../src/attest/files.js';
import { sha256Digest } from '../src/digest.js';
import { opt } from '../src/errors.js';
import { OciLayoutStore } from '../src/layout.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';
import { pack } from '../src/pack.js';
import type { ContentStore } from '../src/store.js';
import { artifactFacts, factsLayer } from './artifact-facts.js';
import { rejection } from './rejection.js';

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

function layer(path: string, raw: boolean, digestHex: string, size: number): ArtifactLayer {
  return factsLayer(path, { raw, digestHex, size });
}

function facts(layers: ArtifactLayer[]): ArtifactFacts {
  return artifactFacts({ layers });
}

/** `dir` packed by modelship into a fresh layout, and the artifact's facts. */
async function packed(
  dir: string,
  layerFormat: 'tar' | 'tar+gzip',
): Promise<{ store: OciLayoutStore; facts: ArtifactFacts }> {
  const store = await OciLayoutStore.open(mkdtempSync(join(tmpdir(), 'ms-attest-oci-')), { create: true });
  const r = await pack({ dir, target: store, layerFormat, cache: null, gitLfs: false });
  return { store, facts: await collectArtifactFacts(store, r.descriptor, 'oci:test') };
}

/** A ContentStore that counts layer fetches (streams), to prove a check read no blob. */
function countFetches(store: ContentStore): { store: ContentStore; fetches: () => number } {
  let n = 0;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'fetch')
        return (d: Descriptor) => {
          n++;
          return target.fetch(d);
        };
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: proxy, fetches: () => n };
}

async function tarOf(files: [string, string][]): Promise<Buffer> {
  const p = tarStream.pack();
  for (const [name, body] of files)
    p.entry({ name, size: Buffer.byteLength(body), mode: 0o644, mtime: new Date(1e12) }, body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Pushes a hand-made ModelPack manifest (another tool's layers) and returns its facts. */
async function pushed(
  store: OciLayoutStore,
  layers: { path: string; mediaType: string; bytes: Buffer }[],
): Promise<ArtifactFacts> {
  const descs: Descriptor[] = [];
  for (const l of layers) {
    const d = {
      mediaType: l.mediaType,
      digest: sha256Digest(l.bytes),
      size: l.bytes.length,
      annotations: { 'org.cncf.model.filepath': l.path },
    };
    await store.push(d, l.bytes);
    descs.push(d);
  }
  const config = Buffer.from(JSON.stringify({ modelfs: { type: 'layers', diffIds: descs.map((d) => d.digest) } }));
  const cd = {
    mediaType: 'application/vnd.cncf.model.config.v1+json',
    digest: sha256Digest(config),
    size: config.length,
  };
  await store.push(cd, config);
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cd, layers: descs }));
  const root = { mediaType: OCI_MANIFEST, digest: sha256Digest(m), size: m.length };
  await store.push(root, m);
  return collectArtifactFacts(store, root, 'oci:other-tool');
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

  it('without a model directory, maps raw layers to their layer digests without reading any file, sorted by name', async () => {
    const layers = [layer('z.safetensors', true, 'c'.repeat(64), 10), layer('A/readme.md', true, 'd'.repeat(64), 3)];
    expect(await buildFileManifestPredicate(facts(layers))).toEqual({
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
      resources: [
        { name: 'A/readme.md', algorithm: 'sha256', digest: 'd'.repeat(64), size: 3 },
        { name: 'z.safetensors', algorithm: 'sha256', digest: 'c'.repeat(64), size: 10 },
      ],
    });
    expect(FILES_PREDICATE_TYPE).toBe('https://model_signing/signature/v1.0');
  });

  it('with a model directory, refuses raw layers whose files are missing or differ, naming them', async () => {
    const layers = [
      layer('README.md', true, sha(FILES['README.md']!), 7),
      layer('model.safetensors', true, 'c'.repeat(64), 23),
      layer('gone.md', true, 'd'.repeat(64), 3),
    ];
    const e = await rejection(buildFileManifestPredicate(facts(layers), { dir }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('different content: model.safetensors');
    expect(e.message).toContain('missing: gone.md');
    expect(e.message).not.toContain('README.md');
    const ok = await buildFileManifestPredicate(facts([layers[0]!]), { dir });
    expect(ok.resources).toEqual([
      { name: 'README.md', algorithm: 'sha256', digest: sha(FILES['README.md']!), size: 7 },
    ]);
    const nowhere = await rejection(buildFileManifestPredicate(facts([layers[0]!]), { dir: join(dir, 'nope') }));
    expect(nowhere.code).toBe('INPUT');
  });

  it('refuses tar layers without the model directory (USAGE, naming --model-dir)', async () => {
    const e = await rejection(
      buildFileManifestPredicate(
        facts([layer('README.md', false, 'e'.repeat(64), 99), layer('w.safetensors', true, 'f'.repeat(64), 1)]),
      ),
    );
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('README.md');
    expect(e.template.hint).toContain(opt('modelDir'));
  });

  it('matches modelship tar layers through their diffIds, reading no blob; a changed file is refused', async () => {
    for (const layerFormat of ['tar', 'tar+gzip'] as const) {
      const { store, facts: f } = await packed(dir, layerFormat);
      const counting = countFetches(store);
      const p = await buildFileManifestPredicate(f, { dir, store: counting.store });
      expect(counting.fetches()).toBe(0);
      expect(p.resources).toEqual(
        Object.entries(FILES)
          .map(([name, body]) => ({ name, algorithm: 'sha256', digest: sha(body), size: Buffer.byteLength(body) }))
          .sort((a, b) => (a.name < b.name ? -1 : 1)),
      );
      appendFileSync(join(dir, 'README.md'), 'x');
      const e = await rejection(buildFileManifestPredicate(f, { dir, store: counting.store }));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain('different content: README.md');
      writeFileSync(join(dir, 'README.md'), FILES['README.md']!);
    }
  });

  it('compares a tar layer of a directory (another tool) entry by entry: extra, missing and different files refused', async () => {
    const store = await OciLayoutStore.open(join(dir, '..', `${basename(dir)}-oci`), { create: true });
    try {
      const tar = await tarOf([
        ['tokenizer/vocab.json', FILES['tokenizer/vocab.json']!],
        ['tokenizer/merges.txt', FILES['tokenizer/merges.txt']!],
      ]);
      const f = await pushed(store, [
        { path: 'tokenizer', mediaType: 'application/vnd.cncf.model.code.v1.tar', bytes: tar },
        {
          path: 'README.md',
          mediaType: 'application/vnd.cncf.model.doc.v1.raw',
          bytes: Buffer.from(FILES['README.md']!),
        },
      ]);
      const p = await buildFileManifestPredicate(f, { dir, store });
      expect((p.resources as { name: string }[]).map((r) => r.name)).toEqual([
        'README.md',
        'tokenizer/merges.txt',
        'tokenizer/vocab.json',
      ]);
      writeFileSync(join(dir, 'tokenizer', 'added.json'), '{}');
      appendFileSync(join(dir, 'tokenizer', 'vocab.json'), ' ');
      const e = await rejection(buildFileManifestPredicate(f, { dir, store }));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain('different content: tokenizer/vocab.json');
      expect(e.message).toContain('not in the artifact: tokenizer/added.json');
      unlinkSync(join(dir, 'tokenizer', 'merges.txt'));
      expect((await rejection(buildFileManifestPredicate(f, { dir, store }))).message).toContain(
        'missing: tokenizer/merges.txt',
      );
    } finally {
      await store.close();
    }
  });

  it('refuses a tar layer whose file is not in the model directory (INVALID, naming it)', async () => {
    const e = await rejection(buildFileManifestPredicate(facts([layer('gone.md', false, '1'.repeat(64), 1)]), { dir }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('missing: gone.md');
  });

  it('refuses two layers for one file (the rule extraction shares), even with the same digest', async () => {
    const d = sha(FILES['README.md']!);
    const e = await rejection(
      buildFileManifestPredicate(facts([layer('README.md', true, d, 7), layer('README.md', true, d, 7)])),
    );
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('two layers for the file "README.md"');
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
    predicate = {
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
      resources: Object.entries(FILES).map(([name, body]) => ({ name, algorithm: 'sha256', digest: sha(body) })),
    };
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
