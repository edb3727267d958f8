import * as core from '@actions/core';
import {
  addSignSummary,
  keyValueInput,
  setSignOutputs,
  showSummaryInput,
  subjectInputs,
  type ActionContext,
  type SubjectInputs,
} from '@modelship/action-common';
import { signArtifact, signingSetup, withSubject } from '@modelship/core';

export interface Inputs extends SubjectInputs {
  annotations: Record<string, string>;
  bundleOut?: string;
  showSummary: boolean;
}

/** Reads the sign action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const subject = subjectInputs();
  const annotations = keyValueInput('annotations');
  const bundleOut = core.getInput('bundle-out');
  return { ...subject, annotations, ...(bundleOut ? { bundleOut } : {}), showSummary: showSummaryInput() };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  await withSubject(inputs.reference, 'input reference', inputs.registry, async (s) => {
    const setup = await signingSetup(inputs.signing);
    const r = await signArtifact({ ...s, setup, annotations: inputs.annotations });
    ctx.setOutput('digest', r.subject.digest);
    await setSignOutputs(ctx, r, s.name, inputs.bundleOut);
    addSignSummary(ctx.summary, r, s.name);
    await ctx.summary.write();
  });
}
