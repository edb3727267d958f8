import { isPost, post, run } from './run.js';

// One bundle serves both `main` and `post` (action.yml): the runner hands the post step the
// state the main step saved.
await (isPost() ? post() : run());
