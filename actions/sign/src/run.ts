import * as core from '@actions/core';
import {
  addSignSummary,
  keyValueInput,
  registryInputs,
  runAction,
  setSignOutputs,
  signingInputs,
} from '@modelship/action-common';
import { ModelshipError, openTarget, signArtifact, signingSetup } from '@modelship/core';

export async function run(): Promise<void> {
  await runAction(async () => {
    // Secrets are masked inside signingInputs before anything can print them.
    const signing = signingInputs();
    const reference = core.getInput('reference', { required: true });
    const annotations = keyValueInput('annotations');

    const target = await openTarget(reference, { registry: registryInputs() });
    try {
      if (!target.reference)
        throw new ModelshipError('USAGE', `input reference "${reference}" names no tag or digest`, {
          hint: 'use HOST/REPO@sha256:... (e.g. the digest output of the pack step)',
        });
      const setup = await signingSetup(signing);
      const r = await signArtifact({
        store: target.store,
        reference: target.reference,
        name: target.base,
        setup,
        annotations,
      });
      core.setOutput('digest', r.subject.digest);
      await setSignOutputs(r, target.base);
      addSignSummary(r, target.base);
      await core.summary.write();
    } finally {
      await target.store.close();
    }
  });
}
