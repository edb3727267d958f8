import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelshipError, credentialKey, dockerConfigPath } from '@modelship/core';

/** Docker's ConvertToHostname: config keys may be legacy URLs (`https://host/v1/`). */
function keyToHostname(key: string): string {
  const s = key.replace(/^https?:\/\//, '');
  const slash = s.indexOf('/');
  return slash >= 0 ? s.slice(0, slash) : s;
}

export interface RegistryLogin {
  registry: string;
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, Record<string, unknown>>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

/** `https://ghcr.io/v2/` or `ghcr.io/` → `ghcr.io`; refuses what is not a host[:port]. */
export function registryHost(value: string, what: string): string {
  const host = keyToHostname(value.trim());
  if (!isRegistryHost(host))
    throw new ModelshipError('USAGE', `${what}: "${value}" is not a registry host`, {
      hint: 'write the host (and port) only, e.g. ghcr.io or registry.example.com:5000',
    });
  return host;
}

const LOGIN_LINE = /^(\S+)\s+(\S+)\s+(.+)$/;

function isRegistryHost(host: string): boolean {
  return /^[A-Za-z0-9.-]+(:\d+)?$/.test(host) || /^\[[0-9a-fA-F:]+\](:\d+)?$/.test(host);
}

/**
 * What to mask in a `logins` input before anything parses it, read leniently and never
 * throwing: the password (the rest of the line) of every line with three fields; for a line
 * that is not well-formed, also the whole line and each of its fields, since which one is the
 * secret is unknown (the action fails on that line anyway, so masking too much costs nothing).
 */
export function loginSecrets(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LOGIN_LINE.exec(line);
    if (m) out.push(m[3]!);
    // Fields shorter than 4 characters alone would mask every such word in the log and make
    // the error unreadable; the whole line is masked anyway, and no message quotes the line.
    if (!m || !isRegistryHost(keyToHostname(m[1]!))) out.push(line, ...line.split(/\s+/).filter((f) => f.length >= 4));
  }
  return out;
}

/**
 * Lines of `REGISTRY USERNAME PASSWORD` (the password is the rest of the line, so it may hold
 * spaces). Errors name the line number only: the line holds a secret.
 */
export function parseLogins(text: string): RegistryLogin[] {
  const out: RegistryLogin[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LOGIN_LINE.exec(line);
    if (!m)
      throw new ModelshipError('USAGE', `input logins, line ${i + 1}: expected "REGISTRY USERNAME PASSWORD"`, {
        hint: 'one registry per line, e.g. ghcr.io ${{ github.actor }} ${{ secrets.GITHUB_TOKEN }}',
      });
    const host = keyToHostname(m[1]!);
    if (!isRegistryHost(host))
      throw new ModelshipError('USAGE', `input logins, line ${i + 1}: the first field is not a registry host`, {
        hint: 'write the host (and port) first, e.g. ghcr.io or registry.example.com:5000',
      });
    out.push({ registry: host, username: m[2]!, password: m[3]! });
  }
  return out;
}

async function readSeed(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ModelshipError('INPUT', `cannot read the docker config ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as DockerConfig;
  } catch (e) {
    throw new ModelshipError('INPUT', `the docker config ${path} is not valid JSON`, {
      cause: e,
      hint: `fix or remove ${path}; setup copies it so the logins can be added beside its entries`,
    });
  }
}

/**
 * Adds `auths` entries for `logins` to a copy of `seed` (every other host's entry, helper and
 * setting kept). A credential helper configured for a logged-in host would be asked before
 * `auths`, so it is set to "" for that host, which docker reads as "use auths".
 */
export function mergeLogins(seed: DockerConfig, logins: RegistryLogin[]): DockerConfig {
  const config: DockerConfig = { ...seed, auths: { ...(seed.auths ?? {}) } };
  for (const l of logins) {
    const key = credentialKey(l.registry);
    for (const k of Object.keys(config.auths!))
      if (k !== key && keyToHostname(k) === keyToHostname(key)) delete config.auths![k];
    config.auths![key] = { auth: Buffer.from(`${l.username}:${l.password}`, 'utf8').toString('base64') };
    if (
      config.credsStore ||
      config.credHelpers?.[key] !== undefined ||
      config.credHelpers?.[l.registry] !== undefined
    ) {
      config.credHelpers = { ...(config.credHelpers ?? {}), [key]: '' };
      if (l.registry !== key) delete config.credHelpers[l.registry];
    }
  }
  return config;
}

/**
 * Writes `dir/config.json`: the current docker config (DOCKER_CONFIG or ~/.docker) with the
 * logins merged in. Owner-only permissions: the file holds passwords.
 */
export async function writeDockerConfig(dir: string, logins: RegistryLogin[], env = process.env): Promise<string> {
  const seed = await readSeed(dockerConfigPath(env));
  const config = mergeLogins(seed, logins);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const path = join(dir, 'config.json');
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return path;
}
