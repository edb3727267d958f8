// Packing a directory someone else wrote runs nothing it names (issue 11, item 9): a model
// checkout whose .git/config sets core.fsmonitor, hooks, filter drivers (named by its
// .gitattributes), a pager, diff.external, an include... is packed with real git without any
// of them running, and the dirty check and Git LFS digests still work (modelpack/git.ts).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-hostile-git-');
afterAll(() => tmp.cleanup());

const markers = join(tmp.dir, 'markers');
const evil = join(tmp.dir, 'evil.sh');
const hooks = join(tmp.dir, 'hooks');
const HOOK_NAMES = [
  'post-index-change',
  'pre-commit',
  'post-checkout',
  'reference-transaction',
  'fsmonitor-watchman',
  'pre-auto-gc',
];

// The repository under test is made with the user's config kept out, so only what the
// test writes into .git/config is in play.
const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' },
  });

const ran = (): string[] => readdirSync(markers);

interface PackJson {
  digest: string;
  config: { descriptor: { revision?: string } };
  layers: { path: string; digest: string }[];
  stats: { gitLfs: number; bytesRead: number };
}

async function pack(model: string, out: string): Promise<PackJson> {
  const r = await runCli(['pack', model, '--output', `${out}:v1`, '--json', '--no-progress'], {
    env: { MODELSHIP_CACHE_DIR: join(tmp.dir, 'cache') },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as PackJson;
}

/** Every way a .git/config can make git run a program that a status / ls-files / cat-file could reach. */
function hostileConfig(extra = ''): string {
  return [
    '[core]',
    `\tfsmonitor = ${evil} fsmonitor`,
    `\thooksPath = ${hooks}`,
    `\tpager = ${evil} pager`,
    `\tsshCommand = ${evil} ssh`,
    `\taskPass = ${evil} askpass`,
    '[diff]',
    `\texternal = ${evil} diff`,
    '[filter "evil"]',
    `\tclean = ${evil} clean`,
    `\tsmudge = ${evil} smudge`,
    '[filter "evilproc"]',
    `\tprocess = ${evil} process`,
    '[pager]',
    '\tstatus = true',
    '[status]',
    '\tsubmoduleSummary = true',
    '[protocol "ext"]',
    '\tallow = always',
    '[credential]',
    `\thelper = !${evil} credential`,
    '[include]',
    `\tpath = ${join(tmp.dir, 'included.config')}`,
    extra,
    '',
  ].join('\n');
}

beforeAll(() => {
  mkdirSync(markers);
  mkdirSync(hooks);
  // Records that it ran, then behaves as a pass-through filter.
  writeFileSync(evil, `#!/bin/sh\necho "$*" > "${markers}/ran-$$"\ncat\n`);
  chmodSync(evil, 0o755);
  for (const h of HOOK_NAMES) {
    writeFileSync(join(hooks, h), `#!/bin/sh\necho hook > "${markers}/hook-${h}-$$"\n`);
    chmodSync(join(hooks, h), 0o755);
  }
  writeFileSync(join(tmp.dir, 'included.config'), `[core]\n\tfsmonitor = ${evil} included-fsmonitor\n`);
});
beforeEach(() => {
  for (const m of ran()) rmSync(join(markers, m));
});

/** New mtimes (same bytes): git cannot vouch for the files from their stat data and must clean them again. */
function touchAll(dir: string, names: string[]): void {
  const later = new Date(Date.now() + 5000);
  for (const n of names) utimesSync(join(dir, n), later, later);
}

describe('pack runs nothing a hostile .git/config names', () => {
  it('fsmonitor, hooks, clean/process filters, pager, diff.external, includes: none run; the revision is still read', async () => {
    const repo = join(tmp.dir, 'plain');
    const model = copySample(repo, 'model');
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, '.gitattributes'), '*.json filter=evil\n*.safetensors filter=evilproc\n*.md diff=evil\n');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'model');
    const head = git(repo, 'rev-parse', 'HEAD').trim();
    appendFileSync(join(repo, '.git', 'config'), hostileConfig());
    const names = readdirSync(model);
    touchAll(model, names);

    // The trap is real: plain `git status` in the checkout runs the repository's programs.
    execFileSync('git', ['status', '--porcelain'], { cwd: model, stdio: 'ignore' });
    expect(ran().length).toBeGreaterThan(0);
    for (const m of ran()) rmSync(join(markers, m));
    touchAll(model, names);

    const r = await pack(model, join(tmp.dir, 'oci-plain'));
    expect(ran()).toEqual([]);
    // git still answered: the touched files have the committed bytes, so the work tree is clean.
    expect(r.config.descriptor.revision).toBe(head);

    // And a real change is still seen.
    writeFileSync(join(model, 'README.md'), 'changed\n');
    const dirty = await pack(model, join(tmp.dir, 'oci-plain-dirty'));
    expect(ran()).toEqual([]);
    expect(dirty.config.descriptor.revision).toBe(`${head}-dirty`);
  });

  it('a Git LFS checkout whose config swaps in its own lfs filter: nothing runs, and LFS digests still come from the pointers', async () => {
    const repo = join(tmp.dir, 'lfs');
    const model = copySample(repo, 'model');
    writeFileSync(join(model, 'extra.safetensors'), randomBytes(2 * 1024 * 1024));
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'lfs', 'install', '--local');
    git(repo, 'lfs', 'track', '*.safetensors');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'model');
    const head = git(repo, 'rev-parse', 'HEAD').trim();
    const lfsFiles = git(repo, 'lfs', 'ls-files', '-n').split('\n').filter(Boolean);
    expect(lfsFiles.length).toBeGreaterThan(1);
    // The repository now claims its own programs are the LFS filter.
    appendFileSync(
      join(repo, '.git', 'config'),
      `[filter "lfs"]\n\tprocess = ${evil} lfs-process\n\tclean = ${evil} lfs-clean\n\trequired = true\n[lfs "extension.x"]\n\tclean = ${evil} lfs-ext\n`,
    );
    // Touched: git must clean every LFS file again to vouch for it (the fresh-clone case).
    touchAll(
      model,
      readdirSync(model).filter((n) => n.endsWith('.safetensors')),
    );

    const r = await pack(model, join(tmp.dir, 'oci-lfs'));
    expect(ran()).toEqual([]);
    // modelship's own clean filter vouched for them: digests from the pointers, a clean revision.
    expect(r.stats.gitLfs).toBe(lfsFiles.length);
    expect(r.config.descriptor.revision).toBe(head);
    const hashed = await runCli([
      'pack',
      model,
      '--output',
      `${join(tmp.dir, 'oci-lfs-hashed')}:v1`,
      '--json',
      '--no-cache',
    ]);
    expect(hashed.status).toBe(0);
    expect((JSON.parse(hashed.stdout) as PackJson).layers).toEqual(r.layers);
  });
});
