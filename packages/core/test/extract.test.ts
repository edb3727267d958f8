import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';
import { VerifyingStream, sha256Digest } from '../src/digest.js';
import { ModelshipError } from '../src/errors.js';
import { ExtractConflictError, extractLayer, modeFromAnnotations, safeJoin } from '../src/extract.js';
import { OciLayoutStore } from '../src/layout.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';
import { extractArtifact } from '../src/pull.js';
import { rejection } from './rejection.js';
/** Extraction refuses a layer as INVALID. */
const refused = (p: Promise<unknown>): Promise<ModelshipError> => rejection(p, 'INVALID');

const root = mkdtempSync(join(tmpdir(), 'modelship-extract-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function rawLayer(content: string, filepath: string): { desc: Descriptor; stream: Readable } {
  const buf = Buffer.from(content);
  return {
    desc: {
      mediaType: 'application/vnd.cncf.model.weight.v1.raw',
      digest: sha256Digest(buf),
      size: buf.length,
      annotations: { 'org.cncf.model.filepath': filepath },
    },
    stream: Readable.from([buf]),
  };
}

async function tarOf(entries: Partial<Header>[], body = 'x'): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const h of entries) {
    if (h.type === 'file' || h.type === undefined) pack.entry(h as Header, body);
    else pack.entry(h as Header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('safeJoin refuses paths that leave the directory', () => {
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a\\..\\b', '', '.', 'a/\0b', '..'])
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(() => safeJoin(root, bad, 'layer')).toThrow(ModelshipError);
    });
  it('accepts nested relative paths', () => {
    expect(safeJoin(root, 'a/b/c.txt', 'layer')).toBe(join(root, 'a', 'b', 'c.txt'));
    expect(safeJoin(root, './a//b', 'layer')).toBe(join(root, 'a', 'b'));
  });
});

describe('extractLayer', () => {
  it('writes a raw layer to its filepath annotation', async () => {
    const { desc, stream } = rawLayer('hello', 'sub/dir/w.bin');
    const out = join(root, 'raw');
    expect(await extractLayer(out, desc, stream)).toEqual(['sub/dir/w.bin']);
    expect(readFileSync(join(out, 'sub/dir/w.bin'), 'utf8')).toBe('hello');
  });

  it('refuses a raw layer whose filepath escapes (path traversal from a hostile manifest)', async () => {
    const { desc, stream } = rawLayer('pwned', '../../escaped.txt');
    const out = join(root, 'trav');
    const e = await refused(extractLayer(out, desc, stream));
    expect(e.message).toContain('../../escaped.txt');
    expect(existsSync(join(root, 'escaped.txt'))).toBe(false);
  });

  it('refuses a raw layer without a filepath annotation', async () => {
    const { desc, stream } = rawLayer('x', 'a');
    delete desc.annotations;
    await refused(extractLayer(join(root, 'nofp'), desc, stream));
  });

  it('reads the legacy org.cnai.model.filepath annotation', async () => {
    const { desc, stream } = rawLayer('legacy', 'l.txt');
    desc.annotations = { 'org.cnai.model.filepath': 'l.txt' };
    desc.mediaType = 'application/vnd.cnai.model.doc.v1.raw';
    await extractLayer(join(root, 'cnai'), desc, stream);
    expect(readFileSync(join(root, 'cnai', 'l.txt'), 'utf8')).toBe('legacy');
  });

  it('extracts a tar layer and refuses traversal, symlinks and hardlinks inside tars', async () => {
    const good = await tarOf([{ name: 'd/ok.txt', type: 'file', size: 1, mode: 0o644 }]);
    const desc = (b: Buffer): Descriptor => ({
      mediaType: 'application/vnd.cncf.model.code.v1.tar',
      digest: sha256Digest(b),
      size: b.length,
    });
    await extractLayer(join(root, 'tar'), desc(good), Readable.from([good]));
    expect(readFileSync(join(root, 'tar', 'd/ok.txt'), 'utf8')).toBe('x');

    const trav = await tarOf([{ name: '../evil.txt', type: 'file', size: 1 }]);
    await refused(extractLayer(join(root, 'tar2'), desc(trav), Readable.from([trav])));
    expect(existsSync(join(root, 'evil.txt'))).toBe(false);

    const sym = await tarOf([{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }]);
    expect((await refused(extractLayer(join(root, 'tar3'), desc(sym), Readable.from([sym])))).message).toMatch(
      /symlink/,
    );

    const hard = await tarOf([{ name: 'h', type: 'link', linkname: 'd/ok.txt' }]);
    await refused(extractLayer(join(root, 'tar4'), desc(hard), Readable.from([hard])));
  });

  it('stops a tar+gzip layer that expands past its cap (decompression bomb)', async () => {
    const big = await tarOf([{ name: 'zeros.bin', type: 'file', size: 8 * 1024 * 1024 }], '\0'.repeat(8 * 1024 * 1024));
    const gz = gzipSync(big);
    const d: Descriptor = {
      mediaType: 'application/vnd.cncf.model.weight.v1.tar+gzip',
      digest: sha256Digest(gz),
      size: gz.length,
    };
    const e = await refused(
      extractLayer(join(root, 'bomb'), d, Readable.from([gz]), { maxExpandedBytes: 1024 * 1024 }),
    );
    expect(e.message).toMatch(/expands past/);
  });
});

describe('modeFromAnnotations', () => {
  it('keeps only the executable bit, never setuid', () => {
    const meta = (mode: number) => ({ 'org.cncf.model.file.metadata+json': JSON.stringify({ mode }) });
    expect(modeFromAnnotations(meta(0o4755))).toBe(0o755);
    expect(modeFromAnnotations(meta(0o600))).toBe(0o644);
    expect(modeFromAnnotations(undefined)).toBe(0o644);
    expect(modeFromAnnotations({ 'org.cncf.model.file.metadata+json': '{not json' })).toBe(0o644);
  });
});

interface Layer {
  mediaType: string;
  bytes: Buffer;
  filepath?: string;
  diffId?: string;
}

/** A ModelPack-shaped artifact in an OCI layout; returns the manifest and the layer descriptors. */
async function artifact(store: OciLayoutStore, layers: Layer[]): Promise<{ root: Descriptor; layers: Descriptor[] }> {
  const descs: Descriptor[] = [];
  for (const l of layers) {
    const d: Descriptor = {
      mediaType: l.mediaType,
      digest: sha256Digest(l.bytes),
      size: l.bytes.length,
      ...(l.filepath !== undefined ? { annotations: { 'org.cncf.model.filepath': l.filepath } } : {}),
    };
    await store.push(d, l.bytes);
    descs.push(d);
  }
  const config = Buffer.from(
    JSON.stringify({ modelfs: { type: 'layers', diffIds: layers.map((l) => l.diffId ?? sha256Digest(l.bytes)) } }),
  );
  const cd: Descriptor = {
    mediaType: 'application/vnd.cncf.model.config.v1+json',
    digest: sha256Digest(config),
    size: config.length,
  };
  await store.push(cd, config);
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cd, layers: descs }));
  const root: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(m), size: m.length };
  await store.push(root, m);
  return { root, layers: descs };
}

const raw = (filepath: string, body: string): Layer => ({
  mediaType: 'application/vnd.cncf.model.doc.v1.raw',
  bytes: Buffer.from(body),
  filepath,
});

/** Every file under `dir`, hidden ones included (a leftover staging directory must show). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, prefix: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${prefix}${e.name}/`);
      else out[`${prefix}${e.name}`] = readFileSync(join(d, e.name), 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

function corrupt(layout: string, digest: string): void {
  const p = join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const b = readFileSync(p);
  b[b.length - 1] = b[b.length - 1]! ^ 0xff; // same size: only the digest can tell
  writeFileSync(p, b);
}

describe('extractArtifact: stage, verify, then move into place', () => {
  let n = 0;
  const fresh = async (): Promise<{ layout: string; store: OciLayoutStore; out: string }> => {
    const base = join(root, `art-${n++}`);
    const layout = join(base, 'oci');
    return { layout, store: await OciLayoutStore.open(layout, { create: true }), out: join(base, 'out') };
  };

  it('a corrupted blob in a layout fails and leaves the earlier extraction byte-identical', async () => {
    const { layout, store, out } = await fresh();
    const v1 = await artifact(store, [raw('a.txt', 'alpha-1'), raw('sub/b.txt', 'beta-1')]);
    await extractArtifact(store, v1.root, out);
    const before = tree(out);
    expect(before).toEqual({ 'a.txt': 'alpha-1', 'sub/b.txt': 'beta-1' });
    // v2 changes both files; its second layer is corrupt. Even with overwrite allowed, a.txt
    // (whose layer verifies) must not be replaced: nothing moves before every layer verified.
    const v2 = await artifact(store, [raw('a.txt', 'alpha-2'), raw('sub/b.txt', 'beta-2')]);
    corrupt(layout, v2.layers[1]!.digest);
    const e = await rejection(extractArtifact(store, v2.root, out, { overwrite: true }));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain(v2.layers[1]!.digest);
    expect(tree(out)).toEqual(before);
  });

  it('a tar+gzip layer whose content is not the config diffId is INVALID, nothing written', async () => {
    const { store, out } = await fresh();
    const tar = await tarOf([{ name: 'w.bin', type: 'file', size: 1, mode: 0o644 }]);
    const other = await tarOf([{ name: 'w.bin', type: 'file', size: 1, mode: 0o644 }], 'y');
    const a = await artifact(store, [
      { mediaType: 'application/vnd.cncf.model.weight.v1.tar+gzip', bytes: gzipSync(tar), diffId: sha256Digest(other) },
    ]);
    const e = await rejection(extractArtifact(store, a.root, out));
    expect(e.code).toBe('INVALID');
    expect(e.message).toMatch(/diffId/);
    expect(existsSync(out)).toBe(false);
    // The right diffId extracts.
    const b = await artifact(store, [
      { mediaType: 'application/vnd.cncf.model.weight.v1.tar+gzip', bytes: gzipSync(tar), diffId: sha256Digest(tar) },
    ]);
    await extractArtifact(store, b.root, out);
    expect(tree(out)).toEqual({ 'w.bin': 'x' });
  });

  it('two layers with the same filepath are INVALID before anything is written', async () => {
    const { store, out } = await fresh();
    const a = await artifact(store, [raw('x/a.txt', 'one'), raw('x//a.txt', 'two')]);
    const e = await rejection(extractArtifact(store, a.root, out));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('a.txt');
    expect(existsSync(out)).toBe(false);
  });

  it('a tar entry that another layer also writes is INVALID, nothing written', async () => {
    const { store, out } = await fresh();
    const tar = await tarOf([{ name: 'a.txt', type: 'file', size: 1, mode: 0o644 }]);
    const a = await artifact(store, [
      raw('a.txt', 'from the raw layer'),
      { mediaType: 'application/vnd.cncf.model.code.v1.tar', bytes: tar, filepath: 'code' },
    ]);
    const e = await rejection(extractArtifact(store, a.root, out));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain('a.txt');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses existing different files (naming them) unless overwrite; identical ones are kept without a download', async () => {
    const { store, out } = await fresh();
    const a = await artifact(store, [raw('a.txt', 'alpha'), raw('b.txt', 'beta')]);
    await extractArtifact(store, a.root, out);
    const again = await extractArtifact(store, a.root, out);
    expect(again.bytes).toBe(0);
    expect(again.files.sort()).toEqual(['a.txt', 'b.txt']);

    writeFileSync(join(out, 'b.txt'), 'mine');
    const e = await rejection(extractArtifact(store, a.root, out));
    expect(e).toBeInstanceOf(ExtractConflictError);
    expect(e.code).toBe('CONFLICT');
    expect((e as ExtractConflictError).files).toEqual(['b.txt']);
    expect(tree(out)).toEqual({ 'a.txt': 'alpha', 'b.txt': 'mine' });

    await extractArtifact(store, a.root, out, { overwrite: true });
    expect(tree(out)).toEqual({ 'a.txt': 'alpha', 'b.txt': 'beta' });

    // A directory in the way of a file is refused even with overwrite (it would take a tree).
    rmSync(join(out, 'a.txt'));
    mkdirSync(join(out, 'a.txt'));
    const d = await rejection(extractArtifact(store, a.root, out, { overwrite: true }));
    expect(d.code).toBe('CONFLICT');
    expect(d.message).toContain('a.txt');
  });

  it('a tar layer entry over an existing different file is refused too (found after staging)', async () => {
    const { store, out } = await fresh();
    const tar = await tarOf([{ name: 'code/run.py', type: 'file', size: 1, mode: 0o755 }]);
    const a = await artifact(store, [{ mediaType: 'application/vnd.cncf.model.code.v1.tar', bytes: tar }]);
    mkdirSync(join(out, 'code'), { recursive: true });
    writeFileSync(join(out, 'code', 'run.py'), 'local');
    const e = await rejection(extractArtifact(store, a.root, out));
    expect(e.code).toBe('CONFLICT');
    expect(tree(out)).toEqual({ 'code/run.py': 'local' });
    await extractArtifact(store, a.root, out, { overwrite: true });
    expect(tree(out)).toEqual({ 'code/run.py': 'x' });
  });
});

describe('extractLayer writes nothing before the stream ended verified', () => {
  it('a raw layer that fails verification leaves the existing file as it was', async () => {
    const out = join(root, 'single');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'w.bin'), 'previous');
    const { desc } = rawLayer('expected', 'w.bin');
    const lying = Readable.from([Buffer.from('tampered')]).pipe(new VerifyingStream(desc.digest, desc.size, 'blob'));
    const e = await refused(extractLayer(out, desc, lying, { overwrite: true }));
    expect(e.message).toMatch(/digest mismatch/);
    expect(tree(out)).toEqual({ 'w.bin': 'previous' });
  });
});
