import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/**
 * Source URL and revision from the git checkout holding the model dir. Refs and config are
 * read from the files (no git needed); only the dirty check runs `git status`, and is
 * skipped when git is not installed.
 */
export interface GitInfo {
  sourceURL?: string;
  /** HEAD commit, suffixed `-dirty` when the model dir has uncommitted changes (as modctl does). */
  revision?: string;
  commit?: string;
  dirty?: boolean;
  warnings: string[];
}

async function readText(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** The git dir for `start` or a parent, following `.git` files (worktrees, submodules). */
async function findGitDir(start: string): Promise<{ gitDir: string; commonDir: string } | undefined> {
  for (let dir = start; ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    try {
      const st = await stat(dotGit);
      let gitDir = dotGit;
      if (st.isFile()) {
        const m = /^gitdir:\s*(.+?)\s*$/m.exec((await readText(dotGit)) ?? '');
        if (!m) return undefined;
        gitDir = isAbsolute(m[1]!) ? m[1]! : resolve(dir, m[1]!);
      }
      const common = (await readText(join(gitDir, 'commondir')))?.trim();
      return { gitDir, commonDir: common ? resolve(gitDir, common) : gitDir };
    } catch {
      // no .git here: look further up
    }
    if (dirname(dir) === dir) return undefined;
  }
}

const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

async function resolveRef(gitDir: string, commonDir: string, ref: string, depth = 0): Promise<string | undefined> {
  if (depth > 5) return undefined;
  for (const base of [gitDir, commonDir]) {
    const v = (await readText(join(base, ref)))?.trim();
    if (v === undefined) continue;
    if (SHA_RE.test(v)) return v;
    const sym = /^ref:\s*(\S+)/.exec(v);
    if (sym) return resolveRef(gitDir, commonDir, sym[1]!, depth + 1);
  }
  const packed = (await readText(join(commonDir, 'packed-refs'))) ?? '';
  for (const line of packed.split(/\r?\n/)) {
    const [sha, name] = line.trim().split(/\s+/);
    if (name === ref && sha && SHA_RE.test(sha)) return sha;
  }
  return undefined;
}

/** The remote URLs of a git config, by remote name. */
export function parseGitRemotes(config: string): Map<string, string> {
  const remotes = new Map<string, string>();
  let current: string | undefined;
  for (const raw of config.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*([^\s\]"]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/.exec(line);
    if (section) {
      current = section[1]!.toLowerCase() === 'remote' && section[2] !== undefined ? section[2] : undefined;
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(line);
    if (current !== undefined && kv && kv[1]!.toLowerCase() === 'url' && !remotes.has(current)) {
      remotes.set(current, kv[2]!.replace(/^"(.*)"$/, '$1'));
    }
  }
  return remotes;
}

/**
 * Removes credentials from a remote URL: `https://user:token@host/…` → `https://host/…`. For
 * ssh the user name is kept (`git@` is not a secret) but a password is not.
 */
export function stripUrlCredentials(url: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url; // scp-like git@host:path carries no password
  try {
    const u = new URL(url);
    if (u.protocol === 'http:' || u.protocol === 'https:') u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

export interface WorkTreeStatus {
  /** Paths (relative to the repository root, '/'-separated) under the dir that differ from HEAD or are untracked. */
  changed: Set<string>;
}

export type GitStatusResult = WorkTreeStatus | 'no-git' | Error;

/**
 * `git status` of the work tree under `dir`. pack runs it once and shares it between the dirty
 * check and the Git LFS digests: on a fresh clone git re-hashes racily-clean files (through the
 * LFS clean filter: a full read) each time it is asked. ctime is ignored: packing into a layout
 * hard-links the files, which changes only their ctime.
 */
export function gitWorkTreeStatus(dir: string): Promise<GitStatusResult> {
  const key = resolve(dir);
  return new Promise((done) => {
    execFile(
      'git',
      ['-c', 'core.trustctime=false', 'status', '--porcelain', '-z', '--untracked-files=normal', '--', '.'],
      // Optional locks off: never take index.lock in someone else's checkout.
      {
        cwd: key,
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
      },
      (err, stdout) => {
        if (err) {
          done((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no-git' : err);
          return;
        }
        // -z records: "XY path", and for renames/copies one more record with the old path.
        const changed = new Set<string>();
        const recs = stdout.split('\0');
        for (let i = 0; i < recs.length; i++) {
          const r = recs[i]!;
          if (r.length < 4) continue;
          changed.add(r.slice(3));
          if (r[0] === 'R' || r[0] === 'C') changed.add(recs[++i] ?? '');
        }
        done({ changed });
      },
    );
  });
}

async function gitStatusDirty(status: Promise<GitStatusResult>): Promise<boolean | 'no-git' | Error> {
  const s = await status;
  return typeof s === 'object' && 'changed' in s ? s.changed.size > 0 : s;
}

export async function readGitInfo(
  dir: string,
  options: { checkDirty?: boolean; status?: () => Promise<GitStatusResult> } = {},
): Promise<GitInfo> {
  const info: GitInfo = { warnings: [] };
  const found = await findGitDir(dir);
  if (!found) return info;
  const { gitDir, commonDir } = found;

  const remotes = parseGitRemotes((await readText(join(commonDir, 'config'))) ?? '');
  const url = remotes.get('origin') ?? (remotes.size === 1 ? [...remotes.values()][0] : undefined);
  if (url) info.sourceURL = stripUrlCredentials(url);

  const head = (await readText(join(gitDir, 'HEAD')))?.trim();
  if (head) {
    const sym = /^ref:\s*(\S+)/.exec(head);
    const commit = sym ? await resolveRef(gitDir, commonDir, sym[1]!) : SHA_RE.test(head) ? head : undefined;
    if (commit) {
      info.commit = commit;
      info.revision = commit;
    }
  }
  if (info.commit && options.checkDirty !== false) {
    const dirty = await gitStatusDirty(options.status ? options.status() : gitWorkTreeStatus(dir));
    if (dirty === true || dirty === false) {
      info.dirty = dirty;
      if (dirty) info.revision = `${info.commit}-dirty`;
    } else if (dirty instanceof Error) {
      info.warnings.push(`could not check whether the git work tree is dirty: ${dirty.message.split('\n')[0]}`);
    }
  }
  return info;
}
