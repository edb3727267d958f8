// The private git dir pack runs git with (src/modelpack/git.ts): the repository's own config
// is never read, yet the settings that change how git compares files still apply (from a
// validated allow-list), worktrees work, and nothing is left behind in the temp dir.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitWorkTreeStatus, openGitSession, parseGitConfig } from '../src/modelpack/git.js';

const root = mkdtempSync(join(tmpdir(), 'modelship-git-session-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });

function repo(name: string): string {
  const dir = join(root, name);
  execFileSync('mkdir', ['-p', dir]);
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'run.sh'), 'echo hi\n');
  writeFileSync(join(dir, 'config.json'), '{}');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'x');
  return dir;
}

const changed = async (dir: string): Promise<string[]> => {
  const s = await gitWorkTreeStatus(dir);
  if (typeof s !== 'object' || !('changed' in s)) throw new Error(`no status: ${String(s)}`);
  return [...s.changed].sort();
};

describe('parseGitConfig', () => {
  it('reads sections, subsections (both spellings), bare booleans and comments', () => {
    expect(
      parseGitConfig(
        '[core]\n\tfileMode = false ; no exec bits here\n\tbare\n[remote "origin"]\n\turl = "https://x/y"\n[branch.main]\n\tremote = origin\n',
      ),
    ).toEqual([
      { key: 'core.filemode', value: 'false' },
      { key: 'core.bare', value: 'true' },
      { key: 'remote.url', subsection: 'origin', value: 'https://x/y' },
      { key: 'branch.remote', subsection: 'main', value: 'origin' },
    ]);
  });
});

describe('git status through the private git dir', () => {
  it('a mode change counts, unless the repository says core.fileMode = false (allow-listed, copied)', async () => {
    const dir = repo('filemode');
    chmodSync(join(dir, 'run.sh'), 0o755);
    expect(await changed(dir)).toEqual(['run.sh']);
    git(dir, 'config', 'core.fileMode', 'false');
    expect(await changed(dir)).toEqual([]);
  });

  it('values outside the allow-list are not copied, even for allow-listed keys', async () => {
    const dir = repo('badvalue');
    chmodSync(join(dir, 'run.sh'), 0o755);
    // Not a boolean: refused (git itself would die on it); the default (true) applies.
    writeFileSync(join(dir, '.git', 'config'), '[core]\n\trepositoryformatversion = 0\n\tfilemode = "!sh -c x"\n');
    expect(await changed(dir)).toEqual(['run.sh']);
  });

  it('works in a linked worktree (its own HEAD and index, the common object store)', async () => {
    const main = repo('main-wt');
    const linked = join(root, 'linked-wt');
    git(main, 'worktree', 'add', '-q', '-b', 'other', linked);
    expect(await changed(linked)).toEqual([]);
    writeFileSync(join(linked, 'config.json'), '{"x":1}');
    writeFileSync(join(linked, 'new.txt'), 'n');
    expect(await changed(linked)).toEqual(['config.json', 'new.txt']);
    // The main worktree is untouched.
    expect(await changed(main)).toEqual([]);
  });

  it('the private git dir is removed on close', async () => {
    const dir = repo('cleanup');
    const session = openGitSession(dir);
    expect(await session.top()).toBe(dir);
    const gitDir = (await session.run(['rev-parse', '--absolute-git-dir']))!.toString('utf8').trim();
    expect(gitDir).not.toBe(join(dir, '.git'));
    expect(existsSync(join(gitDir, 'config'))).toBe(true);
    await session.close();
    expect(existsSync(gitDir)).toBe(false);
  });
});
