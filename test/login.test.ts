/**
 * `modelship login HOST` / `logout HOST` against Debian's docker-registry with htpasswd (Basic)
 * and token auth: credentials are checked with GET /v2/ before anything is saved, saved in the
 * docker config.json that every other verb reads, and removed again by logout.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { runCliInPty } from './helpers/pty.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
let basic: TestRegistry;
let token: TestRegistry;
const ALICE = 'al1ce-Registry-pw';
const BOB = 'b0b-Token-pw';
let n = 0;

beforeAll(async () => {
  [basic, token] = await Promise.all([
    startRegistry({ auth: 'htpasswd', users: { alice: ALICE } }),
    startRegistry({ auth: 'token', users: { bob: BOB } }),
  ]);
});
afterAll(async () => {
  await Promise.all([basic?.cleanup(), token?.cleanup()]);
  tmp.cleanup();
});

/** A fresh DOCKER_CONFIG directory, optionally with a config.json already in it. */
function dockerConfig(existing?: unknown): { env: NodeJS.ProcessEnv; path: string } {
  const dir = join(tmp.dir, `docker-${++n}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'config.json');
  if (existing !== undefined) writeFileSync(path, JSON.stringify(existing, null, 2));
  // No registry credentials from the environment: config.json is the only source.
  return {
    env: { DOCKER_CONFIG: dir, MODELSHIP_REGISTRY_USERNAME: undefined, MODELSHIP_REGISTRY_PASSWORD: undefined },
    path,
  };
}

const readConfig = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as never;

async function push(reg: TestRegistry, env: NodeJS.ProcessEnv): Promise<number | null> {
  const model = copySample(tmp.dir, `model-${++n}`);
  const r = await runCli(['pack', model, '--push', `${reg.host}/acme/model:v${n}`, '--plain-http', '--no-cache'], {
    env,
  });
  return r.status;
}

describe('login / logout with htpasswd (Basic) auth', () => {
  it('a refused login (exit 5) saves nothing; a good one writes auths[host] (0600) and keeps every other key', async () => {
    const existing = {
      auths: { 'other.example:5000': { auth: Buffer.from('carol:x').toString('base64') } },
      credHelpers: { 'gcr.io': 'gcloud' },
      psFormat: 'table {{.ID}}',
      proxies: { default: { httpProxy: 'http://proxy.example:3128' } },
    };
    const { env, path } = dockerConfig(existing);
    const before = readFileSync(path, 'utf8');

    const bad = await runCli(['login', basic.host, '-u', 'alice', '--password-stdin', '--plain-http'], {
      env,
      input: 'wrong-password\n',
    });
    expect(bad.status).toBe(5);
    expect(bad.stderr).toContain(`error: login to ${basic.host} refused`);
    expect(bad.stderr).toContain('nothing was saved');
    expect(readFileSync(path, 'utf8')).toBe(before);

    const ok = await runCli(['login', basic.host, '-u', 'alice', '--password-stdin', '--plain-http'], {
      env,
      input: `${ALICE}\n`,
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(`logged in to ${basic.host} as alice (saved in ${path})\n`);
    expect(ok.stdout + ok.stderr).not.toContain(ALICE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const after = readConfig(path);
    expect(after).toEqual({
      ...existing,
      auths: { ...existing.auths, [basic.host]: { auth: Buffer.from(`alice:${ALICE}`).toString('base64') } },
    });

    // the rest of modelship reads it: a push with no credential flags
    expect(await push(basic, env)).toBe(0);

    const out = await runCli(['logout', basic.host, '--json'], { env });
    expect(out.status).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ registry: basic.host, removed: [basic.host] });
    expect(readConfig(path)).toEqual(existing);
    expect(await push(basic, env)).toBe(5);
    const again = await runCli(['logout', basic.host], { env });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`not logged in to ${basic.host}`);
  });

  it('logout removes every entry of the host (legacy https://HOST/v1/ too) and no other', async () => {
    const other = { auth: Buffer.from('carol:x').toString('base64') };
    const { env, path } = dockerConfig({
      auths: { [basic.host]: other, [`https://${basic.host}/v1/`]: other, 'other.example': other },
    });
    expect((await runCli(['logout', `https://${basic.host}`], { env })).status).toBe(0);
    expect(readConfig(path)).toEqual({ auths: { 'other.example': other } });
  });

  it('creates the config directory and file when there is none', async () => {
    const dir = join(tmp.dir, `fresh-${++n}`, 'nested');
    const r = await runCli(['login', basic.host, '-u', 'alice', '--password-stdin', '--plain-http'], {
      env: { DOCKER_CONFIG: dir },
      input: ALICE,
    });
    expect(r.status).toBe(0);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    expect(Object.keys(readConfig(join(dir, 'config.json')).auths as object)).toEqual([basic.host]);
  });

  it('refuses a config.json that is not JSON (exit 3) and leaves it as it was', async () => {
    const { env, path } = dockerConfig();
    writeFileSync(path, '{"auths": {');
    const r = await runCli(['login', basic.host, '-u', 'alice', '--password-stdin', '--plain-http'], {
      env,
      input: ALICE,
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('is not valid JSON; not changing it');
    expect(readFileSync(path, 'utf8')).toBe('{"auths": {');
  });

  it('no password on the command line; no terminal and no --password-stdin is exit 2', async () => {
    const { env, path } = dockerConfig();
    const flag = await runCli(['login', basic.host, '-u', 'alice', '-p', ALICE, '--plain-http'], { env });
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('a password is never taken on the command line');
    expect(flag.stderr).toContain('--password-stdin');
    expect(flag.stderr).not.toContain(ALICE);
    const none = await runCli(['login', basic.host, '-u', 'alice', '--plain-http'], { env });
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('no password given, and standard input is not a terminal');
    const empty = await runCli(['login', basic.host, '-u', 'alice', '--password-stdin', '--plain-http'], {
      env,
      input: '\n',
    });
    expect(empty.status).toBe(2);
    expect(empty.stderr).toContain('the password is empty');
    expect(existsSync(path)).toBe(false);
  });

  it('on a terminal: asks for the username and the password (echo off)', async () => {
    const { env, path } = dockerConfig();
    const r = await runCliInPty(
      ['login', basic.host, '--plain-http'],
      [
        { expect: 'Username: ', send: 'alice\r' },
        { expect: 'Password: ', send: `${ALICE}\r` },
      ],
      { env },
    );
    expect(r.status).toBe(0);
    expect(r.screen).toContain(`logged in to ${basic.host} as alice`);
    expect(r.screen).not.toContain(ALICE);
    expect(Object.keys(readConfig(path).auths as object)).toEqual([basic.host]);
  });
});

describe('login with token auth (distribution token server)', () => {
  it('the token service refusing the password is exit 5 and saves nothing; the right one logs in', async () => {
    const { env, path } = dockerConfig();
    const bad = await runCli(['login', token.host, '-u', 'bob', '--password-stdin', '--plain-http'], {
      env,
      input: 'nope',
    });
    expect(bad.status).toBe(5);
    expect(bad.stderr).toContain(`login to ${token.host} refused: the token service of ${token.host} rejected`);
    expect(existsSync(path)).toBe(false);
    const ok = await runCli(['login', token.host, '-u', 'bob', '--password-stdin', '--plain-http'], {
      env,
      input: BOB,
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(await push(token, env)).toBe(0);
  });
});

describe('login with a credential helper named in config.json (credsStore)', () => {
  it('stores the secret through the helper and writes an empty auths entry, as docker does; logout erases it', async () => {
    // A stand-in of a docker-credential-helpers program (protocol: `store` reads
    // {"ServerURL","Username","Secret"} on stdin, `get` the server URL and prints the same
    // JSON, `erase` the server URL), keeping its secrets in a JSON file.
    const bin = join(tmp.dir, `bin-${++n}`);
    mkdirSync(bin);
    const store = join(bin, 'store.json');
    const helper = join(bin, 'docker-credential-standin');
    writeFileSync(
      helper,
      `#!/usr/bin/env node
const fs = require('node:fs');
const file = ${JSON.stringify(store)};
const db = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
const input = fs.readFileSync(0, 'utf8').trim();
const action = process.argv[2];
if (action === 'store') { const c = JSON.parse(input); db[c.ServerURL] = c; }
else if (action === 'erase') delete db[input];
else if (action === 'get') {
  if (!db[input]) { process.stdout.write('credentials not found in native keychain'); process.exit(1); }
  process.stdout.write(JSON.stringify(db[input]));
} else process.exit(2);
fs.writeFileSync(file, JSON.stringify(db));
`,
    );
    chmodSync(helper, 0o755);
    const { env: base, path } = dockerConfig({ credsStore: 'standin' });
    const env = { ...base, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
    const r = await runCli(['login', basic.host, '-u', 'alice', '--password-stdin', '--plain-http'], {
      env,
      input: ALICE,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('saved in credential helper docker-credential-standin');
    expect(JSON.parse(readFileSync(store, 'utf8'))).toEqual({
      [basic.host]: { ServerURL: basic.host, Username: 'alice', Secret: ALICE },
    });
    expect(readConfig(path)).toEqual({ credsStore: 'standin', auths: { [basic.host]: {} } });
    expect(readFileSync(path, 'utf8')).not.toContain(ALICE);
    expect(await push(basic, env)).toBe(0);

    expect((await runCli(['logout', basic.host], { env })).status).toBe(0);
    expect(JSON.parse(readFileSync(store, 'utf8'))).toEqual({});
    expect(readConfig(path)).toEqual({ credsStore: 'standin', auths: {} });
  });
});
