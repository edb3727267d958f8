import {
  addAttestSummary,
  attestInputs,
  registryInputs,
  setAttestOutputs,
  showSummaryInput,
  signingInputs,
  type ActionContext,
  type AttestInputs,
} from '@modelship/action-common';
import * as core from '@actions/core';
import {
  MODELSHIP_VERSION,
  attestArtifact,
  openTarget,
  requireReference,
  signingSetup,
  type RegistryAccess,
  type SigningOptions,
} from '@modelship/core';

export interface Inputs {
  reference: string;
  signing: SigningOptions;
  registry: RegistryAccess;
  attest: AttestInputs;
  modelDir?: string;
  showSummary: boolean;
}

/** Reads the attest action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const signing = signingInputs();
  const reference = core.getInput('reference', { required: true });
  const attest = attestInputs();
  const modelDir = core.getInput('model-dir');
  return {
    reference,
    signing,
    registry: registryInputs(),
    attest,
    ...(modelDir ? { modelDir } : {}),
    showSummary: showSummaryInput(),
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const target = await openTarget(inputs.reference, { registry: inputs.registry });
  try {
    const reference = requireReference(target, inputs.reference, 'input reference');
    const result = await attestArtifact({
      store: target.store,
      reference,
      name: target.base,
      setup: await signingSetup(inputs.signing),
      ...inputs.attest,
      ...(inputs.modelDir ? { modelDir: inputs.modelDir } : {}),
      version: MODELSHIP_VERSION,
    });
    ctx.setOutput('digest', result.facts.descriptor.digest);
    setAttestOutputs(ctx, result);
    addAttestSummary(ctx.summary, result, target.base);
    await ctx.summary.write();
  } finally {
    await target.store.close();
  }
}
