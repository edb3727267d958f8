/**
 * `pull --extract` writes nothing into the output before a layer is verified (issue 11 item 8):
 * layers are staged inside the output directory, verified (blob digest, diffId), and only then
 * renamed into place. Real docker-registry, real CLI, blobs tampered on the registry's disk.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { OCI_MANIFEST, RegistryStore, sha256Digest, type ContentStore, type Descriptor } from '@modelship/core';
import { runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface LayerSpec {
  mediaType: string;
  bytes: Buffer;
  filepath: string;
  diffId?: string;
}

async function tarOf(files: [string, Buffer][]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const [name, body] of files) pack.entry({ name, size: body.length, mode: 0o644 }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Pushes a ModelPack-shaped manifest (config + layers) and tags it. */
async function pushArtifact(store: ContentStore, tag: string, layers: LayerSpec[]): Promise<Descriptor[]> {
  const descs: Descriptor[] = [];
  for (const l of layers) {
    const d: Descriptor = {
      mediaType: l.mediaType,
      digest: sha256Digest(l.bytes),
      size: l.bytes.length,
      annotations: { 'org.cncf.model.filepath': l.filepath },
    };
    await store.push(d, l.bytes);
    descs.push(d);
  }
  const config = Buffer.from(
    JSON.stringify({
      descriptor: { name: 'staged' },
      config: {},
      modelfs: { type: 'layers', diffIds: layers.map((l) => l.diffId ?? sha256Digest(l.bytes)) },
    }),
  );
  const configDesc: Descriptor = {
    mediaType: 'application/vnd.cncf.model.config.v1+json',
    digest: sha256Digest(config),
    size: config.length,
  };
  await store.push(configDesc, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: configDesc,
      layers: descs,
    }),
  );
  const md: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(manifest), size: manifest.length };
  await store.push(md, manifest);
  await store.tag(md, tag);
  return descs;
}

/** Every file under `dir` (hidden ones too: a leftover staging directory must show) with its bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), sha256Digest(readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

function sameFiles(a: string, b: string): void {
  expect(readdirSync(b).sort()).toEqual(readdirSync(a).sort());
  for (const f of readdirSync(a)) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f)))).toBe(true);
}

describe('pull --extract against a real docker-registry: stage, verify, then move', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.cleanup());
  const open = (repo: string) => new RegistryStore({ registry: reg.host, repository: repo, plainHttp: true });

  for (const encoding of ['tar', 'tar+gzip'] as const) {
    it(`a tampered ${encoding} layer fails and leaves the previous extraction byte-identical`, async () => {
      const repo = `models/tamper-${encoding.replace('+', '-')}`;
      // notes.txt comes first and big.bin (4 MiB) after it: today's code renames notes.txt into
      // place long before the blob's last byte (and so its digest) has been seen.
      const tar = await tarOf([
        ['notes.txt', Buffer.from('original notes\n')],
        ['big.bin', randomBytes(4 * 1024 * 1024)],
      ]);
      // Level 0 keeps the tar bytes verbatim inside the gzip, so the tampering keeps the size.
      const blob = encoding === 'tar' ? tar : gzipSync(tar, { level: 0 });
      const readme = Buffer.from('# staged\n');
      const store = open(repo);
      let layers: Descriptor[];
      try {
        layers = await pushArtifact(store, 'v1', [
          { mediaType: 'application/vnd.cncf.model.doc.v1.raw', bytes: readme, filepath: 'README.md' },
          {
            mediaType: `application/vnd.cncf.model.weight.v1.${encoding}`,
            bytes: blob,
            filepath: 'notes.txt',
            diffId: sha256Digest(tar),
          },
        ]);
      } finally {
        await store.close();
      }
      const out = join(tmp.dir, `out-${encoding}`);
      const first = await runCli(['pull', `${reg.host}/${repo}:v1`, '--extract', out, '--plain-http', '--no-progress']);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('original notes\n');
      const before = snapshot(out);

      const onDisk = readFileSync(reg.blobPath(layers[1]!.digest));
      const at = onDisk.indexOf('original notes');
      expect(at).toBeGreaterThan(0);
      onDisk.write('ORIGINAL', at, 'ascii');
      writeFileSync(reg.blobPath(layers[1]!.digest), onDisk);

      for (const extra of [[], ['--overwrite']]) {
        const again = await runCli([
          'pull',
          `${reg.host}/${repo}:v1`,
          '--extract',
          out,
          '--plain-http',
          '--no-progress',
          ...extra,
        ]);
        expect(again.status).toBe(4);
        expect(again.stderr).toMatch(/digest mismatch|incorrect data check|does not match/);
        expect(snapshot(out)).toEqual(before);
      }
      // A fresh directory gets nothing either (not even the verified raw layer).
      const fresh = join(tmp.dir, `fresh-${encoding}`);
      expect(
        (await runCli(['pull', `${reg.host}/${repo}:v1`, '--extract', fresh, '--plain-http', '--no-progress'])).status,
      ).toBe(4);
      expect(existsSync(fresh)).toBe(false);
    });
  }

  it('two layers with the same filepath are INVALID before anything is written', async () => {
    const store = open('models/dup');
    try {
      await pushArtifact(store, 'v1', [
        { mediaType: 'application/vnd.cncf.model.doc.v1.raw', bytes: Buffer.from('one'), filepath: 'a.txt' },
        { mediaType: 'application/vnd.cncf.model.doc.v1.raw', bytes: Buffer.from('two'), filepath: 'a.txt' },
      ]);
    } finally {
      await store.close();
    }
    const out = join(tmp.dir, 'dup');
    const r = await runCli(['pull', `${reg.host}/models/dup:v1`, '--extract', out, '--plain-http', '--no-progress']);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('a.txt');
    expect(existsSync(out)).toBe(false);
  });

  it('existing different files are refused without --overwrite (naming them) and replaced with it', async () => {
    const model = copySample(tmp.dir, 'overwrite-model');
    const packed = await runCli(['pack', model, '--push', `${reg.host}/models/ow:v1`, '--plain-http', '--no-cache']);
    expect(packed.status).toBe(0);
    const out = join(tmp.dir, 'ow');
    const ref = `${reg.host}/models/ow:v1`;
    expect((await runCli(['pull', ref, '--extract', out, '--plain-http', '--no-progress'])).status).toBe(0);
    // Identical files already there: fine.
    const same = await runCli(['pull', ref, '--extract', out, '--plain-http', '--no-progress']);
    expect(same.stderr).toBe('');
    expect(same.status).toBe(0);

    writeFileSync(join(out, 'README.md'), 'my local edits\n');
    writeFileSync(join(out, 'config.json'), '{}');
    const before = snapshot(out);
    const refused = await runCli(['pull', ref, '--extract', out, '--plain-http', '--no-progress']);
    expect(refused.status).toBe(8);
    expect(refused.stderr).toContain('README.md');
    expect(refused.stderr).toContain('config.json');
    expect(refused.stderr).toContain('--overwrite');
    expect(snapshot(out)).toEqual(before);

    const replaced = await runCli(['pull', ref, '--extract', out, '--plain-http', '--no-progress', '--overwrite']);
    expect(replaced.stderr).toBe('');
    expect(replaced.status).toBe(0);
    sameFiles(model, out);
  });
});
