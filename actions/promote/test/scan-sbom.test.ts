// promote's run() refuses a model require.scan fails, writing nothing, and promotes a clean one.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingContext } from '../../common/test/fake-context.js';
import { EVIL_PICKLE, keyPairPem, packScannedAndAttested } from '../../../test/helpers/security.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import { run, type Inputs } from '../src/run.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { key, pub } = keyPairPem();

describe('actions/promote run(inputs): require.scan', () => {
  let clean: string;
  let cleanDigest: string;
  let evil: string;
  let policy: string;
  beforeAll(async () => {
    ({ ref: clean, digest: cleanDigest } = await packScannedAndAttested(tmp.dir, 'clean', key));
    evil = (await packScannedAndAttested(tmp.dir, 'evil', key, { 'model.pkl': EVIL_PICKLE })).ref;
    writeFileSync(join(tmp.dir, 'k.pub'), pub);
    policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: k.pub }\nrequire:\n  scan: {}\n  sbom: [spdx]\n`);
  });

  const inputs = (source: string, destination: string): Inputs => ({
    source,
    destination,
    sourceRegistry: {},
    destinationRegistry: {},
    signing: { key: { pem: key }, tlog: false },
    policy,
    tags: ['v1'],
    record: true,
    tuf: {},
    publicKeys: [],
    concurrency: 4,
    dryRun: false,
    variants: [],
    showSummary: true,
  });

  it('refuses the unsafe model: REFUSED summary naming the file, nothing written', async () => {
    const dest = join(tmp.dir, 'prod-refused');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await expect(run(inputs(evil, `oci:${dest}`), ctx)).rejects.toMatchObject({ code: 'POLICY' });
    expect(recorded.summaries[0]![0]).toBe('# modelship promote: REFUSED');
    expect(recorded.summaries[0]).toContain('require.scan | FAIL | model.pkl: unsafe (posix.system)');
    expect(existsSync(dest)).toBe(false);
  });

  it('promotes the clean model with its scan and SBOM referrers', async () => {
    const dest = join(tmp.dir, 'prod');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(clean, `oci:${dest}`), ctx);
    expect(recorded.outputs.digest).toBe(cleanDigest);
    expect(existsSync(join(dest, 'index.json'))).toBe(true);
    // The signature, the scan, two SBOMs, and the promotion record.
    expect(Number(recorded.outputs['referrers-copied'])).toBeGreaterThanOrEqual(4);
    expect(recorded.summaries[0]).toContain(
      'require.scan | pass | 1 trusted scan(s) (modelship-scan 1.0.0) of 10 file(s): none unsafe or unknown-format',
    );
  });
});
