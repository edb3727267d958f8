import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { layerAnnotations } from '../src/modelpack/annotations.js';
import { scanModelDir } from '../src/modelpack/scan.js';
import { createLayerStream, diffIdNeeded, layerTarSize, tarHeaderBytes } from '../src/modelpack/tar.js';
import { type ModelFile } from '../src/modelpack/types.js';
import { zstdAvailable } from '../src/compression.js';
import { tempDir, writeTree } from './modelpack-fixtures.js';

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

interface Entry {
  header: {
    name: string;
    mode?: number;
    uid?: number;
    gid?: number;
    mtime?: Date;
    uname?: string;
    gname?: string;
    type?: string;
    size?: number;
  };
  body: Buffer;
}

async function untar(buf: Buffer): Promise<Entry[]> {
  const ex = extract();
  const entries: Entry[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      entries.push({ header: entry.header as Entry['header'], body: Buffer.concat(chunks) });
    }
  })();
  ex.end(buf);
  await done;
  return entries;
}

async function fileAt(dir: string, path: string): Promise<ModelFile> {
  const f = (await scanModelDir(dir)).files.find((x) => x.path === path);
  if (!f) throw new Error(`${path} not scanned`);
  return f;
}

describe('createLayerStream', () => {
  const content = Buffer.from('x'.repeat(1000) + 'end');

  it('writes one deterministic ustar entry named by the file path', async () => {
    writeTree(tmp.dir, { 'sub/dir/model.bin': content });
    const file = await fileAt(tmp.dir, 'sub/dir/model.bin');
    const layer = createLayerStream(file, 'tar');
    const tar = await collect(layer.stream);
    expect(tar.length).toBe(layer.tarSize);
    expect(layer.tarSize).toBe(512 + 1024 + 1024); // header, 1003 bytes padded to 1024, end blocks
    expect(await layer.diffId()).toBe(sha256(tar));
    const entries = await untar(tar);
    expect(entries).toHaveLength(1);
    const { header, body } = entries[0]!;
    expect(header).toMatchObject({
      name: 'sub/dir/model.bin',
      mode: 0o644,
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      type: 'file',
      size: 1003,
    });
    expect(header.mtime!.getTime()).toBe(0);
    expect(body.equals(content)).toBe(true);
    expect(tar.subarray(257, 263).toString('latin1')).toBe('ustar\0');
  });

  it('is byte-identical across runs with different mtimes and permission bits other than exec', async () => {
    writeTree(tmp.dir, { 'model.bin': content });
    const p = join(tmp.dir, 'model.bin');
    const runs: Buffer[] = [];
    for (const [when, mode] of [
      ['2001-01-01T00:00:00Z', 0o600],
      ['2024-06-01T12:34:56Z', 0o664],
    ] as const) {
      utimesSync(p, new Date(when), new Date(when));
      chmodSync(p, mode);
      const file = await fileAt(tmp.dir, 'model.bin');
      runs.push(
        await collect(createLayerStream(file, 'tar').stream),
        await collect(createLayerStream(file, 'tar+gzip').stream),
      );
    }
    expect(runs[0]!.equals(runs[2]!)).toBe(true);
    expect(runs[1]!.equals(runs[3]!)).toBe(true);
  });

  it('gives executable files mode 0755', async () => {
    writeTree(tmp.dir, { 'run.sh': '#!/bin/sh\n' });
    chmodSync(join(tmp.dir, 'run.sh'), 0o700);
    const tar = await collect(createLayerStream(await fileAt(tmp.dir, 'run.sh'), 'tar').stream);
    expect((await untar(tar))[0]!.header.mode).toBe(0o755);
  });

  it('gzip: a fixed header (no name, mtime 0, OS unknown) around the same tar; diffId is the tar digest', async () => {
    writeTree(tmp.dir, { 'config.json': '{"a":1}' });
    const file = await fileAt(tmp.dir, 'config.json');
    const tar = await collect(createLayerStream(file, 'tar').stream);
    const layer = createLayerStream(file, 'tar+gzip');
    const progress: number[] = [];
    layer.progress((n) => progress.push(n));
    const gz = await collect(layer.stream);
    expect(gz.subarray(0, 4).equals(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe(true); // no FNAME flag
    expect(gz.readUInt32LE(4)).toBe(0);
    expect(gz[9]).toBe(0xff);
    expect(gunzipSync(gz).equals(tar)).toBe(true);
    expect(await layer.diffId()).toBe(sha256(tar));
    expect(progress.reduce((a, b) => a + b, 0)).toBe(file.size);
    expect(diffIdNeeded('tar+gzip')).toBe(true);
    expect(diffIdNeeded('tar')).toBe(false);
    expect(diffIdNeeded('raw')).toBe(false);
  });

  (zstdAvailable() ? it : it.skip)('zstd: decompresses to the same tar and is deterministic', async () => {
    writeTree(tmp.dir, { 'model.bin': Buffer.alloc(300_000, 7) });
    const file = await fileAt(tmp.dir, 'model.bin');
    const tar = await collect(createLayerStream(file, 'tar').stream);
    const layer = createLayerStream(file, 'tar+zstd');
    const z1 = await collect(layer.stream);
    const z2 = await collect(createLayerStream(file, 'tar+zstd').stream);
    expect(z1.equals(z2)).toBe(true);
    expect(z1.length).toBeLessThan(tar.length / 10);
    expect(execFileSync('zstd', ['-d', '-c', '-q'], { input: z1 }).equals(tar)).toBe(true);
    expect(await layer.diffId()).toBe(sha256(tar));
  });

  it('uses a PAX path for long and non-ASCII paths, with a matching tarSize', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}.bin`;
    writeTree(tmp.dir, { [long]: 'abc', 'größe/modèle.bin': 'abc' });
    for (const p of [long, 'größe/modèle.bin']) {
      const file = await fileAt(tmp.dir, p);
      const layer = createLayerStream(file, 'tar');
      const tar = await collect(layer.stream);
      expect(tar.length).toBe(layer.tarSize);
      expect(tar.length).toBe(layerTarSize(file));
      const [entry] = await untar(tar);
      expect(entry!.header.name).toBe(p);
      expect(entry!.body.toString()).toBe('abc');
    }
  });

  it('splits long ASCII paths into ustar prefix/name when they fit, without PAX', () => {
    const path = `${'a'.repeat(80)}/${'b'.repeat(80)}/model.bin`;
    const head = tarHeaderBytes({ path, size: 1, mode: 0o644 });
    expect(head.length).toBe(512);
    const field = (off: number, len: number): string =>
      head
        .subarray(off, off + len)
        .toString('latin1')
        .replace(/\0+$/, '');
    expect(field(345, 155)).toBe('a'.repeat(80));
    expect(field(0, 100)).toBe(`${'b'.repeat(80)}/model.bin`);
  });

  it('puts files of 8 GiB and more in PAX size records (tarSize computed, nothing read)', async () => {
    const size = 9 * 1024 ** 3;
    const head = tarHeaderBytes({ path: 'big.gguf', size, mode: 0o644 });
    expect(head.length).toBe(512 * 3);
    expect(head.subarray(512, 1024).toString('latin1')).toContain(`size=${size}\n`);
    expect(head[1024 + 124]).toBe(0x80); // base-256 size in the ustar header too
    expect(layerTarSize({ path: 'big.gguf', size, mode: 0o644 })).toBe(512 * 3 + size + 1024);
    // the header block parses: checksum and size are right
    const entries = await untar(Buffer.concat([head, Buffer.alloc(1024)])).catch((e: Error) => e);
    expect(entries).toBeInstanceOf(Error); // truncated body, but not a header error
    expect((entries as Error).message).not.toMatch(/checksum/i);
  });

  it('fails with INPUT when the file shrinks while it is packed', async () => {
    writeTree(tmp.dir, { 'model.bin': content });
    const file = { ...(await fileAt(tmp.dir, 'model.bin')), size: content.length + 10 };
    const layer = createLayerStream(file, 'tar+gzip');
    await expect(collect(layer.stream)).rejects.toMatchObject({ code: 'INPUT' });
    await expect(layer.diffId()).rejects.toThrow(/changed size/);
  });
});

describe('layerAnnotations', () => {
  it('sets filepath, title, deterministic metadata and untested in the chosen family', async () => {
    writeTree(tmp.dir, { 'sub/tokenizer.json': '{}' });
    chmodSync(join(tmp.dir, 'sub', 'tokenizer.json'), 0o640);
    utimesSync(
      join(tmp.dir, 'sub', 'tokenizer.json'),
      new Date('2020-05-05T05:05:05.9Z'),
      new Date('2020-05-05T05:05:05.9Z'),
    );
    const file = await fileAt(tmp.dir, 'sub/tokenizer.json');
    const a = layerAnnotations(file, 'cncf');
    expect(a).toEqual({
      'org.cncf.model.file.mediatype.untested': 'true',
      'org.cncf.model.file.metadata+json':
        '{"name":"tokenizer.json","mode":420,"uid":0,"gid":0,"size":2,"mtime":"1970-01-01T00:00:00Z","typeflag":48}',
      'org.cncf.model.filepath': 'sub/tokenizer.json',
      'org.opencontainers.image.title': 'sub/tokenizer.json',
    });
    expect(Object.keys(a)).toEqual([...Object.keys(a)].sort());
    const legacy = layerAnnotations({ ...file, untested: false }, 'cnai');
    expect(legacy['org.cnai.model.filepath']).toBe('sub/tokenizer.json');
    expect(legacy['org.cnai.model.file.mediatype.untested']).toBe('false');
    const real = JSON.parse(
      layerAnnotations(file, 'cncf', { realMetadata: true })['org.cncf.model.file.metadata+json']!,
    );
    expect(real).toMatchObject({ mode: 0o640, mtime: '2020-05-05T05:05:05Z', size: 2, typeflag: 48 });
  });
});
