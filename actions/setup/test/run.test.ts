import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelshipError } from '@modelship/core';
import { recordingContext } from '../../common/test/fake-context.js';
import { REPO_ROOT, tempDir } from '../../../test/helpers/tmp.js';
import { run, type Inputs } from '../src/run.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
// The committed CLI bundle: what the released action installs.
const CLI_BUNDLE = join(REPO_ROOT, 'dist', 'cli');
const RUNNER_VARS = ['RUNNER_TEMP', 'RUNNER_TOOL_CACHE', 'GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_STATE'] as const;

let saved: Partial<Record<(typeof RUNNER_VARS)[number], string>>;
let runner: string;
beforeEach(() => {
  saved = Object.fromEntries(RUNNER_VARS.map((v) => [v, process.env[v]]));
  runner = join(tmp.dir, `runner-${Math.random().toString(36).slice(2)}`);
  for (const d of ['temp', 'tool-cache']) mkdirSync(join(runner, d), { recursive: true });
  process.env.RUNNER_TEMP = join(runner, 'temp');
  process.env.RUNNER_TOOL_CACHE = join(runner, 'tool-cache');
  // @actions/core appends to these files as on a runner, instead of printing workflow commands.
  for (const [v, f] of [
    ['GITHUB_ENV', 'env'],
    ['GITHUB_PATH', 'path'],
    ['GITHUB_STATE', 'state'],
  ] as const) {
    writeFileSync(join(runner, f), '');
    process.env[v] = join(runner, f);
  }
});
afterEach(() => {
  for (const v of RUNNER_VARS) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
});

const inputs = (over: Partial<Inputs> = {}): Inputs => ({
  logins: [],
  tools: [],
  cache: false,
  showSummary: true,
  ...over,
});
const runnerFile = (name: string): string => readFileSync(join(runner, name), 'utf8');

describe('actions/setup run(inputs) in-process', () => {
  it('installs the bundled CLI into the tool cache and puts it on PATH; the shim runs it', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs(), ctx, CLI_BUNDLE);
    const out = recorded.outputs;
    expect(out.path!.startsWith(join(runner, 'tool-cache', 'modelship'))).toBe(true);
    expect(runnerFile('path').split('\n')).toContain(out.path);
    expect(execFileSync(join(out.path!, 'modelship'), ['--version'], { encoding: 'utf8' }).trim()).toBe(out.version);
    expect(out).toMatchObject({ 'docker-config': '', tools: '{}', 'cache-hit': 'false' });
    expect(recorded.summaries.map((s) => s[0])).toEqual(['# modelship setup']);

    const again = recordingContext(tmp.dir);
    await run(inputs(), again.ctx, CLI_BUNDLE);
    expect(again.recorded.outputs.path).toBe(out.path);
    expect(again.recorded.log.join('\n')).toMatch(/found in the tool cache/);
  });

  it('writes the logins to a private docker config exported as DOCKER_CONFIG, no password in any output', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    const password = 'pa55-in-process-secret';
    await run(inputs({ logins: [{ registry: 'registry.example', username: 'ci', password }] }), ctx, CLI_BUNDLE);
    const dir = recorded.outputs['docker-config']!;
    expect(runnerFile('env')).toContain(dir);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
      auths: Record<string, { auth: string }>;
    };
    expect(Buffer.from(config.auths['registry.example']!.auth, 'base64').toString()).toBe(`ci:${password}`);
    expect(statSync(join(dir, 'config.json')).mode & 0o077).toBe(0);
    const printed = JSON.stringify([recorded.outputs, recorded.log, recorded.summaries]);
    expect(printed).not.toContain(password);
  });

  it('with the cache on and no cache service, warns and goes on with a cold cache', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    await run(inputs({ cache: true }), ctx, CLI_BUNDLE);
    expect(recorded.outputs['cache-hit']).toBe('false');
    expect(recorded.log.join('\n')).toMatch(/warning: digest cache not restored: .*hashed afresh/);
  });

  it('outside a runner it is a USAGE error naming the variable', async () => {
    delete process.env.RUNNER_TOOL_CACHE;
    const e = await run(inputs(), recordingContext(tmp.dir).ctx, CLI_BUNDLE).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(ModelshipError);
    expect((e as ModelshipError).message).toMatch(/RUNNER_TOOL_CACHE is not set/);
  });
});
