import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * A folder of the team's shared data (official schemas that tests validate against, never
 * copied into the repository): `$MODELSHIP_SHARED_DIR/<sub>` if set, else `shared/<sub>` beside
 * the project root or beside one of its parents (CI puts a copy of shared/ next to the clone; a
 * git worktree sits deeper than the main checkout). Missing is an error, never a skip.
 */
export function sharedDir(sub: string): string {
  const candidates: string[] = [];
  if (process.env['MODELSHIP_SHARED_DIR']) candidates.push(process.env['MODELSHIP_SHARED_DIR']);
  for (let d = dirname(REPO_ROOT); ; d = dirname(d)) {
    candidates.push(join(d, 'shared'));
    if (dirname(d) === d) break;
  }
  for (const c of candidates) if (existsSync(join(c, sub))) return join(c, sub);
  throw new Error(`no shared/${sub} in any of: ${candidates.join(', ')}`);
}
