import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tc from '@actions/tool-cache';
import { ModelshipError } from '@modelship/core';

export const TOOL_NAME = 'modelship';
/** Written into the cached copy: which bundle it came from, so a moved tag is not served stale. */
const MARKER = '.modelship-bundle-sha256';

/**
 * dist/cli beside this bundle (dist/setup/index.js → dist/cli): the CLI is released in the same
 * commit as the action, so the action never downloads it and both are always the same version.
 */
export function bundledCliDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', 'cli');
}

/** sha256 over the bundle's file names and bytes (index.js plus its chunks). */
async function bundleHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const name of (await readdir(dir)).sort()) {
    h.update(`${name}\0`);
    h.update(await readFile(join(dir, name)));
    h.update('\0');
  }
  return h.digest('hex');
}

async function cliVersion(dir: string): Promise<string> {
  const out = await new Promise<string>((res, rej) =>
    execFile(process.execPath, [join(dir, 'index.js'), '--version'], { timeout: 60_000 }, (e, stdout, stderr) =>
      e ? rej(new Error(String(stderr).trim().split('\n').slice(0, 3).join(' ') || e.message)) : res(String(stdout)),
    ),
  ).catch((e: unknown) => {
    throw new ModelshipError('INTERNAL', `the bundled CLI in ${dir} does not run: ${(e as Error).message}`, {
      cause: e,
      hint: 'dist/setup and dist/cli must come from the same checkout of modelship',
    });
  });
  const version = out.trim();
  if (!/^\d+\.\d+\.\d+/.test(version))
    throw new ModelshipError('INTERNAL', `the bundled CLI in ${dir} printed "${version}" for --version`);
  return version;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The shims prefer MODELSHIP_NODE, then the node that ran this action (the runner's own, a
 * version the CLI supports), then `node` on PATH when a cached copy outlives that runner.
 */
function shims(nodePath: string): { sh: string; cmd: string } {
  const sh = [
    '#!/bin/sh',
    '# modelship CLI, installed by modelship/actions/setup',
    'dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)',
    `node=\${MODELSHIP_NODE:-${shQuote(nodePath)}}`,
    '[ -x "$node" ] || node=node',
    'exec "$node" "$dir/index.js" "$@"',
    '',
  ].join('\n');
  const cmd = [
    '@echo off',
    'setlocal',
    'set "MODELSHIP_NODE_EXE=%MODELSHIP_NODE%"',
    `if "%MODELSHIP_NODE_EXE%"=="" set "MODELSHIP_NODE_EXE=${nodePath}"`,
    'if not exist "%MODELSHIP_NODE_EXE%" set "MODELSHIP_NODE_EXE=node"',
    '"%MODELSHIP_NODE_EXE%" "%~dp0index.js" %*',
    '',
  ].join('\r\n');
  return { sh, cmd };
}

export interface CliInstall {
  version: string;
  /** Tool-cache directory holding the `modelship` shim; added to PATH by the caller. */
  path: string;
  /** A copy from an earlier run (same version, same bundle bytes) was reused. */
  reused: boolean;
}

/** Installs dist/cli plus `modelship` / `modelship.cmd` shims into the tool cache, or reuses it. */
export async function installCli(sourceDir: string, tempDir: string): Promise<CliInstall> {
  const version = await cliVersion(sourceDir);
  const hash = await bundleHash(sourceDir);
  const found = tc.find(TOOL_NAME, version);
  if (found) {
    const marker = await readFile(join(found, MARKER), 'utf8').catch(() => '');
    if (marker.trim() === hash) return { version, path: found, reused: true };
  }
  const staging = join(tempDir, `modelship-cli-${hash.slice(0, 16)}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await cp(sourceDir, staging, { recursive: true });
  const { sh, cmd } = shims(process.execPath);
  await writeFile(join(staging, 'modelship'), sh);
  await chmod(join(staging, 'modelship'), 0o755);
  await writeFile(join(staging, 'modelship.cmd'), cmd);
  await writeFile(join(staging, MARKER), `${hash}\n`);
  // cacheDir replaces an existing copy of this version (a different bundle under a moved tag).
  const path = await tc.cacheDir(staging, TOOL_NAME, version);
  await rm(staging, { recursive: true, force: true });
  return { version, path, reused: false };
}
