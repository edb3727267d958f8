#!/usr/bin/env node
// Bundles every action (actions/<name>/lib/index.js) and the CLI into dist/<name>/ with ncc.
// Usage: node scripts/bundle.mjs [OUT_DIR]   (default dist; check-dist bundles into a temp dir)
// Run `tsc -b` first (npm run bundle does).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = resolve(process.argv[2] ?? join(root, 'dist'));
const ncc = join(root, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');

const entries = [];
for (const name of readdirSync(join(root, 'actions')).sort()) {
  const entry = join(root, 'actions', name, 'lib', 'index.js');
  if (existsSync(join(root, 'actions', name, 'action.yml'))) {
    if (!existsSync(entry)) throw new Error(`${entry} missing: run tsc -b first`);
    entries.push([name, entry]);
  }
}
entries.push(['cli', join(root, 'packages', 'cli', 'lib', 'bin.js')]);

mkdirSync(out, { recursive: true });
for (const [name, entry] of entries) {
  const dir = join(out, name);
  rmSync(dir, { recursive: true, force: true });
  execFileSync(process.execPath, [ncc, 'build', entry, '-o', dir, '--license', 'licenses.txt', '--quiet'], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(`bundled ${name} -> ${dir}`);
}
