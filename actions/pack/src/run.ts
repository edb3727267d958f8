import * as core from '@actions/core';
import {
  addPackSummary,
  packInputs,
  packRuntime,
  registryInputs,
  runAction,
  setPackOutputs,
} from '@modelship/action-common';
import { openTarget, pack, safe } from '@modelship/core';

export async function run(): Promise<void> {
  await runAction(async () => {
    const inputs = packInputs();
    const target = await openTarget(inputs.target, { create: true, registry: registryInputs() });
    try {
      const tags = inputs.tags.length ? inputs.tags : [target.reference ?? 'latest'];
      const result = await pack({
        dir: inputs.dir,
        target: target.store,
        tags,
        ...inputs.options,
        ...(await packRuntime(inputs)),
      });
      const reference = `${target.base}:${tags[0]}`;
      await setPackOutputs(target, result, reference);
      core.info(safe`packed ${inputs.dir} -> ${reference}`);
      core.info(safe`digest: ${result.descriptor.digest}`);
      addPackSummary(result, reference);
      await core.summary.write();
    } finally {
      await target.store.close();
    }
  });
}
