import { afterAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FILES_PREDICATE_TYPE } from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { run as verify } from '../../verify/src/run.js';
import { verifyInputs } from '../../verify/test/verify-inputs.js';
import { run } from '../src/run.js';
import { releaseInputs } from './release-inputs.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('actions/release run(inputs) in-process', () => {
  it('packs, attests and signs in one step; the verify action then passes a policy requiring both', async () => {
    const layout = join(tmp.dir, 'release-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(releaseInputs(copySample(tmp.dir), layout, keyPem), ctx);
    const out = recorded.outputs;
    const digest = out.digest!;
    expect(out['pinned-reference']).toBe(`oci:${layout}@${digest}`);
    const attestations = JSON.parse(out.attestations!) as { predicateType: string }[];
    expect(attestations.map((a) => a.predicateType)).toEqual([FILES_PREDICATE_TYPE]);
    expect(out['bundle-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    // One summary, written once at the end, with a section per stage.
    expect(recorded.summaries).toHaveLength(1);
    expect(recorded.summaries[0]!.filter((p) => p.startsWith('# '))).toEqual([
      '# modelship release: pack',
      '# modelship release: attest',
      '# modelship release: sign',
    ]);

    const pub = join(tmp.dir, 'release.pub');
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const policy = join(tmp.dir, 'release-policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - key: { path: ${JSON.stringify(pub)} }\nrequire:\n  predicates: [${FILES_PREDICATE_TYPE}]\n`,
    );
    const v = recordingContext(tmp.dir);
    await verify(verifyInputs(out['pinned-reference']!, policy, { showSummary: false }), v.ctx);
    expect(v.recorded.outputs).toMatchObject({ verified: 'true', digest });
  });

  it('sign: false attests but attaches no signature, and says so in empty outputs', async () => {
    const layout = join(tmp.dir, 'nosign-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(releaseInputs(copySample(tmp.dir, 'm2'), layout, keyPem, { sign: false }), ctx);
    expect(recorded.outputs).toMatchObject({ 'bundle-digest': '', 'referrer-digest': '', 'bundle-path': '' });
    expect(recorded.outputs['signer-identity']).not.toBe('');
  });
});
