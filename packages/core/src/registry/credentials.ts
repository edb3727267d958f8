import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelshipError, opt } from '../errors.js';
import { isDockerHub } from '../reference.js';
import type { Credential } from './auth.js';

/** The key docker uses for Docker Hub in config.json and credential helpers. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export interface DockerCredentialOptions {
  /** Path of config.json (overrides DOCKER_CONFIG). */
  configPath?: string;
  /** Environment for DOCKER_CONFIG/HOME and the helper's PATH (tests inject one). */
  env?: NodeJS.ProcessEnv;
  /** Told when the default config.json is broken and skipped (default: a process warning). */
  warn?: (message: string) => void;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['DOCKER_CONFIG']) return join(env['DOCKER_CONFIG'], 'config.json');
  return join(env['HOME'] || homedir(), '.docker', 'config.json');
}

/** The config.json / helper key for a registry host. */
export function credentialKey(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_CONFIG_KEY : registry;
}

/** `https://ghcr.io/v1/` → `ghcr.io` (docker's ConvertToHostname for legacy keys). */
export function keyToHostname(key: string): string {
  let s = key;
  if (s.startsWith('http://')) s = s.slice(7);
  else if (s.startsWith('https://')) s = s.slice(8);
  const slash = s.indexOf('/');
  return slash >= 0 ? s.slice(0, slash) : s;
}

/**
 * Reads docker's config.json. A file named explicitly (`configPath`: --registry-config) that
 * cannot be read or parsed is an error. The default one (DOCKER_CONFIG or ~/.docker) is only
 * where credentials might be: when it is broken, `warn` says so and the lookup goes on without
 * it, so anonymous pulls of public artifacts still work (docker, too, goes on when its config
 * file cannot be loaded and prints a warning).
 */
async function readConfig(
  path: string,
  explicit: boolean,
  warn: (message: string) => void,
): Promise<DockerConfigFile | undefined> {
  const broken = (e: unknown, problem: string, fix: string): undefined => {
    if (explicit)
      throw new ModelshipError('AUTH', `docker config ${path} ${problem}`, {
        cause: e,
        hint: `${fix}, or pass ${opt('username')} and ${opt('password')}`,
      });
    // A warning names no setting: a registry that needs credentials fails later with loginHint.
    warn(`docker config ${path} ${problem}; going on without its credentials (${fix})`);
    return undefined;
  };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return broken(e, `cannot be read: ${(e as Error).message}`, 'fix its permissions');
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    return broken(e, `is not valid JSON (${(e as Error).message})`, 'fix or remove it');
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    return broken(undefined, 'is not a JSON object', 'fix or remove it');
  return config as DockerConfigFile;
}

function fromEntry(entry: DockerAuthEntry): Credential | undefined {
  const c: Credential = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) {
      c.username = decoded.slice(0, i);
      // docker trims trailing NULs some tools leave in the password
      c.password = decoded.slice(i + 1).replace(/\0+$/, '');
    }
  }
  if (entry.username && c.username === undefined) c.username = entry.username;
  if (entry.password && c.password === undefined) c.password = entry.password;
  if (entry.identitytoken) c.identityToken = entry.identitytoken;
  if (entry.registrytoken) c.registryToken = entry.registrytoken;
  return c.password || c.identityToken || c.registryToken ? c : undefined;
}

function findEntry(auths: Record<string, DockerAuthEntry> | undefined, registry: string): DockerAuthEntry | undefined {
  if (!auths) return undefined;
  const key = credentialKey(registry);
  if (auths[key]) return auths[key];
  const want = isDockerHub(registry) ? 'index.docker.io' : registry;
  for (const [k, v] of Object.entries(auths)) {
    const host = keyToHostname(k);
    if (host === want || (isDockerHub(registry) && isDockerHub(host))) return v;
  }
  return undefined;
}

/**
 * Runs `docker-credential-<name> get` with the server URL on stdin (execFile: no shell).
 * Returns undefined for "not found" answers and for a helper that is not installed.
 */
export async function runCredentialHelper(
  name: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credential | undefined> {
  if (!/^[a-zA-Z0-9._-]+$/.test(name))
    throw new ModelshipError('AUTH', `docker config names an invalid credential helper "${name}"`);
  const program = `docker-credential-${name}`;
  const result = await new Promise<{ stdout: string; error?: { code?: string | number | null } }>((resolve) => {
    const child = execFile(program, ['get'], { env, timeout: 60_000, maxBuffer: 1024 * 1024 }, (error, stdout) => {
      resolve(error ? { stdout: String(stdout), error } : { stdout: String(stdout) });
    });
    child.stdin?.on('error', () => {}); // a helper that exits without reading stdin must not crash us
    child.stdin?.end(serverUrl);
  });
  if (result.error) {
    if (result.error.code === 'ENOENT') return undefined;
    if (/credentials not found/i.test(result.stdout)) return undefined;
    // The helper's own output may hold secrets on some failures: name the helper, not its output.
    throw new ModelshipError('AUTH', `credential helper ${program} failed for ${serverUrl}`, {
      cause: new Error(`exit ${String(result.error.code)}`),
      hint: `run \`echo ${serverUrl} | ${program} get\` to see why, or pass ${opt('username')} and ${opt('password')}`,
    });
  }
  let out: { Username?: unknown; Secret?: unknown };
  try {
    out = JSON.parse(result.stdout) as typeof out;
  } catch {
    throw new ModelshipError(
      'AUTH',
      `credential helper ${program} printed something that is not JSON for ${serverUrl}`,
    );
  }
  const username = typeof out.Username === 'string' ? out.Username : '';
  const secret = typeof out.Secret === 'string' ? out.Secret : '';
  if (!secret) return undefined;
  // docker's convention: user "<token>" means Secret is an identity (refresh) token.
  if (username === '<token>') return { identityToken: secret };
  return { username, password: secret };
}

/** Credentials for `registry` from docker's config: credHelpers[host] → credsStore → auths[host]. */
export async function lookupDockerCredential(
  registry: string,
  opts: DockerCredentialOptions = {},
): Promise<Credential | undefined> {
  const env = opts.env ?? process.env;
  const path = opts.configPath ?? dockerConfigPath(env);
  const config = await readConfig(
    path,
    opts.configPath !== undefined,
    opts.warn ?? ((m) => process.emitWarning(m, 'ModelshipWarning')),
  );
  if (!config) return undefined;
  const key = credentialKey(registry);
  const helpers = config.credHelpers ?? {};
  const named = Object.hasOwn(helpers, key) ? key : Object.hasOwn(helpers, registry) ? registry : undefined;
  const helper = named === undefined ? undefined : helpers[named];
  if (helper) return runCredentialHelper(helper, key, env);
  // As docker does: a host listed with an empty helper uses the plain `auths` entry, never
  // credsStore (setup writes that for the hosts it logs into).
  if (named === undefined && config.credsStore) {
    const c = await runCredentialHelper(config.credsStore, key, env);
    if (c) return c;
  }
  const entry = findEntry(config.auths, registry);
  return entry ? fromEntry(entry) : undefined;
}

export interface ExplicitCredentials {
  username?: string;
  password?: string;
  token?: string;
}

/**
 * Explicit options win over docker config. A `token` with a username is a password (GHCR's
 * `<user>:<GITHUB_TOKEN>`); a token alone is a bearer registry token.
 */
export function explicitCredential(o: ExplicitCredentials): Credential | undefined {
  if (o.username !== undefined && (o.password !== undefined || o.token !== undefined))
    return { username: o.username, password: (o.password ?? o.token)! };
  if (o.token !== undefined) return { registryToken: o.token };
  if (o.password !== undefined)
    throw new ModelshipError('USAGE', 'a password was given without a username', {
      hint: `pass ${opt('username')} together with ${opt('password')}`,
    });
  return undefined;
}
