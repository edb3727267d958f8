#!/usr/bin/env node
// Fails when dist/ differs from a fresh bundle of the current sources (CI's stale-dist check).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const fresh = mkdtempSync(join(tmpdir(), 'modelship-dist-'));
try {
  execFileSync(process.execPath, [join(root, 'scripts', 'bundle.mjs'), fresh], { cwd: root, stdio: 'ignore' });
  const walk = (d) =>
    existsSync(d)
      ? readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]))
      : [];
  const a = new Set(walk(join(root, 'dist')).map((p) => relative(join(root, 'dist'), p)));
  const b = new Set(walk(fresh).map((p) => relative(fresh, p)));
  const problems = [];
  for (const f of b) {
    if (!a.has(f)) problems.push(`missing in dist/: ${f}`);
    else if (!readFileSync(join(root, 'dist', f)).equals(readFileSync(join(fresh, f))))
      problems.push(`stale: dist/${f}`);
  }
  for (const f of a) if (!b.has(f)) problems.push(`not produced by the bundle: dist/${f}`);
  if (problems.length) {
    console.error(problems.join('\n'));
    console.error('dist/ is stale: run `npm run bundle` and commit dist/.');
    process.exit(1);
  }
  console.log(`dist/ is up to date (${b.size} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
