import * as core from '@actions/core';
import {
  addAttestSummary,
  attestInputs,
  setAttestOutputs,
  showSummaryInput,
  subjectInputs,
  type ActionContext,
  type AttestInputs,
  type SubjectInputs,
} from '@modelship/action-common';
import { MODELSHIP_VERSION, attestArtifact, safe, signingSetup, withSubject } from '@modelship/core';

export interface Inputs extends SubjectInputs {
  attest: AttestInputs;
  modelDir?: string;
  showSummary: boolean;
}

/** Reads the attest action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const subject = subjectInputs();
  const attest = attestInputs();
  const modelDir = core.getInput('model-dir');
  return { ...subject, attest, ...(modelDir ? { modelDir } : {}), showSummary: showSummaryInput() };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  await withSubject(inputs.reference, 'input reference', inputs.registry, async (s) => {
    const result = await attestArtifact({
      ...s,
      setup: await signingSetup(inputs.signing),
      ...inputs.attest,
      ...(inputs.modelDir ? { modelDir: inputs.modelDir } : {}),
      version: MODELSHIP_VERSION,
    });
    ctx.setOutput('digest', result.facts.descriptor.digest);
    setAttestOutputs(ctx, result);
    ctx.setOutput(
      'variants',
      JSON.stringify(
        result.variants.map((v) => ({
          name: v.name,
          digest: v.descriptor.digest,
          reference: `${s.name}@${v.descriptor.digest}`,
          attestations: v.attestations.map((a) => ({
            predicateType: a.predicateType,
            referrerDigest: a.signed.referrer.digest,
          })),
        })),
      ),
    );
    for (const k of result.skippedVariants)
      ctx.warning(safe`not attesting linked ${k.name} variant ${k.digest}: ${k.reason}`);
    addAttestSummary(ctx.summary, result, s.name);
    await ctx.summary.write();
  });
}
