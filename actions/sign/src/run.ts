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
import { MODELSHIP_VERSION, safe, signWithVariants, signingSetup, withSubject } from '@modelship/core';

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
    const all = await signWithVariants({ ...s, setup, annotations: inputs.annotations, version: MODELSHIP_VERSION });
    const r = all.primary;
    ctx.setOutput('digest', r.subject.digest);
    // Each variant linked to it (and checked) is signed too, with its variant record.
    ctx.setOutput(
      'variants',
      JSON.stringify(
        all.variants.map((v) => ({
          name: v.name,
          digest: v.descriptor.digest,
          reference: `${s.name}@${v.descriptor.digest}`,
          referrerDigest: v.signature.referrer.digest,
          recordDigest: v.record.referrer.digest,
        })),
      ),
    );
    for (const k of all.skipped) ctx.warning(safe`not signing linked ${k.name} variant ${k.digest}: ${k.reason}`);
    await setSignOutputs(ctx, r, s.name, inputs.bundleOut);
    addSignSummary(ctx.summary, r, s.name);
    await ctx.summary.write();
  });
}
