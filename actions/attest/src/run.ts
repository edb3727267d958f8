import * as core from '@actions/core';
import {
  addAttestSummary,
  attestInputs,
  registryInputs,
  runAction,
  setAttestOutputs,
  signingInputs,
} from '@modelship/action-common';
import { ModelshipError, attestArtifact, openTarget, signingSetup } from '@modelship/core';

export async function run(): Promise<void> {
  await runAction(async () => {
    const signing = signingInputs();
    const reference = core.getInput('reference', { required: true });
    const attest = attestInputs();
    const modelDir = core.getInput('model-dir');

    const target = await openTarget(reference, { registry: registryInputs() });
    try {
      if (!target.reference)
        throw new ModelshipError('USAGE', `input reference "${reference}" names no tag or digest`, {
          hint: 'use HOST/REPO@sha256:... (e.g. the digest output of the pack step)',
        });
      const result = await attestArtifact({
        store: target.store,
        reference: target.reference,
        name: target.base,
        setup: await signingSetup(signing),
        ...attest,
        ...(modelDir ? { modelDir } : {}),
      });
      core.setOutput('digest', result.facts.descriptor.digest);
      setAttestOutputs(result);
      addAttestSummary(result, target.base);
      await core.summary.write();
    } finally {
      await target.store.close();
    }
  });
}
