import * as core from '@actions/core';
import {
  addAttestSummary,
  addPackSummary,
  addSignSummary,
  attestInputs,
  keyValueInput,
  packInputs,
  packRuntime,
  registryInputs,
  runAction,
  setAttestOutputs,
  setPackOutputs,
  setSignOutputs,
  signingInputs,
} from '@modelship/action-common';
import { attestArtifact, openTarget, pack, safe, signArtifact, signingSetup } from '@modelship/core';

export async function run(): Promise<void> {
  await runAction(async () => {
    // Secrets are masked inside signingInputs/registryInputs before anything can print them.
    const signing = signingInputs();
    const registry = registryInputs();
    const inputs = packInputs();
    const attest = attestInputs();
    const annotations = keyValueInput('annotations');
    const sign = core.getBooleanInput('sign');
    // Keyless problems that need no network (no id-token permission, bad URLs) surface here,
    // before anything is packed or pushed.
    const setup = await signingSetup(signing);

    const target = await openTarget(inputs.target, { create: true, registry });
    try {
      const tags = inputs.tags.length ? inputs.tags : [target.reference ?? 'latest'];
      const result = await pack({
        dir: inputs.dir,
        target: target.store,
        tags,
        ...inputs.options,
        ...(await packRuntime(inputs)),
      });
      const digest = result.descriptor.digest;
      const reference = `${target.base}:${tags[0]}`;
      await setPackOutputs(target, result, reference);
      core.setOutput('pinned-reference', `${target.base}@${digest}`);
      core.info(safe`packed ${inputs.dir} -> ${reference}`);
      core.info(safe`digest: ${digest}`);
      addPackSummary(result, reference, 'modelship release: pack');

      let signer = '';
      if (attest.kinds.length || attest.custom?.length) {
        const attested = await attestArtifact({
          store: target.store,
          reference: digest,
          name: target.base,
          setup,
          ...attest,
          modelDir: inputs.dir,
        });
        setAttestOutputs(attested);
        addAttestSummary(attested, target.base, 'modelship release: attest');
        signer = attested.attestations[0]?.signed.identity.subject ?? '';
      } else {
        setAttestOutputs({ attestations: [] });
      }

      if (sign) {
        const signed = await signArtifact({
          store: target.store,
          reference: digest,
          name: target.base,
          setup,
          annotations,
        });
        await setSignOutputs(signed, target.base);
        addSignSummary(signed, target.base, 'modelship release: sign');
        signer = signed.identity.subject;
      } else {
        for (const name of ['bundle-digest', 'referrer-digest', 'bundle-path']) core.setOutput(name, '');
      }
      core.setOutput('signer-identity', signer);
      await core.summary.write();
    } finally {
      await target.store.close();
    }
  });
}
