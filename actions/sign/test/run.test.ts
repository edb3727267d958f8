import { afterAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OciLayoutStore, pack, sha256Hex, type SerializedBundleJson } from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { verifyWithKey } from '../../../test/helpers/verify.js';
import { run } from '../src/run.js';

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
