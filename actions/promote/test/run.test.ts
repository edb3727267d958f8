import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ModelshipError, OciLayoutStore } from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { signedLayout, type SignedLayout } from '../../common/test/signed-layout.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import { run, type Inputs } from '../src/run.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let signed: SignedLayout;
beforeAll(async () => {
  signed = await signedLayout(tmp.dir);
});

function inputs(destination: string, over: Partial<Inputs> = {}): Inputs {
  return {
    source: signed.reference,
    destination,
    sourceRegistry: {},
    destinationRegistry: {},
    signing: { key: { pem: signed.keyPem }, tlog: false },
    policy: signed.policy,
    tags: [],
    record: true,
    tuf: {},
    publicKeys: [],
    concurrency: 2,
    dryRun: false,
    variants: [],
    showSummary: true,
    ...over,
  };
}

describe('actions/promote run(inputs) in-process', () => {
  it('copies the artifact with its signature, tags it, attaches a signed record, one summary', async () => {
    const dest = join(tmp.dir, 'prod');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(`oci:${dest}:stable`, { tags: ['v1'] }), ctx);
    const out = recorded.outputs;
    expect(out.digest).toBe(signed.digest);
    expect(out.reference).toBe(`oci:${dest}@${signed.digest}`);
    expect(Number(out['referrers-copied'])).toBe(1);
    expect(out['record-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(out['report-path']!)).toBe(true);
    expect(recorded.summaries.map((s) => s[0])).toEqual(['# modelship promote']);

    const store = await OciLayoutStore.open(dest);
    try {
      for (const tag of ['stable', 'v1']) expect((await store.resolve(tag)).digest).toBe(signed.digest);
      const referrers = await store.referrers(await store.resolve('stable'));
      // The copied signature and the promotion record.
      expect(referrers.map((r) => r.digest)).toContain(out['record-digest']);
      expect(referrers).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it('refuses what the policy rejects: POLICY, a REFUSED summary, and no destination directory', async () => {
    const dest = join(tmp.dir, 'refused');
    const { ctx, recorded } = recordingContext(tmp.dir);
    const e = await run(inputs(`oci:${dest}:stable`, { policy: signed.otherPolicy }), ctx).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ModelshipError);
    expect((e as ModelshipError).code).toBe('POLICY');
    expect(existsSync(dest)).toBe(false);
    expect(recorded.summaries.map((s) => s[0])).toEqual(['# modelship promote: REFUSED']);
    expect(existsSync(recorded.outputs['report-path']!)).toBe(true);
  });

  it('with record: false needs no signer and attaches no record', async () => {
    const dest = join(tmp.dir, 'norecord');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(`oci:${dest}:stable`, { record: false, signing: {} }), ctx);
    expect(recorded.outputs['record-digest']).toBe('');
    const store = await OciLayoutStore.open(dest);
    try {
      expect(await store.referrers(await store.resolve('stable'))).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});
