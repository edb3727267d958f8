import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelshipError, OciLayoutStore, signNotation } from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { signedLayout, type SignedLayout } from '../../common/test/signed-layout.js';
import { TestPki } from '../../../test/helpers/pki.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import { run, type Inputs } from '../src/run.js';
import { verifyInputs } from './verify-inputs.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let signed: SignedLayout;
beforeAll(async () => {
  signed = await signedLayout(tmp.dir);
});

const inputs = (over: Partial<Inputs>): Inputs => verifyInputs(signed.reference, signed.policy, over);

describe('actions/verify run(inputs) in-process', () => {
  it('passes a key-signed layout: outputs, the JSON report, one summary with the bundle table', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs({}), ctx);
    const out = recorded.outputs;
    expect(out).toMatchObject({ verified: 'true', digest: signed.digest, checked: '1', failed: '0' });
    const report = JSON.parse(readFileSync(out['report-path']!, 'utf8')) as {
      ok: boolean;
      subject: { digest: string };
    };
    expect(report).toMatchObject({ ok: true, subject: { digest: signed.digest } });
    expect(recorded.summaries).toHaveLength(1);
    expect(recorded.summaries[0]![0]).toBe('# modelship verify: passed');
    expect(recorded.summaries[0]!.some((row) => row.includes('trusted'))).toBe(true);
  });

  it('fails a signer the policy does not trust with POLICY, after writing the outputs and a FAILED summary', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    const e = await run(inputs({ policy: signed.otherPolicy }), ctx).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ModelshipError);
    expect((e as ModelshipError).code).toBe('POLICY');
    expect(recorded.outputs).toMatchObject({ verified: 'false', failed: '1', digest: signed.digest });
    expect(recorded.summaries[0]![0]).toBe('# modelship verify: FAILED');
  });

  it('verifies every reference of a references file, counting checked and failed', async () => {
    const list = join(tmp.dir, 'refs.txt');
    writeFileSync(list, `# models this repository serves\n${signed.reference.replace(':v1', `@${signed.digest}`)}\n`);
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs({ reference: '', referencesFile: list }), ctx);
    expect(recorded.outputs).toMatchObject({ verified: 'true', checked: '1', failed: '0' });
  });
});

describe('actions/verify references mode lists each signature', () => {
  it('a Notation signature appears as a row with the signing certificate subject, beside the Sigstore bundle', async () => {
    const pki = new TestPki(join(tmp.dir, 'pki'));
    const root = pki.root('root', 'C=US, ST=WA, O=acme, CN=acme root');
    const ca = pki.issue(root, 'ca', 'C=US, ST=WA, O=acme, CN=acme CA', { ext: 'intermediate' });
    const leaf = pki.issue(ca, 'leaf', 'C=US, ST=WA, O=acme, CN=release');
    const notarized = await signedLayout(tmp.dir, 'notarized');
    const store = await OciLayoutStore.open(notarized.layout);
    try {
      await signNotation({
        store,
        reference: 'v1',
        key: { path: leaf.key },
        certChain: { path: pki.bundle('chain.pem', [leaf, ca, root]) },
      });
    } finally {
      await store.close();
    }
    const policy = join(tmp.dir, 'notation-policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - notation: { trustStore: ${root.cert}, identities: ['x509.subject: C=US, ST=WA, O=acme, CN=release'] }\n`,
    );
    const list = join(tmp.dir, 'notarized-refs.txt');
    const ref = notarized.reference.replace(':v1', `@${notarized.digest}`);
    writeFileSync(list, `${ref}\n`);
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs({ reference: '', referencesFile: list, policy }), ctx);
    expect(recorded.outputs).toMatchObject({ verified: 'true', checked: '1', failed: '0' });
    const rows = recorded.summaries[0]!;
    expect(rows).toContain('Reference | Signature | Signer | Status');
    expect(rows).toContain(`<code>${ref}</code> | Notation | C=US, ST=WA, O=acme, CN=release | trusted`);
    // The key-signed bundle is listed too: this policy trusts no key, and says so.
    expect(rows).toContain(
      `<code>${ref}</code> | Sigstore |  | rejected: a Sigstore bundle, but the policy names notation signers only`,
    );
  });
});
