import * as core from '@actions/core';
import {
  addSignSummary,
  keyValueInput,
  registryInputs,
  setSignOutputs,
  showSummaryInput,
  signingInputs,
  type ActionContext,
} from '@modelship/action-common';
import {
  openTarget,
  requireReference,
  signArtifact,
  signingSetup,
  type RegistryAccess,
  type SigningOptions,
} from '@modelship/core';

export interface Inputs {
  reference: string;
  signing: SigningOptions;
  registry: RegistryAccess;
  annotations: Record<string, string>;
  bundleOut?: string;
  showSummary: boolean;
}

/** Reads the sign action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const signing = signingInputs();
  const reference = core.getInput('reference', { required: true });
  const annotations = keyValueInput('annotations');
  const bundleOut = core.getInput('bundle-out');
  return {
    reference,
    signing,
    registry: registryInputs(),
    annotations,
    ...(bundleOut ? { bundleOut } : {}),
    showSummary: showSummaryInput(),
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const target = await openTarget(inputs.reference, { registry: inputs.registry });
  try {
    const reference = requireReference(target, inputs.reference, 'input reference');
    const setup = await signingSetup(inputs.signing);
    const r = await signArtifact({
      store: target.store,
      reference,
      name: target.base,
      setup,
      annotations: inputs.annotations,
    });
    ctx.setOutput('digest', r.subject.digest);
    await setSignOutputs(ctx, r, target.base, inputs.bundleOut);
    addSignSummary(ctx.summary, r, target.base);
    await ctx.summary.write();
  } finally {
    await target.store.close();
  }
}
