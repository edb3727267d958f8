// Security review, secrets: every action that takes a password, token or private key is run
// through its dist bundle with distinctive secret values — on success and on failure — and no
// secret may appear in stdout, stderr, the job summary, outputs or exported variables except
// in the runner's own `::add-mask::` command, which must come before any other use. The CLI's
// error paths are checked the same way.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { runAction, type ActionRun } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-secrets-');
afterAll(() => tmp.cleanup());

const secret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;
const PASSWORD = secret('regpass');
const PASSWORD_2 = secret('regpass2');
const WRONG = secret('wrongpass');
const KEY_PASSWORD = secret('keypass');
const GITHUB_TOKEN = `ghs_${randomBytes(18).toString('hex')}`;
const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const KEY_PEM = keys.privateKey.export({
  type: 'pkcs8',
  format: 'pem',
  cipher: 'aes-256-cbc',
  passphrase: KEY_PASSWORD,
}) as string;

/** What must never be printed: each password, and each base64 line of the PEM. */
function needles(secrets: string[]): string[] {
  return secrets.flatMap((s) =>
    s
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length >= 8 && !l.startsWith('-----')),
  );
}

function expectNoLeak(r: ActionRun, workDir: string, name: string, secrets: string[]): void {
  const ns = needles(secrets);
  const masked = new Set<string>();
  for (const stream of [r.stdout, r.stderr])
    for (const line of stream.split('\n')) {
      if (line.startsWith('::add-mask::')) {
        masked.add(line.slice('::add-mask::'.length).trim());
        continue;
      }
      for (const n of ns) {
        if (line.includes(n)) throw new Error(`${name}: secret printed in "${line.slice(0, 120)}"`);
      }
    }
  // Masked before anything could print it: every needle is covered by an add-mask value.
  for (const n of ns)
    if (![...masked].some((m) => m.includes(n))) throw new Error(`${name}: secret ${n.slice(0, 12)}… was never masked`);
  const elsewhere = [
    r.summary,
    JSON.stringify(r.outputs),
    ...['env', 'path'].map((f) => {
      const p = join(workDir, `${name}-${f}.txt`);
      return existsSync(p) ? readFileSync(p, 'utf8') : '';
    }),
  ].join('\n');
  for (const n of ns) expect(elsewhere.includes(n)).toBe(false);
}

describe('the leak check itself', () => {
  const run = (stdout: string, summary = ''): ActionRun => ({ status: 0, stdout, stderr: '', outputs: {}, summary });
  it('catches a printed secret, an unmasked one and one in the summary', () => {
    const w = tmp.dir;
    expect(() => expectNoLeak(run(`::add-mask::${PASSWORD}\nlogin with ${PASSWORD}\n`), w, 'x', [PASSWORD])).toThrow(
      /secret printed/,
    );
    expect(() => expectNoLeak(run('nothing here\n'), w, 'x', [PASSWORD])).toThrow(/never masked/);
    expect(() => expectNoLeak(run(`::add-mask::${PASSWORD}\n`, `| ${PASSWORD} |`), w, 'x', [PASSWORD])).toThrow();
    expect(() => expectNoLeak(run(`::add-mask::${PASSWORD}\nok\n`), w, 'x', [PASSWORD])).not.toThrow();
  });
});

describe('secrets never reach logs, summaries or outputs', () => {
  let reg: TestRegistry;
  let reg2: TestRegistry;
  let ref: string;
  const keyPath = join(tmp.dir, 'release.pub');
  const policy = join(tmp.dir, 'policy.yaml');
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd', users: { ci: PASSWORD } });
    reg2 = await startRegistry({ auth: 'htpasswd', users: { prod: PASSWORD_2 } });
    writeFileSync(keyPath, keys.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${keyPath} }\n`);
  });
  afterAll(async () => {
    await reg?.cleanup();
    await reg2?.cleanup();
  });

  const dir = (name: string): string => {
    const d = join(tmp.dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };

  it('pack: registry password on success and on a wrong password', async () => {
    const w = dir('pack');
    const model = copySample(w);
    const target = `${reg.host}/secrets/model:v1`;
    const ok = await runAction(
      'pack',
      { path: model, push: target, 'plain-http': 'true', username: 'ci', password: PASSWORD },
      w,
    );
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    ref = `${reg.host}/secrets/model@${ok.outputs.digest}`;
    expectNoLeak(ok, w, 'pack', [PASSWORD]);
    const bad = await runAction(
      'pack',
      { path: model, push: target, 'plain-http': 'true', username: 'ci', password: WRONG },
      w,
    );
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/auth|401|unauthorized|credentials/i);
    expectNoLeak(bad, w, 'pack', [WRONG]);
  });

  it('sign and attest: the key PEM, its password, the registry password and the GitHub token', async () => {
    const w = dir('sign');
    const common = {
      reference: ref,
      'plain-http': 'true',
      username: 'ci',
      password: PASSWORD,
      key: KEY_PEM,
      'key-password': KEY_PASSWORD,
      tlog: 'false',
    };
    const s = await runAction('sign', common, w);
    expect(s.stderr).toBe('');
    expect(s.status).toBe(0);
    expectNoLeak(s, w, 'sign', [PASSWORD, KEY_PEM, KEY_PASSWORD]);
    const a = await runAction('attest', { ...common, types: 'mof', 'github-token': GITHUB_TOKEN }, w);
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    expectNoLeak(a, w, 'attest', [PASSWORD, KEY_PEM, KEY_PASSWORD, GITHUB_TOKEN]);
    // A wrong key password fails without echoing either secret.
    const bad = await runAction('sign', { ...common, 'key-password': WRONG }, w);
    expect(bad.status).not.toBe(0);
    expectNoLeak(bad, w, 'sign', [PASSWORD, KEY_PEM, WRONG]);
  });

  it('verify and promote: both sides’ passwords', async () => {
    const w = dir('promote');
    const v = await runAction(
      'verify',
      { reference: ref, policy, 'plain-http': 'true', username: 'ci', password: PASSWORD },
      w,
    );
    expect(v.status).toBe(0);
    expectNoLeak(v, w, 'verify', [PASSWORD]);
    const p = await runAction(
      'promote',
      {
        source: ref,
        destination: `${reg2.host}/prod/model`,
        policy,
        tags: 'v1',
        'plain-http': 'true',
        'source-username': 'ci',
        'source-password': PASSWORD,
        'destination-username': 'prod',
        'destination-password': PASSWORD_2,
        key: KEY_PEM,
        'key-password': KEY_PASSWORD,
        tlog: 'false',
      },
      w,
    );
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    expectNoLeak(p, w, 'promote', [PASSWORD, PASSWORD_2, KEY_PEM, KEY_PASSWORD]);
    const bad = await runAction(
      'promote',
      {
        source: ref,
        destination: `${reg2.host}/prod/other`,
        policy,
        record: 'false',
        'plain-http': 'true',
        'source-username': 'ci',
        'source-password': PASSWORD,
        'destination-username': 'prod',
        'destination-password': WRONG,
      },
      w,
    );
    expect(bad.status).not.toBe(0);
    expectNoLeak(bad, w, 'promote', [PASSWORD, WRONG]);
  });

  it('setup: login passwords (single and multi-line logins)', async () => {
    const w = dir('setup');
    const toolCache = join(w, 'toolcache');
    mkdirSync(toolCache, { recursive: true });
    const r = await runAction(
      'setup',
      {
        registry: reg.host,
        username: 'ci',
        password: PASSWORD,
        logins: `${reg2.host} prod ${PASSWORD_2}`,
        cache: 'false',
      },
      w,
      { RUNNER_TOOL_CACHE: toolCache, RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', DOCKER_CONFIG: join(w, 'none') },
    );
    expect(r.status).toBe(0);
    expectNoLeak(r, w, 'setup', [PASSWORD, PASSWORD_2]);
  });

  it('release: everything at once', async () => {
    const w = dir('release');
    const model = copySample(w);
    const r = await runAction(
      'release',
      {
        path: model,
        push: `${reg.host}/secrets/released:v1`,
        'plain-http': 'true',
        username: 'ci',
        password: PASSWORD,
        key: KEY_PEM,
        'key-password': KEY_PASSWORD,
        tlog: 'false',
        'github-token': GITHUB_TOKEN,
        types: 'mof',
      },
      w,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expectNoLeak(r, w, 'release', [PASSWORD, KEY_PEM, KEY_PASSWORD, GITHUB_TOKEN]);
  });

  it('CLI: a wrong password from the environment is not echoed in errors', async () => {
    const w = dir('cli');
    const layout = join(w, 'oci');
    await packSample(w, `oci:${layout}:v1`);
    const r = await runCli(
      ['push', `oci:${layout}:v1`, `${reg.host}/secrets/cli:v1`, '--plain-http', '--username', 'ci'],
      {
        env: { MODELSHIP_REGISTRY_PASSWORD: WRONG, MODELSHIP_DEBUG: '1' },
      },
    );
    expect(r.status).toBe(5);
    expect(r.stdout + r.stderr).not.toContain(WRONG);
  });
});
