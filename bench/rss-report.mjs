// Preloaded into the modelship CLI by the benchmark (node --import): on exit, report peak RSS
// and bytes read through read syscalls (rchar: includes page-cache hits), so "every byte read
// once" and "memory flat" are measured, not assumed.
import { readFileSync, writeFileSync } from 'node:fs';

process.on('exit', () => {
  const out = process.env.MODELSHIP_BENCH_REPORT;
  if (!out) return;
  let rchar = 0;
  try {
    const m = /rchar:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
    rchar = m ? Number(m[1]) : 0;
  } catch {
    // not Linux
  }
  // VmHWM, not getrusage's maxrss: a forked child inherits the parent's maxrss high-water mark,
  // so a benchmark parent holding big buffers would be billed to the CLI.
  let hwm = 0;
  try {
    const m = /VmHWM:\s*(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    hwm = m ? Number(m[1]) : 0;
  } catch {
    hwm = process.resourceUsage().maxRSS;
  }
  writeFileSync(out, JSON.stringify({ maxRssKiB: hwm, rchar }));
});
