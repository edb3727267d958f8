/**
 * actions/verify's pull-request comment (input github-token), in-process against a real
 * registry with a key-signed model and a stand-in of GitHub's REST API on 127.0.0.1
 * (test/helpers/github-api.ts): the first run posts one comment, the next updates it, no token
 * makes no API call, an API failure is a warning and the check result stays the verification's.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingContext, type Recorded } from '../../common/test/fake-context.js';
import { packSample, runCli } from '../../../test/helpers/cli.js';
import { peopleComments, startGitHubApiStandin, type GitHubApiStandin } from '../../../test/helpers/github-api.js';
import { startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import type { Inputs } from '../src/run.js';

const TOKEN = 'ghs_standinToken0123456789abcdefABCDEF';
const MARKER = '<!-- modelship-pr-check -->';
const tmp = tempDir();
let reg: TestRegistry;
let api: GitHubApiStandin;
let pinned: string;
let policy: string;
// Loaded after the event variables are set: @actions/github reads its context on import.
let mod: {
  run: typeof import('../src/run.js').run;
  readInputs: typeof import('../src/run.js').readInputs;
};

beforeAll(async () => {
  [reg, api] = await Promise.all([startRegistry(), startGitHubApiStandin(TOKEN)]);
  const event = join(tmp.dir, 'event.json');
  writeFileSync(event, JSON.stringify({ action: 'synchronize', number: 7, pull_request: { number: 7 } }));
  Object.assign(process.env, {
    GITHUB_EVENT_PATH: event,
    GITHUB_EVENT_NAME: 'pull_request',
    GITHUB_REPOSITORY: 'acme/models',
    GITHUB_API_URL: api.url,
  });
  const run = await import('../src/run.js');
  mod = { run: run.run, readInputs: run.readInputs };

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, 'release.key');
  const pub = join(tmp.dir, 'release.pub');
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  const digest = await packSample(tmp.dir, `${reg.host}/acme/model:v1`);
  pinned = `${reg.host}/acme/model@${digest}`;
  const signed = await runCli(['sign', pinned, '--key', key, '--no-tlog', '--plain-http']);
  expect(signed.status).toBe(0);
  policy = join(tmp.dir, 'policy.yaml');
  writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);
});
afterAll(async () => {
  await Promise.all([reg?.cleanup(), api?.stop()]);
  tmp.cleanup();
});

let files = 0;
function refsFile(lines: string[]): string {
  const p = join(tmp.dir, `models-${++files}.txt`);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

async function inputs(refs: string[], comment: boolean, number = 7): Promise<Inputs> {
  return {
    reference: '',
    referencesFile: refsFile(refs),
    manifests: [],
    policy,
    tuf: {},
    publicKeys: [],
    registry: { plainHttp: true },
    showSummary: true,
    ...(comment ? { comment: { token: TOKEN, apiUrl: api.url, owner: 'acme', repo: 'models', number } } : {}),
  };
}

/** run() as the action's index.ts calls it: the outcome (resolved, or the error's code) and what it wrote. */
async function check(i: Inputs): Promise<{ outcome: string; recorded: Recorded }> {
  const { ctx, recorded } = recordingContext(tmp.dir);
  const outcome = await mod.run(i, ctx).then(
    () => 'ok',
    (e: unknown) => (e as { code?: string }).code ?? String(e),
  );
  return { outcome, recorded };
}

const ours = (): { id: number; body: string }[] =>
  (api.comments.get('acme/models#7') ?? []).filter((c) => c.body.startsWith(MARKER));

function expectNoToken(recorded: Recorded): void {
  const everything = JSON.stringify(recorded) + JSON.stringify([...api.comments.values()]);
  expect(everything).not.toContain(TOKEN);
}

describe('actions/verify: one pull-request comment with the verification table', () => {
  it('readInputs: github-token and the pull request of the event give the comment target', async () => {
    const env = { INPUT_POLICY: policy, 'INPUT_REFERENCES-FILE': refsFile([pinned]), 'INPUT_GITHUB-TOKEN': TOKEN };
    Object.assign(process.env, env);
    try {
      expect(mod.readInputs().comment).toEqual({
        token: TOKEN,
        apiUrl: api.url,
        owner: 'acme',
        repo: 'models',
        number: 7,
      });
      delete process.env['INPUT_GITHUB-TOKEN'];
      expect(mod.readInputs().comment).toBeUndefined();
    } finally {
      for (const k of Object.keys(env)) delete process.env[k];
    }
  });

  it('no token: no API call at all', async () => {
    api.requests.length = 0;
    const r = await check(await inputs([pinned], false));
    expect(r.outcome).toBe('ok');
    expect(api.requests).toEqual([]);
  });

  it('first run posts the table (after 120 other comments, two pages); the next run updates that comment', async () => {
    api.comments.set('acme/models#7', peopleComments(120));
    api.requests.length = 0;
    const first = await check(await inputs([pinned], true));
    expect(first.outcome).toBe('ok');
    expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'GET /repos/acme/models/issues/7/comments?per_page=100',
      'GET /repos/acme/models/issues/7/comments?per_page=100&page=2',
      'POST /repos/acme/models/issues/7/comments',
    ]);
    expect(api.requests.every((q) => q.authorization === `token ${TOKEN}`)).toBe(true);
    expect(ours()).toHaveLength(1);
    const posted = ours()[0]!;
    // The same section as the job summary, rendered as HTML, after the hidden marker.
    expect(posted.body.split('\n')[0]).toBe(MARKER);
    expect(posted.body).toContain('<h3>modelship verify: passed (1 of 1 model references verified)</h3>');
    expect(posted.body).toContain(`<td><code>${pinned}</code></td><td>pass</td>`);
    expect(first.recorded.summaries[0]![0]).toBe('# modelship verify: passed (1 of 1 model references verified)');
    expect(first.recorded.log).toContainEqual(expect.stringContaining('posted the pull-request comment'));

    // A second push to the pull request: now an unpinned reference too; the check fails and
    // the one comment says so.
    const hostile = `${reg.host}/acme/model:v1`;
    api.requests.length = 0;
    const second = await check(await inputs([pinned, hostile], true));
    expect(second.outcome).toBe('POLICY');
    expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'GET /repos/acme/models/issues/7/comments?per_page=100',
      'GET /repos/acme/models/issues/7/comments?per_page=100&page=2',
      `PATCH /repos/acme/models/issues/comments/${posted.id}`,
    ]);
    expect(ours()).toHaveLength(1);
    expect(ours()[0]!.id).toBe(posted.id);
    expect(ours()[0]!.body).toContain('modelship verify: FAILED (1 of 2 model references verified)');
    expect(ours()[0]!.body).toContain(`<td><code>${hostile}</code></td><td>FAIL</td>`);
    expect(api.comments.get('acme/models#7')).toHaveLength(121);
    expectNoToken(first.recorded);
    expectNoToken(second.recorded);
  });

  it('untrusted text in the table is escaped (a reference file line with HTML)', async () => {
    api.comments.set('acme/models#7', []);
    const r = await check(await inputs([pinned, `${reg.host}/acme/model:v1<img/src=x/onerror=alert(1)>`], true));
    expect(r.outcome).toBe('POLICY');
    const body = ours()[0]!.body;
    expect(body).not.toContain('<img');
    expect(body).toContain('&lt;img');
  });

  it('an API error (403, a read-only token) is a warning; the check result is the verification’s', async () => {
    api.comments.set('acme/models#7', []);
    api.failWith = 403;
    try {
      const ok = await check(await inputs([pinned], true));
      expect(ok.outcome).toBe('ok');
      const warning = ok.recorded.log.find((l) => l.startsWith('warning: could not post the pull-request comment'));
      expect(warning).toContain('HTTP 403: Resource not accessible by integration');
      expect(warning).toContain('pull-requests: write');
      const failing = await check(await inputs([`${reg.host}/acme/model:v1`], true));
      expect(failing.outcome).toBe('POLICY');
      expect(failing.recorded.log.some((l) => l.startsWith('warning: could not post'))).toBe(true);
      expectNoToken(ok.recorded);
      expectNoToken(failing.recorded);
    } finally {
      api.failWith = undefined;
    }
    expect(ours()).toEqual([]);
  });

  it('a run that is not for a pull request posts nothing', async () => {
    api.requests.length = 0;
    const i = await inputs([pinned], true);
    const r = await check({ ...i, comment: { ...i.comment!, number: undefined } });
    expect(r.outcome).toBe('ok');
    expect(api.requests).toEqual([]);
    expect(r.recorded.log).toContainEqual(expect.stringContaining('not for a pull request'));
  });

  it('a single reference (input reference) gets the same comment with its checks', async () => {
    api.comments.set('acme/models#7', []);
    const i = await inputs([], true);
    const r = await check({ ...i, reference: pinned, referencesFile: '' });
    expect(r.outcome).toBe('ok');
    expect(ours()).toHaveLength(1);
    expect(ours()[0]!.body).toContain('<h3>modelship verify: passed</h3>');
    expect(ours()[0]!.body).toContain('<th>Rule</th>');
  });
});
