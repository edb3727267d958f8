// The release action with types scan and sbom: the scan attested is the one pack made on its
// read of the files (nothing read again), and the job summary lists the findings with every
// attacker-chosen name escaped.
import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUNDLE_V03_MEDIA_TYPE,
  CYCLONEDX_PREDICATE_TYPE,
  OciLayoutStore,
  SCAN_PREDICATE_TYPE,
  SPDX_PREDICATE_TYPE,
  type Manifest,
  type SerializedBundleJson,
} from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { EVIL_PICKLE, keyPairPem } from '../../../test/helpers/security.js';
import { copySample, tempDir } from '../../../test/helpers/tmp.js';
import { verifyWithKey } from '../../../test/helpers/verify.js';
import { HTML_INJECTION } from '../../../test/helpers/workflow-commands.js';
import { run } from '../src/run.js';
import { releaseInputs } from './release-inputs.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { key, pub } = keyPairPem();

describe('actions/release run(inputs): types scan, sbom', () => {
  it('attests the scan pack made, both SBOMs, and summarises the findings escaped', async () => {
    const dir = copySample(tmp.dir);
    const evilName = `${HTML_INJECTION.replace(/\n/g, ' ')}.pkl`;
    writeFileSync(join(dir, evilName), EVIL_PICKLE);
    const layout = join(tmp.dir, 'oci');
    const inputs = releaseInputs(dir, layout, key, {
      attest: { kinds: ['scan', 'sbom'], custom: [], sbomFormats: ['cyclonedx', 'spdx'] },
    });
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs, ctx);

    const list = JSON.parse(recorded.outputs.attestations!) as { predicateType: string; referrerDigest: string }[];
    expect(list.map((a) => a.predicateType)).toEqual([
      SCAN_PREDICATE_TYPE,
      CYCLONEDX_PREDICATE_TYPE,
      SPDX_PREDICATE_TYPE,
    ]);
    // The scan report output is the pack's scan, and it is what was signed: same scannedAt.
    const report = JSON.parse(readFileSync(recorded.outputs['scan-report']!, 'utf8')) as { scannedAt: string };
    const store = await OciLayoutStore.open(layout);
    try {
      const subject = await store.resolve(recorded.outputs.digest!);
      const ref = (await store.referrers(subject, BUNDLE_V03_MEDIA_TYPE)).find(
        (r) => r.digest === list[0]!.referrerDigest,
      )!;
      const m = JSON.parse((await store.fetchBytes(ref)).toString()) as Manifest;
      const bundle = JSON.parse((await store.fetchBytes(m.layers[0]!)).toString()) as SerializedBundleJson;
      const statement = verifyWithKey(bundle, pub);
      expect(statement.predicate).toEqual(report);
    } finally {
      await store.close();
    }

    const summary = recorded.summaries[0]!.join('\n');
    expect(summary).toContain('# Security scan');
    expect(summary).toContain(' | posix.system | dangerous | GLOBAL | 1');
    expect(summary).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(summary).not.toContain('<img');
  });
});
