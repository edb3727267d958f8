import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubAccessFromEnv } from '../src/hub/access.js';
import { FileHasher } from '../src/hub/download.js';
import { revisionTag } from '../src/hub/mirror.js';
import { parseHubReference } from '../src/hub/reference.js';
import { rejection } from './rejection.js';

describe('parseHubReference: hf://ORG/NAME[@REVISION]', () => {
  it('splits the repository from a branch, tag, commit or refs/pr revision', () => {
    expect(parseHubReference('hf://meta-llama/Llama-3.2-1B', 'source')).toEqual({ repo: 'meta-llama/Llama-3.2-1B' });
    expect(parseHubReference('hf://acme/tiny@v1.0', 'source')).toEqual({ repo: 'acme/tiny', revision: 'v1.0' });
    expect(parseHubReference('hf://acme/tiny@refs/pr/1', 'source')).toEqual({
      repo: 'acme/tiny',
      revision: 'refs/pr/1',
    });
  });

  it.each([
    'acme/tiny',
    'hf://tiny',
    'hf://acme/tiny/extra',
    'hf://acme/ti--ny',
    'hf://acme/..',
    'hf://-acme/tiny',
    'hf://acme/tiny@',
    'hf://acme/tiny@a..b',
    'hf://acme/tiny@main branch',
  ])('refuses %s (USAGE), naming where it came from', (text) => {
    let e: unknown;
    try {
      parseHubReference(text, 'source');
    } catch (err) {
      e = err;
    }
    expect(e).toMatchObject({ code: 'USAGE' });
    expect((e as Error).message).toContain(`source "${text}"`);
  });
});

describe('hubAccessFromEnv: HF_ENDPOINT and the token, in huggingface_hub order', () => {
  const home = mkdtempSync(join(tmpdir(), 'modelship-hf-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('defaults to huggingface.co and no token; HF_ENDPOINT loses a trailing slash', async () => {
    expect(await hubAccessFromEnv({ HF_HOME: home })).toEqual({ endpoint: 'https://huggingface.co' });
    expect(await hubAccessFromEnv({ HF_HOME: home, HF_ENDPOINT: 'https://hub.example/' })).toEqual({
      endpoint: 'https://hub.example',
    });
  });

  it('HF_TOKEN, else the token file (HF_TOKEN_PATH, else $HF_HOME/token)', async () => {
    writeFileSync(join(home, 'token'), 'hf_fromfile\n');
    expect(await hubAccessFromEnv({ HF_HOME: home })).toMatchObject({
      token: 'hf_fromfile',
      tokenSource: join(home, 'token'),
    });
    expect(await hubAccessFromEnv({ HF_HOME: home, HF_TOKEN: 'hf_fromenv' })).toMatchObject({
      token: 'hf_fromenv',
      tokenSource: 'HF_TOKEN',
    });
    const other = join(home, 'other-token');
    writeFileSync(other, 'hf_other');
    expect(await hubAccessFromEnv({ HF_HOME: home, HF_TOKEN_PATH: other })).toMatchObject({ token: 'hf_other' });
  });

  it('refuses an endpoint that is not an http(s) URL and a token that is not a Hub token, never quoting the token', async () => {
    expect((await rejection(hubAccessFromEnv({ HF_HOME: home, HF_ENDPOINT: 'ftp://hub' }))).code).toBe('USAGE');
    expect((await rejection(hubAccessFromEnv({ HF_HOME: home, HF_ENDPOINT: 'https://u:p@hub' }))).code).toBe('USAGE');
    const e = await rejection(hubAccessFromEnv({ HF_HOME: home, HF_TOKEN: 'ghp_secretvalue' }));
    expect(e.code).toBe('USAGE');
    expect(`${e.message} ${e.hint ?? ''}`).not.toContain('ghp_secretvalue');
  });
});

describe('FileHasher: the digests the Hub lists', () => {
  it("a small file's git blob id is git's (git hash-object)", () => {
    const h = new FileHasher({ kind: 'git-blob', hex: 'ce013625030ba8dba906f756967f9e9ca394464a' }, 6);
    h.update(Buffer.from('hel'));
    h.update(Buffer.from('lo\n'));
    expect(h.matches()).toEqual({ ok: true, got: 'ce013625030ba8dba906f756967f9e9ca394464a' });
  });
  it('an LFS file is its sha256; other bytes do not match', () => {
    const h = new FileHasher({ kind: 'sha256', hex: 'e'.repeat(64) }, 5);
    h.update(Buffer.from('hello'));
    expect(h.matches().ok).toBe(false);
  });
});

describe('revisionTag: a revision (and variant) as a registry tag', () => {
  it.each([
    ['main', undefined, 'main'],
    ['v1.0', 'q4', 'v1.0-q4'],
    ['refs/pr/1', undefined, 'refs-pr-1'],
    ['.hidden', undefined, '_.hidden'],
    ['a'.repeat(200), 'q4', `${'a'.repeat(125)}-q4`],
  ])('%s + %s -> %s', (rev, variant, tag) => {
    expect(revisionTag(rev, variant)).toBe(tag);
  });
});
