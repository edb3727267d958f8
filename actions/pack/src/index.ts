import { runAction, runnerContext } from '@modelship/action-common';
import { readInputs, run } from './run.js';

await runAction(async () => {
  const inputs = readInputs();
  await run(inputs, runnerContext(inputs.showSummary));
});
