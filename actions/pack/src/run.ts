import {
  addPackSummary,
  packInputs,
  packRuntime,
  registryInputs,
  setPackOutputs,
  showSummaryInput,
  type ActionContext,
  type PackInputs,
} from '@modelship/action-common';
import { openTarget, pack, safe, type RegistryAccess } from '@modelship/core';

export interface Inputs {
  pack: PackInputs;
  registry: RegistryAccess;
  showSummary: boolean;
}

export function readInputs(): Inputs {
  return { pack: packInputs(), registry: registryInputs(), showSummary: showSummaryInput() };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const p = inputs.pack;
  const target = await openTarget(p.target, { create: true, registry: inputs.registry });
  try {
    const tags = p.tags.length ? p.tags : [target.reference ?? 'latest'];
    const result = await pack({
      dir: p.dir,
      target: target.store,
      tags,
      ...p.options,
      ...(await packRuntime(p, ctx)),
    });
    const reference = `${target.base}:${tags[0]}`;
    await setPackOutputs(ctx, target, result, reference);
    ctx.info(safe`packed ${p.dir} -> ${reference}`);
    ctx.info(safe`digest: ${result.descriptor.digest}`);
    addPackSummary(ctx.summary, result, reference);
    await ctx.summary.write();
  } finally {
    await target.store.close();
  }
}
