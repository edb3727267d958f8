import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  booleanInput,
  maskSecret,
  runAction,
  runnerContext,
  secretInput,
  showSummaryInput,
  type ActionContext,
} from '@modelship/action-common';
import { ModelshipError, defaultCacheDir, safe, untrustedHtml } from '@modelship/core';
import { bundledCliDir, installCli } from './cli.js';
import { restoreDigestCache, saveDigestCache } from './digest-cache.js';
import { loginSecrets, parseLogins, registryHost, writeDockerConfig, type RegistryLogin } from './logins.js';
import { installTool, parseTools, type InstalledTool, type PeerTool } from './tools.js';

const STATE = {
  post: 'isPost',
  cacheDir: 'digestCacheDir',
  restoredKey: 'digestCacheKey',
  dockerConfig: 'dockerConfigDir',
} as const;

function runnerDir(name: 'RUNNER_TEMP' | 'RUNNER_TOOL_CACHE'): string {
  const v = process.env[name];
  if (!v)
    throw new ModelshipError('USAGE', `${name} is not set: setup runs only as a GitHub Actions step`, {
      hint: 'outside Actions, install the CLI with npm or run dist/cli/index.js with node',
    });
  return v;
}

/**
 * Secrets first: every password is masked before anything parses the input, so a malformed
 * line cannot get a password printed unmasked (loginSecrets reads the text leniently).
 */
function loginInputs(): RegistryLogin[] {
  const password = secretInput('password');
  const logins = core.getInput('logins');
  for (const secret of loginSecrets(logins)) maskSecret(secret);
  const parsed = parseLogins(logins);
  const registry = core.getInput('registry');
  const username = core.getInput('username');
  if (registry || username || password) {
    if (!registry || !username || !password)
      throw new ModelshipError('USAGE', 'inputs registry, username and password go together', {
        hint: 'set all three for one login, or use logins for several registries',
      });
    parsed.unshift({ registry: registryHost(registry, 'input registry'), username, password });
  }
  const hosts = new Set<string>();
  for (const l of parsed) {
    if (hosts.has(l.registry))
      throw new ModelshipError('USAGE', `registry ${l.registry} has two logins`, { hint: 'keep one per registry' });
    hosts.add(l.registry);
  }
  return parsed;
}

export interface Inputs {
  logins: RegistryLogin[];
  tools: PeerTool[];
  cache: boolean;
  showSummary: boolean;
}

/** Reads the setup action's inputs (passwords masked before any is parsed). */
export function readInputs(): Inputs {
  return {
    logins: loginInputs(),
    tools: parseTools(core.getInput('tools')),
    cache: booleanInput('cache', true),
    showSummary: showSummaryInput(),
  };
}

/**
 * Installs the CLI and tools, writes the logins, restores the digest cache. The runner's own
 * state (PATH, exported variables, saved state for the post step) goes through @actions/core
 * directly: only a runner has it.
 */
/** `cliDir`: the CLI bundle to install, dist/cli beside this action unless a test names another. */
export async function run(inputs: Inputs, ctx: ActionContext, cliDir = bundledCliDir()): Promise<void> {
  const { logins, tools, cache: useCache } = inputs;
  const temp = runnerDir('RUNNER_TEMP');
  runnerDir('RUNNER_TOOL_CACHE');

  const cli = await installCli(cliDir, temp);
  core.addPath(cli.path);
  ctx.setOutput('version', cli.version);
  ctx.setOutput('path', cli.path);
  ctx.info(safe`modelship ${cli.version} ${cli.reused ? 'found in' : 'installed into'} the tool cache: ${cli.path}`);

  let dockerConfig = '';
  if (logins.length) {
    dockerConfig = join(temp, 'modelship-docker-config');
    await writeDockerConfig(dockerConfig, logins);
    core.exportVariable('DOCKER_CONFIG', dockerConfig);
    core.saveState(STATE.dockerConfig, dockerConfig);
    ctx.info(
      `registry logins written to ${join(dockerConfig, 'config.json')}: ${logins.map((l) => l.registry).join(', ')}`,
    );
  }
  ctx.setOutput('docker-config', dockerConfig);

  const installed: InstalledTool[] = [];
  for (const tool of tools) {
    const t = await installTool(tool, temp);
    core.addPath(t.path);
    installed.push(t);
    ctx.info(safe`${t.name} ${t.version} ${t.reused ? 'found in' : 'installed into'} the tool cache: ${t.path}`);
  }
  ctx.setOutput('tools', JSON.stringify(Object.fromEntries(installed.map((t) => [t.name, t.path]))));

  // Later steps and the CLI must agree on where the digest cache is for the post step to save it.
  const cacheDir = defaultCacheDir();
  core.exportVariable('MODELSHIP_CACHE_DIR', cacheDir);
  let cacheNote = 'off';
  ctx.setOutput('cache-hit', 'false');
  if (useCache) {
    core.saveState(STATE.cacheDir, cacheDir);
    const r = await restoreDigestCache(cacheDir);
    if (r.status === 'restored') {
      core.saveState(STATE.restoredKey, r.key);
      ctx.setOutput('cache-hit', 'true');
      cacheNote = `restored (${r.key})`;
    } else if (r.status === 'miss') cacheNote = 'nothing saved yet';
    else {
      ctx.warning(`digest cache not restored: ${r.why}; files are hashed afresh`);
      cacheNote = 'cache service unavailable';
    }
    ctx.info(safe`digest cache ${cacheDir}: ${cacheNote}`);
  }

  await ctx.summary
    .addHeading('modelship setup', 3)
    .addTable([
      [
        { data: 'Tool', header: true },
        { data: 'Version', header: true },
        { data: 'Path', header: true },
      ],
      ['modelship', untrustedHtml(cli.version), `<code>${untrustedHtml(cli.path)}</code>`],
      ...installed.map((t) => [
        untrustedHtml(t.name),
        untrustedHtml(t.version),
        `<code>${untrustedHtml(t.path)}</code>`,
      ]),
    ])
    .addRaw(
      `<p>Registry logins: ${logins.length ? logins.map((l) => `<code>${untrustedHtml(l.registry)}</code>`).join(', ') : 'none'}. Digest cache: ${untrustedHtml(cacheNote)}.</p>`,
    )
    .write();
}

/** Post step: save the digest cache when it changed, and remove the written credentials. */
export async function post(): Promise<void> {
  const ctx = runnerContext(false);
  await runAction(async () => {
    const cacheDir = core.getState(STATE.cacheDir);
    if (cacheDir) {
      const r = await saveDigestCache(cacheDir, core.getState(STATE.restoredKey));
      if (r.status === 'saved') core.info(safe`digest cache saved as ${r.key}`);
      else if (r.status === 'unavailable') ctx.warning(`digest cache not saved: ${r.why}`);
      else core.info(`digest cache not saved: ${r.status === 'empty' ? 'nothing was hashed' : 'unchanged'}`);
    }
    const dockerConfig = core.getState(STATE.dockerConfig);
    if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
  });
}

/** Marks the main step as run, first of all, so the post step cleans up even after a failure. */
export function markMain(): void {
  core.saveState(STATE.post, 'true');
}

export function isPost(): boolean {
  return core.getState(STATE.post) === 'true';
}
