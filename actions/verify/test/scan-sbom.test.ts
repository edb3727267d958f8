// require.scan and require.sbom through the verify action's run(): the failing rule names the
// unsafe files, the job summary's checks table shows it, and the step fails with POLICY.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingContext } from '../../common/test/fake-context.js';
import { EVIL_PICKLE, keyPairPem, packScannedAndAttested } from '../../../test/helpers/security.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import { run, type Inputs } from '../src/run.js';
import { verifyInputs } from './verify-inputs.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { key, pub } = keyPairPem();
const inputs = (reference: string, policy: string): Inputs => verifyInputs(reference, policy);

describe('actions/verify run(inputs): require.scan and require.sbom', () => {
  let clean: string;
  let evil: string;
  let policy: string;
  beforeAll(async () => {
    clean = (await packScannedAndAttested(tmp.dir, 'clean', key)).ref;
    evil = (await packScannedAndAttested(tmp.dir, 'evil', key, { 'pytorch_model.bin': EVIL_PICKLE })).ref;
    writeFileSync(join(tmp.dir, 'k.pub'), pub);
    policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - key: { path: k.pub }\nrequire:\n  scan: { deny: [unsafe], allowUnknownFormats: false }\n  sbom: [cyclonedx, spdx]\n`,
    );
  });

  it('passes a model whose every file is safe, with an SBOM in each format', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(clean, policy), ctx);
    expect(recorded.outputs.verified).toBe('true');
    const rows = recorded.summaries[0]!.filter((l) => l.startsWith('require.'));
    expect(rows).toEqual([
      expect.stringMatching(/^require\.predicates \| pass/),
      expect.stringMatching(/^require\.predicates \| pass/),
      expect.stringMatching(/^require\.predicates \| pass/),
      expect.stringMatching(/^require\.scan \| pass \| 1 trusted scan/),
      expect.stringMatching(/^require\.sbom \| pass \| cyclonedx: /),
      expect.stringMatching(/^require\.sbom \| pass \| spdx: /),
    ]);
  });

  it('fails the step (POLICY) on an unsafe pickle, naming the file and the global', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    await expect(run(inputs(evil, policy), ctx)).rejects.toMatchObject({
      code: 'POLICY',
      message: expect.stringMatching(/does not meet .*policy\.yaml: require\.scan$/),
    });
    expect(recorded.outputs.verified).toBe('false');
    expect(recorded.log).toContain('FAIL require.scan: pytorch_model.bin: unsafe (posix.system)');
    expect(recorded.summaries[0]).toContain('require.scan | FAIL | pytorch_model.bin: unsafe (posix.system)');
  });
});
