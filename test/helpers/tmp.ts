import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SAMPLE_MODEL = join(REPO_ROOT, 'examples', 'sample-model');
export const CLI = join(REPO_ROOT, 'packages', 'cli', 'bin', 'modelship.js');

/** A temp dir removed by the returned cleanup (call it in afterAll/afterEach). */
export function tempDir(prefix = 'modelship-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A private copy of the sample model (tests may mutate it). */
export function copySample(into: string, name = 'sample-model'): string {
  const d = join(into, name);
  cpSync(SAMPLE_MODEL, d, { recursive: true });
  return d;
}
