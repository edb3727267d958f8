import { runAction, runnerContext } from '@modelship/action-common';
import { isPost, markMain, post, readInputs, run } from './run.js';

// One bundle serves both `main` and `post` (action.yml): the runner hands the post step the
// state the main step saved.
await (isPost()
  ? post()
  : runAction(async () => {
      markMain();
      const inputs = readInputs();
      await run(inputs, runnerContext(inputs.showSummary));
    }));
