import {
  openModelcarBase,
  openTarget,
  pack,
  packTags,
  safe,
  summarizeVariants,
  type ContentStore,
  type PackResult,
  type RegistryAccess,
  type VariantRequest,
} from '@modelship/core';
import type { ActionContext } from './context.js';
import type { PackInputs } from './inputs.js';
import { packRuntime, setPackOutputs, setVariantOutputs } from './outputs.js';
import { addPackSummary } from './summary.js';

/** What the pack step leaves open for the steps after it (release attests and signs it). */
export interface Packed {
  store: ContentStore;
  /** `oci:DIR` or `host/repo`. */
  base: string;
  result: PackResult;
}

/**
 * The pack step of the pack and release actions: packs into the target, sets the pack
 * outputs, logs and adds the summary section, then runs `after` with the target still open.
 */
export async function packStep(
  p: PackInputs,
  registry: RegistryAccess,
  ctx: ActionContext,
  heading: string,
  after: (packed: Packed) => Promise<void> = async () => {},
): Promise<void> {
  const base = p.variants.baseImage ? await openModelcarBase(p.variants.baseImage, registry) : undefined;
  const variants: VariantRequest | undefined = p.variants.names.length
    ? { names: p.variants.names, ...(base ? { base: base.base } : {}) }
    : undefined;
  try {
    const target = await openTarget(p.target, { create: true, registry, ...(p.dryRun ? { dryRun: true } : {}) });
    try {
      const tags = packTags(target, p.target, p.tags, p.targetLabel);
      const result = await pack({
        dir: p.dir,
        target: target.store,
        tags,
        ...p.options,
        ...(await packRuntime(p, ctx)),
        ...(variants ? { variants } : {}),
      });
      const reference = `${target.base}:${tags[0]}`;
      await setPackOutputs(ctx, target, result, reference);
      setVariantOutputs(ctx, summarizeVariants(target.base, result.variants));
      const dryRun = target.store.dryRun;
      ctx.info(safe`${dryRun ? 'dry run, nothing written: would pack' : 'packed'} ${p.dir} -> ${reference}`);
      ctx.info(safe`digest: ${result.descriptor.digest}`);
      addPackSummary(
        ctx.summary,
        result,
        reference,
        dryRun ? `${heading} (dry run: nothing written)` : heading,
        dryRun,
      );
      // What follows (release: attest, sign) writes to the target: not after a dry run.
      if (!dryRun) await after({ store: target.store, base: target.base, result });
    } finally {
      await target.store.close();
    }
  } finally {
    await base?.close();
  }
}
