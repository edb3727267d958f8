import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { ModelshipError } from '../errors.js';
import { isDockerHub, registryApiHost } from '../reference.js';
import { Authorizer } from './auth.js';
import { credentialKey, dockerConfigPath, keyToHostname } from './credentials.js';
import { HttpClient, createAgent } from './http.js';

export interface RegistryLoginOptions {
  /** `host[:port]`; `docker.io` means Docker Hub. */
  registry: string;
  username: string;
  /** Password or token: never logged, never in a message. */
  password: string;
  plainHttp?: boolean;
  insecure?: boolean;
  /** config.json to write (default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). */
  configPath?: string;
  /** Environment for DOCKER_CONFIG/HOME and the credential helper's PATH. */
  env?: NodeJS.ProcessEnv;
  userAgent?: string;
}

export interface RegistryLoginResult {
  registry: string;
  /** The config.json key the entry was written under (`https://index.docker.io/v1/` for Docker Hub). */
  key: string;
  configPath: string;
  /** The credential helper that holds the secret (`credsStore` / `credHelpers`), when one does. */
  helper?: string;
}

export interface RegistryLogoutResult {
  registry: string;
  configPath: string;
  /** The config.json keys removed (the host's entries), empty when there was none. */
  removed: string[];
  helper?: string;
}

/**
 * Checks credentials as `docker login` does before it saves anything: `GET /v2/` with them,
 * through the same challenge and token flow every registry request uses (auth.ts). A 401 at
 * the end, or a token service refusing them, is AUTH.
 */
export async function checkRegistryLogin(options: RegistryLoginOptions): Promise<void> {
  const host = registryApiHost(options.registry);
  const userAgent = options.userAgent ?? 'modelship';
  const agent = createAgent(!!options.insecure);
  const credential = { username: options.username, password: options.password };
  const auth = new Authorizer({
    host,
    userAgent,
    allowHttpRealm: !!options.plainHttp,
    dispatcher: agent,
    credentials: async () => credential,
  });
  const http = new HttpClient({
    host,
    agent,
    plainHttp: !!options.plainHttp,
    insecure: !!options.insecure,
    retries: 2,
    userAgent,
    auth,
  });
  const refused = (why: string, cause?: unknown): ModelshipError =>
    new ModelshipError('AUTH', `login to ${options.registry} refused: ${why}`, {
      ...(cause ? { cause } : {}),
      hint: 'check the username and the password or token; nothing was saved',
    });
  try {
    let res;
    try {
      res = await http.send({ method: 'GET', url: http.url('/v2/'), scopes: [] });
    } catch (e) {
      // The token service said no: its message names the user and the status.
      if (e instanceof ModelshipError && e.code === 'AUTH') throw refused(e.message, e);
      throw e;
    }
    await res.body.dump();
    if (res.status === 200) return;
    if (res.status === 401 || res.status === 403)
      throw refused(`the registry rejected the credentials of user "${options.username}" (HTTP ${res.status})`);
    throw new ModelshipError('NETWORK', `GET /v2/ on ${options.registry} answered HTTP ${res.status}`, {
      hint: 'is this the registry host (not a web page or a repository path)?',
    });
  } finally {
    await http.close();
  }
}

type ConfigObject = Record<string, unknown> & {
  auths?: Record<string, unknown>;
  credsStore?: unknown;
  credHelpers?: Record<string, unknown>;
};

/**
 * Reads config.json for an update: missing is `{}`; anything that is not a JSON object is
 * refused, so a file modelship cannot read is never replaced by one that lost its content.
 */
async function readConfigForUpdate(path: string): Promise<ConfigObject> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ModelshipError('INPUT', `cannot read docker config ${path}: ${(e as Error).message}`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    throw new ModelshipError('INPUT', `docker config ${path} is not valid JSON; not changing it`, {
      cause: e,
      hint: `fix or remove ${path}, then log in again`,
    });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ModelshipError('INPUT', `docker config ${path} is not a JSON object; not changing it`, {
      hint: `fix or remove ${path}, then log in again`,
    });
  const config = parsed as ConfigObject;
  if (config.auths !== undefined && (typeof config.auths !== 'object' || config.auths === null))
    throw new ModelshipError('INPUT', `docker config ${path}: "auths" is not an object; not changing it`);
  return config;
}

/**
 * Writes config.json whole (temp file, fsync, rename), as docker's `ConfigFile.Save` does:
 * tab-indented JSON, the file a symlink points at is the one replaced, the directory created
 * 0700 (docs/cli.md, "Logging in"). The mode is always 0600: docker keeps an older file's.
 */
async function writeConfig(path: string, config: ConfigObject): Promise<void> {
  let target = path;
  try {
    target = await fsp.realpath(path);
  } catch {
    // no file yet: write it where it was asked for
  }
  await fsp.mkdir(dirname(target), { recursive: true, mode: 0o700 });
  await writeFileAtomic(target, JSON.stringify(config, null, '\t'), { fsync: true, mode: 0o600 });
}

/**
 * The helper that stores this host's secret, as docker picks it (`GetCredentialsStore`,
 * docs/cli.md, "Logging in"): `credHelpers[key]`, else `credsStore`. An empty `credHelpers` value
 * means the plain `auths` entry (setup writes that), so no helper.
 */
function helperFor(config: ConfigObject, key: string, registry: string): string | undefined {
  const helpers = config.credHelpers && typeof config.credHelpers === 'object' ? config.credHelpers : {};
  const named = Object.hasOwn(helpers, key) ? key : Object.hasOwn(helpers, registry) ? registry : undefined;
  if (named !== undefined) {
    const h = helpers[named];
    return typeof h === 'string' && h ? h : undefined;
  }
  return typeof config.credsStore === 'string' && config.credsStore ? config.credsStore : undefined;
}

/**
 * Runs `docker-credential-<name> store|erase` (docker-credential-helpers' protocol: `store`
 * reads `{"ServerURL","Username","Secret"}`, `erase` the server URL, on stdin). Its output is
 * never quoted: helpers may echo what they were given.
 */
async function runHelper(
  name: string,
  action: 'store' | 'erase',
  input: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (!/^[a-zA-Z0-9._-]+$/.test(name))
    throw new ModelshipError('INPUT', `docker config names an invalid credential helper "${name}"`);
  const program = `docker-credential-${name}`;
  const error = await new Promise<(Error & { code?: string | number | null }) | null>((resolve) => {
    const child = execFile(program, [action], { env, timeout: 60_000, maxBuffer: 1024 * 1024 }, (e) => resolve(e));
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
  if (!error) return;
  if (error.code === 'ENOENT')
    throw new ModelshipError('AUTH', `the docker config names credential helper ${program}, which is not installed`, {
      hint: `install ${program}, or remove it from credsStore / credHelpers in the docker config; nothing was saved`,
    });
  throw new ModelshipError(
    'AUTH',
    `credential helper ${program} failed to ${action} the credentials for ${serverUrl}`,
    {
      cause: new Error(`exit ${String(error.code)}`),
      hint: `run \`${program} list\` to check the helper works`,
    },
  );
}

/**
 * Saves a login the way `docker login` does, for the host only: the secret goes to the
 * credential helper docker would use for the host (`credHelpers`, `credsStore`) and config.json
 * gets an empty entry for it, as docker's native store writes; with no helper, config.json gets
 * `auths[key] = {auth: base64(user:password)}`. Every other key and entry is kept as it was.
 */
export async function saveDockerLogin(options: RegistryLoginOptions): Promise<RegistryLoginResult> {
  const env = options.env ?? process.env;
  const configPath = options.configPath ?? dockerConfigPath(env);
  const key = credentialKey(options.registry);
  const config = await readConfigForUpdate(configPath);
  const helper = helperFor(config, key, options.registry);
  if (helper)
    await runHelper(
      helper,
      'store',
      JSON.stringify({ ServerURL: key, Username: options.username, Secret: options.password }),
      key,
      env,
    );
  const auths = { ...(config.auths ?? {}) };
  auths[key] = helper ? {} : { auth: Buffer.from(`${options.username}:${options.password}`).toString('base64') };
  await writeConfig(configPath, { ...config, auths });
  return { registry: options.registry, key, configPath, ...(helper ? { helper } : {}) };
}

/** `checkRegistryLogin`, then `saveDockerLogin`: a refused login saves nothing. */
export async function registryLogin(options: RegistryLoginOptions): Promise<RegistryLoginResult> {
  await checkRegistryLogin(options);
  return saveDockerLogin(options);
}

/**
 * Removes the host's login as `docker logout` does: every `auths` entry for the host (the key
 * modelship writes and legacy spellings such as `https://host/v1/`), and the secret in the
 * host's credential helper. Other hosts' entries are untouched; no entry is not an error.
 */
export async function registryLogout(
  registry: string,
  options: Pick<RegistryLoginOptions, 'configPath' | 'env'> = {},
): Promise<RegistryLogoutResult> {
  const env = options.env ?? process.env;
  const configPath = options.configPath ?? dockerConfigPath(env);
  const key = credentialKey(registry);
  const config = await readConfigForUpdate(configPath);
  const host = isDockerHub(registry) ? 'index.docker.io' : registry;
  const auths = { ...(config.auths ?? {}) };
  const removed = Object.keys(auths).filter(
    (k) => k === key || keyToHostname(k) === host || (isDockerHub(registry) && isDockerHub(keyToHostname(k))),
  );
  const helper = helperFor(config, key, registry);
  if (helper && removed.length > 0) await runHelper(helper, 'erase', key, key, env);
  if (removed.length === 0) return { registry, configPath, removed, ...(helper ? { helper } : {}) };
  for (const k of removed) delete auths[k];
  await writeConfig(configPath, { ...config, auths });
  return { registry, configPath, removed, ...(helper ? { helper } : {}) };
}
