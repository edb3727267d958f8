import { afterAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  MOF_PREDICATE_TYPE,
  OciLayoutStore,
  SLSA_PROVENANCE_V1,
  VARIANT_PREDICATE_TYPE,
  discoverBundles,
  loadPolicy,
  verifyArtifact,
  type SerializedBundleJson,
} from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { verifyWithKey } from '../../../test/helpers/verify.js';
import { run } from '../src/run.js';
import { releaseInputs } from './release-inputs.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const pubPem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
const pubPath = join(tmp.dir, 'release.pub');
writeFileSync(pubPath, pubPem);

/** predicateType -> statement subject digests, for every bundle on `digest`, each verified with the key. */
async function bundlesOn(store: OciLayoutStore, digest: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const b of await discoverBundles(store, await store.resolve(digest))) {
    const st = verifyWithKey(b.bundle as SerializedBundleJson, pubPem);
    expect(st.subject.map((s) => `sha256:${s.digest['sha256']}`)).toEqual([digest]);
    out.set(st.predicateType, st.predicate);
  }
  return out;
}

describe('actions/release run(inputs) in-process, with variants', () => {
  it.each([
    ['signs', true],
    ['does not sign (the attest step writes the records)', false],
  ])('publishes, attests and %s every variant; each carries a record naming the primary', async (_what, sign) => {
    const layout = join(tmp.dir, `oci-${String(sign)}`);
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(
      releaseInputs(copySample(tmp.dir, `m-${String(sign)}`), layout, keyPem, {
        sign,
        attest: { kinds: ['slsa', 'mof'] },
        pack: { variants: { names: ['cnai', 'modelcar'] } },
      }),
      ctx,
    );
    const primary = recorded.outputs.digest!;
    const variants = JSON.parse(recorded.outputs.variants!) as { name: string; digest: string; reference: string }[];
    expect(variants.map((v) => [v.name, v.reference])).toEqual([
      ['cnai', `oci:${layout}:v1-cnai`],
      ['modelcar', `oci:${layout}:v1-modelcar`],
    ]);
    const store = await OciLayoutStore.open(layout);
    try {
      for (const v of variants) {
        const on = await bundlesOn(store, v.digest);
        expect([...on.keys()].sort()).toEqual(
          [
            SLSA_PROVENANCE_V1,
            MOF_PREDICATE_TYPE,
            VARIANT_PREDICATE_TYPE,
            ...(sign ? [COSIGN_SIGN_PREDICATE_TYPE] : []),
          ].sort(),
        );
        expect(on.get(VARIANT_PREDICATE_TYPE)).toMatchObject({ variant: v.name, primary: { digest: primary } });
      }
      // verify of a variant shows the chain to the primary and passes the release policy.
      const policyPath = join(tmp.dir, `policy-${String(sign)}.yaml`);
      writeFileSync(
        policyPath,
        `version: 1\nsigners:\n  - key: { path: ${pubPath} }\nrequire:\n  predicates: [${SLSA_PROVENANCE_V1}]\n  licenses:\n    allow: [MIT]\n`,
      );
      const car = variants.find((v) => v.name === 'modelcar')!;
      const report = await verifyArtifact({ store, reference: car.digest, policy: await loadPolicy(policyPath) });
      // Without the sign step the variant has no signature of its own; everything else holds.
      expect(report.checks.filter((c) => !c.ok).map((c) => c.rule)).toEqual(sign ? [] : ['minSignatures']);
      expect(report.variant).toMatchObject({ name: 'modelcar', primary });
    } finally {
      await store.close();
    }
  });
});
