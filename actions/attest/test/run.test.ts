import { afterAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  BUNDLE_V03_MEDIA_TYPE,
  MODELSHIP_VERSION,
  OciLayoutStore,
  SLSA_PROVENANCE_V1,
  pack,
  type Manifest,
  type SerializedBundleJson,
} from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { verifyWithKey } from '../../../test/helpers/verify.js';
import { run } from '../src/run.js';
import { join } from 'node:path';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('actions/attest run(inputs) in-process', () => {
  it('attests a layout with typed inputs; the provenance records builder.version (it had none)', async () => {
    const dir = copySample(tmp.dir);
    const layout = join(tmp.dir, 'layout');
    const store = await OciLayoutStore.open(layout, { create: true });
    const packed = await pack({ dir, target: store, tags: ['v1'] });
    await store.close();

    const { ctx, recorded } = recordingContext(tmp.dir);
    // The local build type: what the action records outside a workflow run (no OIDC claims).
    const savedActions = process.env.GITHUB_ACTIONS;
    delete process.env.GITHUB_ACTIONS;
    try {
      await run(
        {
          reference: `oci:${layout}:v1`,
          signing: { key: { pem: keyPem }, tlog: false },
          registry: {},
          attest: { kinds: ['slsa'], custom: [] },
          showSummary: true,
        },
        ctx,
      );
    } finally {
      if (savedActions !== undefined) process.env.GITHUB_ACTIONS = savedActions;
    }

    expect(recorded.outputs.digest).toBe(packed.descriptor.digest);
    const list = JSON.parse(recorded.outputs.attestations!) as { predicateType: string; referrerDigest: string }[];
    expect(list.map((a) => a.predicateType)).toEqual([SLSA_PROVENANCE_V1]);
    expect(recorded.outputs['provenance-referrer-digest']).toBe(list[0]!.referrerDigest);
    expect(recorded.summaries).toHaveLength(1);
    expect(recorded.summaries[0]![0]).toBe('# modelship attest');

    const s = await OciLayoutStore.open(layout);
    try {
      const refs = await s.referrers(packed.descriptor, BUNDLE_V03_MEDIA_TYPE);
      const ref = refs.find((r) => r.digest === list[0]!.referrerDigest)!;
      const m = JSON.parse((await s.fetchBytes(ref)).toString()) as Manifest;
      const bundle = JSON.parse((await s.fetchBytes(m.layers[0]!)).toString()) as SerializedBundleJson;
      const statement = verifyWithKey(bundle, publicKey.export({ type: 'spki', format: 'pem' }) as string);
      const runDetails = statement.predicate['runDetails'] as { builder: { version?: Record<string, string> } };
      expect(runDetails.builder.version).toEqual({ modelship: MODELSHIP_VERSION });
    } finally {
      await s.close();
    }
  });

  it('names the input when the reference has no tag or digest, before signing', async () => {
    const layout = join(tmp.dir, 'layout');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await expect(
      run(
        {
          reference: `oci:${layout}`,
          signing: { key: { pem: keyPem }, tlog: false },
          registry: {},
          attest: { kinds: ['slsa'], custom: [] },
          showSummary: true,
        },
        ctx,
      ),
    ).rejects.toMatchObject({ code: 'USAGE', message: `input reference "oci:${layout}" names no tag or digest` });
    expect(recorded.outputs).toEqual({});
    expect(existsSync(join(tmp.dir, 'modelship'))).toBe(false);
  });
});
