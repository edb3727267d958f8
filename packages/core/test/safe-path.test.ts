// The one path rule shared by extraction and pack (src/safe-path.ts): extraction never
// writes into a `.git` directory (a layer carrying .git/config or .git/hooks/* would make the
// next git command in the extracted checkout run the artifact's code).
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { sha256Digest } from '../src/digest.js';
import { extractLayer, safeJoin } from '../src/extract.js';
import type { Descriptor } from '../src/oci.js';
import { unsafePathReason } from '../src/safe-path.js';
import { rejection } from './rejection.js';

const root = mkdtempSync(join(tmpdir(), 'modelship-safe-path-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('unsafePathReason', () => {
  const refused: [string, RegExp][] = [
    ['.git/config', /\.git/],
    ['sub/.GIT/hooks/post-checkout', /\.git/],
    ['a/.Git/x', /\.git/],
    ['.git./config', /\.git/],
    ['.git', /\.git/],
    ['a\\b.bin', /backslash/],
    ['line\nbreak.txt', /control/],
    ['tab\there', /control/],
    ['del\x7f', /control/],
    ['nul\0', /control/],
    ['../x', /\.\./],
    ['/etc/passwd', /absolute/],
    ['', /empty/],
  ];
  for (const [p, why] of refused)
    it(`refuses ${JSON.stringify(p)}`, () => {
      expect(unsafePathReason(p)).toMatch(why);
    });
  for (const p of [
    'model.safetensors',
    'a/b/c.txt',
    '.gitattributes',
    'x.git/y',
    'git/config',
    '.github/workflows/w.yml',
  ])
    it(`accepts ${JSON.stringify(p)}`, () => {
      expect(unsafePathReason(p)).toBeUndefined();
    });
});

describe('extraction refuses .git paths', () => {
  it('safeJoin refuses any .git segment, in any case', () => {
    for (const p of ['.git/config', 'model/.git/hooks/pre-commit', '.GIT/config'])
      expect(() => safeJoin(root, p, 'layer')).toThrow(/refusing unsafe path .*\.git/i);
  });

  it('a raw layer whose filepath is .git/config is refused and nothing is written', async () => {
    const out = join(root, 'raw');
    const body = Buffer.from('[core]\n\tfsmonitor = touch /tmp/owned\n');
    const desc: Descriptor = {
      mediaType: 'application/vnd.cncf.model.weight.config.v1.raw',
      digest: sha256Digest(body),
      size: body.length,
      annotations: { 'org.cncf.model.filepath': '.git/config' },
    };
    const e = await rejection(extractLayer(out, desc, Readable.from([body])), 'INVALID');
    expect(e.message).toContain('.git/config');
    expect(existsSync(join(out, '.git'))).toBe(false);
  });

  it('a tar layer with a .git/hooks entry is refused', async () => {
    const out = join(root, 'tar');
    const pack = tarStream.pack();
    pack.entry({ name: 'README.md' }, 'ok');
    pack.entry({ name: '.git/hooks/post-checkout', mode: 0o755 }, '#!/bin/sh\ntouch /tmp/owned\n');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const tar = Buffer.concat(chunks);
    const desc: Descriptor = {
      mediaType: 'application/vnd.cncf.model.code.v1.tar',
      digest: sha256Digest(tar),
      size: tar.length,
    };
    const e = await rejection(extractLayer(out, desc, Readable.from([tar])), 'INVALID');
    expect(e.message).toContain('.git/hooks/post-checkout');
    expect(existsSync(join(out, '.git'))).toBe(false);
  });
});
