import {
  packInputs,
  packStep,
  registryInputs,
  showSummaryInput,
  type ActionContext,
  type PackInputs,
} from '@modelship/action-common';
import type { RegistryAccess } from '@modelship/core';

export interface Inputs {
  pack: PackInputs;
  registry: RegistryAccess;
  showSummary: boolean;
}

export function readInputs(): Inputs {
  return { pack: packInputs(), registry: registryInputs(), showSummary: showSummaryInput() };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  await packStep(inputs.pack, inputs.registry, ctx, 'modelship pack');
  await ctx.summary.write();
}
