import { main } from './main.js';

// A reader that stops early (`modelship ls REPO | head -1`) closes the pipe. The command still
// ends as it would have (its work done, its exit code truthful); only what it would have
// printed afterwards is dropped, instead of an unhandled EPIPE stack on stderr.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
});

process.exitCode = await main(process.argv);
