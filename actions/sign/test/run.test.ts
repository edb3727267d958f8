import { afterAll, describe, expect, it } from '@jest/globals';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { flattenedVerify } from 'jose';
import { ModelshipError, OciLayoutStore, pack, sha256Hex, type SerializedBundleJson } from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { TestPki } from '../../../test/helpers/pki.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { verifyWithKey } from '../../../test/helpers/verify.js';
import { readInputs, run } from '../src/run.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('actions/sign run(inputs) in-process', () => {
  it('signs a layout, writes the bundle under the temp dir or bundle-out, one summary section', async () => {
    const layout = join(tmp.dir, 'layout');
    const store = await OciLayoutStore.open(layout, { create: true });
    const packed = await pack({ dir: copySample(tmp.dir), target: store, tags: ['v1'] });
    await store.close();

    const inputs = {
      reference: `oci:${layout}:v1`,
      registry: {},
      signing: { key: { pem: keyPem }, tlog: false },
      annotations: { team: 'ml' },
      showSummary: true,
    };
    const first = recordingContext(tmp.dir);
    await run(inputs, first.ctx);
    const out = first.recorded.outputs;
    expect(out.digest).toBe(packed.descriptor.digest);
    expect(out['bundle-path']).toBe(join(tmp.dir, 'modelship', `${out['bundle-digest']!.slice(7)}.sigstore.json`));
    const bytes = readFileSync(out['bundle-path']!);
    expect(`sha256:${sha256Hex(bytes)}`).toBe(out['bundle-digest']);
    const statement = verifyWithKey(
      JSON.parse(bytes.toString()) as SerializedBundleJson,
      publicKey.export({ type: 'spki', format: 'pem' }) as string,
    );
    expect(`sha256:${statement.subject[0]!.digest['sha256']}`).toBe(packed.descriptor.digest);
    expect(first.recorded.summaries.map((s) => s[0])).toEqual(['# modelship sign']);

    const second = recordingContext(tmp.dir);
    const bundleOut = join(tmp.dir, 'out', 'sig.sigstore.json');
    await run({ ...inputs, bundleOut }, second.ctx);
    expect(second.recorded.outputs['bundle-path']).toBe(bundleOut);
    expect(readFileSync(bundleOut).length).toBeGreaterThan(0);
  });
});

describe('actions/sign format notation', () => {
  it('signs a layout as Notation: outputs name the envelope, jose verifies it, one summary section', async () => {
    const pki = new TestPki(join(tmp.dir, 'pki'));
    const root = pki.root('root', 'C=US, ST=WA, O=acme, CN=acme root');
    const ca = pki.issue(root, 'ca', 'C=US, ST=WA, O=acme, CN=acme CA', { ext: 'intermediate' });
    const leaf = pki.issue(ca, 'leaf', 'C=US, ST=WA, O=acme, CN=release', { spec: 'rsa-3072' });
    const layout = join(tmp.dir, 'notation-layout');
    const store = await OciLayoutStore.open(layout, { create: true });
    const packed = await pack({ dir: copySample(tmp.dir, 'notation-model'), target: store, tags: ['v1'] });
    await store.close();

    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(
      {
        reference: `oci:${layout}:v1`,
        registry: {},
        signing: { key: { pem: readFileSync(leaf.key, 'utf8') } },
        annotations: {},
        showSummary: true,
        format: 'notation',
        notation: { certChain: { path: pki.bundle('chain.pem', [leaf, ca, root]) }, expirySeconds: 3600 },
      },
      ctx,
    );
    const out = recorded.outputs;
    expect(out.digest).toBe(packed.descriptor.digest);
    expect(out['signer-identity']).toBe('C=US, ST=WA, O=acme, CN=release');
    expect(out['bundle-path']).toBe(join(tmp.dir, 'modelship', `${out['bundle-digest']!.slice(7)}.jws`));
    const bytes = readFileSync(out['bundle-path']!);
    expect(`sha256:${sha256Hex(bytes)}`).toBe(out['bundle-digest']);
    const v = await flattenedVerify(
      JSON.parse(bytes.toString()) as Parameters<typeof flattenedVerify>[0],
      new X509Certificate(leaf.pem).publicKey,
      {
        algorithms: ['PS384'],
        crit: { 'io.cncf.notary.signingScheme': true, 'io.cncf.notary.expiry': true },
      },
    );
    expect(JSON.parse(Buffer.from(v.payload).toString())).toMatchObject({
      targetArtifact: { digest: packed.descriptor.digest },
    });
    expect(recorded.summaries).toHaveLength(1);
    expect(recorded.summaries[0]![0]).toBe('# modelship sign (Notation)');
    expect(
      recorded.summaries[0]!.some((row) => row.includes('C=US, ST=WA, O=acme, CN=release') && row.includes('PS384')),
    ).toBe(true);
  });

  it('readInputs refuses a Sigstore input with format notation, and cert without it', () => {
    const set = (env: Record<string, string>) => {
      for (const k of Object.keys(process.env)) if (k.startsWith('INPUT_')) delete process.env[k];
      Object.assign(process.env, env);
    };
    const usage = (env: Record<string, string>): string => {
      set(env);
      try {
        readInputs();
      } catch (e) {
        expect(e).toBeInstanceOf(ModelshipError);
        expect((e as ModelshipError).code).toBe('USAGE');
        return (e as ModelshipError).message;
      } finally {
        set({});
      }
      throw new Error('expected readInputs to throw');
    };
    const base = { INPUT_REFERENCE: 'oci:x:v1', INPUT_KEY: 'k.pem' };
    expect(usage({ ...base, INPUT_FORMAT: 'notation', INPUT_CERT: 'c.pem', INPUT_TLOG: 'false' })).toBe(
      'input tlog is for Sigstore signatures, not Notation ones',
    );
    expect(usage({ ...base, INPUT_FORMAT: 'notation' })).toMatch(/^a Notation signature needs/);
    expect(usage({ ...base, INPUT_CERT: 'c.pem' })).toMatch(/ is for Notation signatures$/);
    expect(usage({ ...base, INPUT_FORMAT: 'x509' })).toBe('input format "x509" is not one of sigstore, notation');
  });
});
