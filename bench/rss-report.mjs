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
  writeFileSync(out, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, rchar }));
});
