import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { runAction } from './helpers/action.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { REPO_ROOT, SAMPLE_MODEL, copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const CLI_VERSION = execFileSync(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'index.js'), '--version'], {
  encoding: 'utf8',
}).trim();

/** A fresh job: its own RUNNER_TEMP (workDir) and, unless shared, its own tool cache. */
function job(name: string, toolCache = join(tmp.dir, `${name}-toolcache`)) {
  const workDir = join(tmp.dir, name);
  mkdirSync(workDir, { recursive: true });
  mkdirSync(toolCache, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    RUNNER_TOOL_CACHE: toolCache,
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: 'X64',
    // No Actions cache service here: setup must warn and carry on.
    ACTIONS_CACHE_URL: '',
    ACTIONS_RESULTS_URL: '',
    ACTIONS_CACHE_SERVICE_V2: '',
    DOCKER_CONFIG: join(workDir, 'no-docker-config'),
  };
  return {
    workDir,
    toolCache,
    env,
    run: (inputs: Record<string, string>, extra: NodeJS.ProcessEnv = {}) =>
      runAction('setup', inputs, workDir, { ...env, ...extra }),
    file: (f: 'path' | 'env' | 'state') => readFileSync(join(workDir, `setup-${f}.txt`), 'utf8'),
  };
}

/** Runs `cmd` by name with `dirs` prepended to PATH, as a later workflow step would. */
function onPath(dirs: string[], cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    cwd: tmp.dir,
    env: { ...process.env, ...env, PATH: [...dirs, process.env.PATH].join(':') },
  });
}

describe('actions/setup through dist/setup/index.js: the CLI on PATH', () => {
  const shared = join(tmp.dir, 'shared-toolcache');

  it('installs the bundled CLI into the tool cache; the shim runs it by name', async () => {
    const j = job('install', shared);
    const r = await j.run({});
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.outputs.version).toBe(CLI_VERSION);
    const dir = r.outputs.path!;
    expect(dir).toBe(join(shared, 'modelship', CLI_VERSION, process.arch));
    expect(j.file('path').split('\n')).toContain(dir);
    expect(existsSync(join(dir, 'modelship.cmd'))).toBe(true);
    const v = onPath([dir], 'modelship', ['--version']);
    expect(v.stderr).toBe('');
    expect(v.stdout.trim()).toBe(CLI_VERSION);
    // a real command through the shim, from another directory
    const out = join(tmp.dir, 'shim-oci');
    const p = onPath([dir], 'modelship', ['pack', SAMPLE_MODEL, '--output', out, '--no-cache', '--json']);
    expect(p.status).toBe(0);
    expect((JSON.parse(p.stdout) as { digest: string }).digest).toMatch(/^sha256:/);
    expect(r.summary).toContain('modelship setup');
    // the cache service is absent here: a warning, not a failure
    expect(r.stdout).toMatch(/::warning::digest cache not restored: the Actions cache service is not available/);
    expect(j.file('env')).toContain('MODELSHIP_CACHE_DIR');
  });

  it('a second job reuses the cached copy; a copy from another bundle is replaced', async () => {
    const first = join(shared, 'modelship', CLI_VERSION, process.arch);
    writeFileSync(join(first, 'sentinel'), 'kept when reused');
    const j = job('reuse', shared);
    const r = await j.run({ cache: 'false' });
    expect(r.status).toBe(0);
    expect(r.outputs.path).toBe(first);
    expect(r.stdout).toContain('found in the tool cache');
    expect(existsSync(join(first, 'sentinel'))).toBe(true);
    expect(r.stdout).not.toContain('digest cache');

    writeFileSync(join(first, '.modelship-bundle-sha256'), `${'0'.repeat(64)}\n`);
    const again = await job('replace', shared).run({ cache: 'false' });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('installed into the tool cache');
    expect(existsSync(join(first, 'sentinel'))).toBe(false);
    expect(onPath([first], 'modelship', ['--version']).stdout.trim()).toBe(CLI_VERSION);
  });

  it('the post step saves the digest cache only through the cache service: here it warns and succeeds', async () => {
    const j = job('post-cache');
    const cacheDir = join(j.workDir, 'digests');
    mkdirSync(cacheDir);
    const state = { STATE_isPost: 'true', STATE_digestCacheDir: cacheDir };
    const empty = await j.run({}, state);
    expect(empty.status).toBe(0);
    expect(empty.stdout).toContain('digest cache not saved: nothing was hashed');
    writeFileSync(join(cacheDir, 'digests.json'), '{"version":1,"entries":{}}');
    const r = await j.run({}, state);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/::warning::digest cache not saved: the Actions cache service is not available/);
    // post does not install anything
    expect(readdirSync(j.toolCache)).toEqual([]);
  });

  it('outside a runner (no RUNNER_TOOL_CACHE) it fails naming the variable', async () => {
    const r = await job('no-runner').run({ cache: 'false' }, { RUNNER_TOOL_CACHE: '' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::USAGE: RUNNER_TOOL_CACHE is not set/);
  });
});

describe('actions/setup: registry logins', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd', users: { alice: 'al1ce-Secret-pw' } });
  });
  afterAll(async () => reg?.cleanup());

  it('merges the logins into a copy of the docker config, masks passwords, and the CLI uses them', async () => {
    const j = job('login');
    const userConfig = join(j.workDir, 'user-docker');
    mkdirSync(userConfig);
    const original = {
      auths: {
        'other.example.com': { auth: Buffer.from('carol:carol-pw').toString('base64') },
        'https://ghcr.io/v1/': { auth: Buffer.from('stale:stale-pw').toString('base64') },
      },
      credHelpers: { 'ghcr.io': 'desktop', 'gcr.io': 'gcloud' },
      HttpHeaders: { 'User-Agent': 'x' },
    };
    writeFileSync(join(userConfig, 'config.json'), JSON.stringify(original));
    const r = await j.run(
      {
        registry: reg.host,
        username: 'alice',
        password: 'al1ce-Secret-pw',
        logins: 'ghcr.io bob ghp_b0bs token with spaces\n\n# comment\n',
        cache: 'false',
      },
      { DOCKER_CONFIG: userConfig },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const dir = r.outputs['docker-config']!;
    expect(dir).toBe(join(j.workDir, 'modelship-docker-config'));
    expect(j.file('env')).toContain(`DOCKER_CONFIG<<`);
    expect(j.file('env')).toContain(dir);
    const written = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as typeof original & {
      auths: Record<string, { auth: string }>;
      credHelpers: Record<string, string>;
    };
    const decode = (k: string) => Buffer.from(written.auths[k]!.auth, 'base64').toString();
    expect(decode(reg.host)).toBe('alice:al1ce-Secret-pw');
    expect(decode('ghcr.io')).toBe('bob:ghp_b0bs token with spaces');
    expect(written.auths['https://ghcr.io/v1/']).toBeUndefined(); // the stale entry for the same host
    expect(decode('other.example.com')).toBe('carol:carol-pw');
    expect(written.credHelpers).toEqual({ 'ghcr.io': '', 'gcr.io': 'gcloud' });
    expect(written.HttpHeaders).toEqual(original.HttpHeaders);
    // the user's own file is untouched
    expect(JSON.parse(readFileSync(join(userConfig, 'config.json'), 'utf8'))).toEqual(original);

    expect(r.stdout).toContain('::add-mask::al1ce-Secret-pw');
    expect(r.stdout).toContain('::add-mask::ghp_b0bs token with spaces');
    const rest = r.stdout.replace(/::add-mask::.*\n/g, '') + r.summary + j.file('env') + j.file('state');
    expect(rest).not.toContain('al1ce-Secret-pw');
    expect(rest).not.toContain('ghp_b0bs');
    expect(r.summary).toContain(reg.host);

    // a later step: the CLI on PATH pushes with the login from DOCKER_CONFIG alone
    const model = copySample(j.workDir);
    const push = onPath(
      [r.outputs.path!],
      'modelship',
      ['pack', model, '--push', `${reg.host}/acme/model:v1`, '--plain-http', '--no-cache', '--json'],
      { DOCKER_CONFIG: dir, MODELSHIP_REGISTRY_USERNAME: '', MODELSHIP_REGISTRY_PASSWORD: '' },
    );
    expect(push.stderr).toBe('');
    expect(push.status).toBe(0);
    // and without it the registry refuses
    const denied = onPath(
      [r.outputs.path!],
      'modelship',
      ['pack', model, '--push', `${reg.host}/acme/model:v2`, '--plain-http', '--no-cache'],
      { DOCKER_CONFIG: userConfig, MODELSHIP_REGISTRY_USERNAME: '', MODELSHIP_REGISTRY_PASSWORD: '' },
    );
    expect(denied.status).toBe(5);

    // the post step removes the written credentials
    const post = await j.run({ cache: 'false' }, { STATE_isPost: 'true', STATE_dockerConfigDir: dir });
    expect(post.status).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  it('bad login input is a usage error that names the fix and never echoes a password', async () => {
    const j = job('bad-login');
    const half = await j.run({ registry: 'ghcr.io', password: 'half-a-login-pw', cache: 'false' });
    expect(half.status).toBe(1);
    expect(half.stdout).toMatch(/::error::USAGE: inputs registry, username and password go together/);
    const line = await j.run({ logins: 'ghcr.io\nquay.io onlyuser-no-pw', cache: 'false' });
    expect(line.status).toBe(1);
    expect(line.stdout).toMatch(/::error::USAGE: input logins, line 1: expected "REGISTRY USERNAME PASSWORD"/);
    const host = await j.run({ logins: 'bob@evil.example bob very-secret-pw', cache: 'false' });
    expect(host.status).toBe(1);
    expect(host.stdout).toMatch(/is not a registry host/);
    expect(host.stdout.replace(/::add-mask::.*\n/g, '')).not.toContain('very-secret-pw');
    const twice = await j.run({ logins: 'ghcr.io a pw-one-xx\nhttps://ghcr.io b pw-two-xx', cache: 'false' });
    expect(twice.status).toBe(1);
    expect(twice.stdout).toMatch(/registry ghcr.io has two logins/);
  });
});

describe('actions/setup: pinned peer tools from a local HTTP server', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  let archive: Buffer;
  let sha: string;

  beforeAll(async () => {
    const src = join(tmp.dir, 'tool-src');
    mkdirSync(join(src, 'hello-1.0.0', 'bin'), { recursive: true });
    writeFileSync(join(src, 'hello-1.0.0', 'bin', 'hello'), '#!/bin/sh\necho "hello tool 1.0.0"\n', { mode: 0o755 });
    writeFileSync(join(src, 'hello-1.0.0', 'README'), 'a peer tool\n');
    execFileSync('tar', ['-czf', join(tmp.dir, 'hello.tar.gz'), '-C', src, 'hello-1.0.0']);
    archive = readFileSync(join(tmp.dir, 'hello.tar.gz'));
    sha = createHash('sha256').update(archive).digest('hex');
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url?.endsWith('.tar.gz')) {
        res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': archive.length });
        res.end(archive);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads, checks the sha256, unpacks, caches and puts the tool on PATH; a second job reuses it', async () => {
    const j = job('tools');
    const r = await j.run({ tools: `hello v1.0.0 ${base}/hello-1.0.0.tar.gz ${sha}`, cache: 'false' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const tools = JSON.parse(r.outputs.tools!) as Record<string, string>;
    expect(tools.hello).toBe(join(j.toolCache, 'hello', '1.0.0', process.arch, 'hello-1.0.0', 'bin'));
    expect(j.file('path').split('\n')).toContain(tools.hello);
    expect(onPath([tools.hello!], 'hello', []).stdout).toBe('hello tool 1.0.0\n');
    expect(requests).toEqual(['/hello-1.0.0.tar.gz']);
    expect(readdirSync(j.workDir).filter((f) => f.startsWith('modelship-tool-'))).toEqual([]);

    const again = await runAction(
      'setup',
      { tools: `hello 1.0.0 ${base}/hello-1.0.0.tar.gz ${sha}`, cache: 'false' },
      j.workDir,
      j.env,
    );
    expect(again.status).toBe(0);
    expect(JSON.parse(again.outputs.tools!)).toEqual(tools);
    expect(requests).toHaveLength(1);
  });

  it('a sha256 mismatch fails the step naming tool, expected and actual; nothing is cached', async () => {
    const j = job('tools-bad');
    const wrong = 'ab'.repeat(32);
    const r = await j.run({ tools: `evil 2.0.0 ${base}/evil-2.0.0.tar.gz ${wrong}`, cache: 'false' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      `::error::INVALID: checksum mismatch for evil 2.0.0 from ${base}/evil-2.0.0.tar.gz: expected sha256 ${wrong}, got ${sha}`,
    );
    expect(existsSync(join(j.toolCache, 'evil'))).toBe(false);
    expect(readdirSync(j.workDir).filter((f) => f.startsWith('modelship-tool-'))).toEqual([]);
    expect(j.file('path')).not.toContain('evil');
  });

  it('malformed tool lines are usage errors naming the line and field', async () => {
    const j = job('tools-usage');
    const cases: [string, RegExp][] = [
      [`hello 1.0.0 ${base}/h.tar.gz`, /line 1: expected "NAME VERSION URL SHA256", got 3 fields/],
      [`hello latest ${base}/h.tar.gz ${sha}`, /version "latest" of hello is not X.Y.Z/],
      [`hello 1.0.0 ftp://x/h.tar.gz ${sha}`, /hello URL must be http\(s\)/],
      [`# pinned\nhello 1.0.0 ${base}/h.tar.gz 1234`, /line 2: sha256 of hello must be 64 hex digits/],
      [`../x 1.0.0 ${base}/h.tar.gz ${sha}`, /tool name "..\/x"/],
    ];
    for (const [tools, message] of cases) {
      const r = await j.run({ tools, cache: 'false' });
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(message);
    }
    expect(requests.filter((u) => u.includes('/h.tar.gz'))).toEqual([]);
  });
});
