import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';
import { sha256Digest } from '../src/digest.js';
import { ModelshipError } from '../src/errors.js';
import { extractLayer, modeFromAnnotations, safeJoin } from '../src/extract.js';
import type { Descriptor } from '../src/oci.js';

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

async function refused(p: Promise<unknown>): Promise<ModelshipError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ModelshipError);
  expect((e as ModelshipError).code).toBe('INVALID');
  return e as ModelshipError;
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
