import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './tmp.js';

export interface ActionRun {
  status: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Parses the runner's GITHUB_OUTPUT file format (`name<<DELIM\nvalue\nDELIM` or `name=value`). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!);
      out[name!] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

/**
 * Runs `dist/<name>/index.js` as the runner does: action.yml defaults and the given inputs as
 * INPUT_* variables, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV / GITHUB_PATH files.
 * `from: 'lib'` runs the action's `tsc -b` output (`actions/<name>/lib/index.js`) the same way
 * instead, for tests of source changes that `npm run bundle` has not put into dist yet.
 */
export async function runAction(
  name: string,
  inputs: Record<string, string>,
  workDir: string,
  env: NodeJS.ProcessEnv = {},
  options: { from?: 'dist' | 'lib' } = {},
): Promise<ActionRun> {
  const meta = parse(readFileSync(join(REPO_ROOT, 'actions', name, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string }>;
    runs: { using: string; main: string };
  };
  const vars: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(meta.inputs ?? {}))
    if (v.default !== undefined) vars[`INPUT_${k.toUpperCase()}`] = String(v.default);
  for (const [k, v] of Object.entries(inputs)) vars[`INPUT_${k.toUpperCase()}`] = v;
  const files = {
    GITHUB_OUTPUT: 'output',
    GITHUB_STEP_SUMMARY: 'summary',
    GITHUB_ENV: 'env',
    GITHUB_PATH: 'path',
    GITHUB_STATE: 'state',
  };
  for (const [k, f] of Object.entries(files)) {
    vars[k] = join(workDir, `${name}-${f}.txt`);
    writeFileSync(vars[k]!, '');
  }
  const main =
    options.from === 'lib'
      ? join(REPO_ROOT, 'actions', name, 'lib', 'index.js')
      : join(REPO_ROOT, 'actions', name, meta.runs.main);
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('GITHUB_')),
  );
  // Async, not spawnSync: tests serve stand-ins (OIDC, Fulcio, ...) from this very process.
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [main], {
      cwd: workDir,
      env: {
        ...clean,
        RUNNER_TEMP: workDir,
        GITHUB_ACTIONS: 'true',
        MODELSHIP_CACHE_DIR: join(workDir, 'cache'),
        ...vars,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill(), 120_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    outputs: parseOutputFile(readFileSync(vars.GITHUB_OUTPUT!, 'utf8')),
    summary: readFileSync(vars.GITHUB_STEP_SUMMARY!, 'utf8'),
  };
}
