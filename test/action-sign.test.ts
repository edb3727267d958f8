import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_V03_MEDIA_TYPE, OciLayoutStore } from '@modelship/core';
import { runAction } from './helpers/action.js';
import { packSample } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('actions/sign through dist/sign/index.js', () => {
  let layout: string;
  let digest: string;
  beforeAll(async () => {
    layout = join(tmp.dir, 'oci');
    digest = await packSample(tmp.dir, `oci:${layout}:v1`);
  });

  it('signs with a key given as secret text: outputs, summary, bundle file, key masked', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'pw-for-the-key',
    }) as string;
    const r = await runAction(
      'sign',
      { reference: `oci:${layout}:v1`, key: pem, 'key-password': 'pw-for-the-key', tlog: 'false' },
      tmp.dir,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.outputs.digest).toBe(digest);
    expect(r.outputs['signer-identity']).toMatch(/^key:/);
    expect(r.outputs['bundle-digest']).toMatch(/^sha256:/);
    const bundle = JSON.parse(readFileSync(r.outputs['bundle-path']!, 'utf8')) as { mediaType: string };
    expect(bundle.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
    expect(r.summary).toContain('modelship sign');
    expect(r.summary).toContain(digest);
    // secrets were masked before use, and never printed otherwise
    expect(r.stdout).toContain('::add-mask::pw-for-the-key');
    const body = pem.split('\n')[1]!;
    expect(r.stdout).toContain(`::add-mask::${body}`);
    const rest = r.stdout.replace(/::add-mask::.*\n/g, '');
    expect(rest + r.summary).not.toContain('pw-for-the-key');
    expect(rest + r.summary).not.toContain(body);
  });

  it('the referrer is in the layout', async () => {
    const store = await OciLayoutStore.open(layout);
    const refs = await store.referrers(await store.resolve(digest), BUNDLE_V03_MEDIA_TYPE);
    expect(refs.length).toBeGreaterThanOrEqual(1);
  });

  it('keyless without `permissions: id-token: write` fails with the fix and attaches nothing', async () => {
    const store = await OciLayoutStore.open(layout);
    const before = (await store.referrers(await store.resolve(digest))).length;
    const r = await runAction('sign', { reference: `oci:${layout}:v1` }, tmp.dir, {
      ACTIONS_ID_TOKEN_REQUEST_URL: '',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: '',
      SIGSTORE_ID_TOKEN: '',
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::AUTH: .*id-token: write/);
    const again = await OciLayoutStore.open(layout);
    expect((await again.referrers(await again.resolve(digest))).length).toBe(before);
  });

  it('a malformed tlog input is a usage error', async () => {
    const r = await runAction('sign', { reference: `oci:${layout}:v1`, tlog: 'maybe' }, tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::USAGE: input tlog "maybe"/);
  });
});
