import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/**
 * Source URL and revision from the git checkout holding the model dir. Refs and config are
 * read from the files (no git needed); only the dirty check runs `git status` (through a
 * private git dir: see "Running git in a directory someone else wrote" below), and is
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
async function findGitDir(start: string): Promise<{ gitDir: string; commonDir: string; workTree: string } | undefined> {
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
      return { gitDir, commonDir: common ? resolve(gitDir, common) : gitDir, workTree: dir };
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

/** The commit HEAD names, read from the files. */
async function readHeadCommit(gitDir: string, commonDir: string): Promise<string | undefined> {
  const head = (await readText(join(gitDir, 'HEAD')))?.trim();
  if (!head) return undefined;
  const sym = /^ref:\s*(\S+)/.exec(head);
  return sym ? resolveRef(gitDir, commonDir, sym[1]!) : SHA_RE.test(head) ? head : undefined;
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

/*
 * Running git in a directory someone else wrote.
 *
 * A repository's own `.git/config` can make git run programs: core.fsmonitor, core.hooksPath
 * and hooks, filter.<driver>.clean/process (named by an in-tree .gitattributes, and run by
 * `git status` for every file whose stat data git cannot vouch for), core.pager, diff.external,
 * core.sshCommand, protocol.ext and credential helpers, through include.path from anywhere.
 * Packing a downloaded model must run none of it. Rather than neutralising keys one by one
 * (a deny list always misses one, and filter driver names are arbitrary), git never reads
 * that config: every git command pack runs uses a private git dir in a temporary directory
 * (`GIT_DIR`), made of
 *   - HEAD: the commit read from the repository's files (below), detached;
 *   - objects/info/alternates: the repository's object store, read as data;
 *   - config: written here, with a short allow-list of inert core.* values copied from the
 *     repository's config after validation (file mode, case and Unicode handling, line
 *     endings, object format) and modelship's own Git LFS clean filter (below);
 *   - info/exclude: a copy of the repository's, so untracked-file detection matches;
 * with the repository's index as `GIT_INDEX_FILE` (read only: optional locks are off) and
 * its work tree as `GIT_WORK_TREE`. System and global config are not read either
 * (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL, HOME and XDG_CONFIG_HOME point into the private
 * dir; only the user's global excludes file is carried over, as a path); no transport may
 * run (GIT_ALLOW_PROTOCOL names none: no lazy fetch of a partial clone); submodules are not
 * entered; every inherited GIT_* variable is dropped. What git still reads from the
 * directory is data: the index, objects, work-tree files, .gitattributes and .gitignore; an
 * attribute can only name a filter driver, and the only driver defined is ours. Because git
 * is given GIT_DIR, it does not apply its safe.directory ownership check, which exists to
 * stop exactly the config-driven execution that cannot happen here.
 *
 * The Git LFS clean filter: git vouches for a racily-clean or re-touched file by cleaning it
 * again and comparing with the index. git-lfs's own filter would read the repository's
 * config (lfs.extension.<name>.clean runs a command), so the private config defines
 * `filter.lfs.clean` as a small node script of ours (lfs-clean.cjs, written into the private
 * dir): it prints the pointer git-lfs would store (sha256 and size of stdin; a pointer
 * passes through unchanged, as git-lfs does for pointer-only checkouts). Same reads as with
 * git-lfs, the same verdicts, and git-lfs need not be installed.
 */

const LFS_CLEAN_SCRIPT = `'use strict';
// modelship's Git LFS clean filter (packages/core/src/modelpack/git.ts): the pointer for stdin.
const { createHash } = require('node:crypto');
const POINTER = /^version https:\\/\\/git-lfs\\.github\\.com\\/spec\\/v1\\noid sha256:[a-f0-9]{64}\\nsize [0-9]+\\n$/;
const hash = createHash('sha256');
const head = [];
let size = 0;
process.stdin.on('data', (c) => {
  hash.update(c);
  if (size <= 1024) head.push(c);
  size += c.length;
});
process.stdin.on('end', () => {
  const start = Buffer.concat(head);
  if (size <= 1024 && POINTER.test(start.toString('latin1'))) return process.stdout.write(start);
  process.stdout.write('version https://git-lfs.github.com/spec/v1\\noid sha256:' + hash.digest('hex') + '\\nsize ' + size + '\\n');
});
`;

/** Repository config values copied into the private config: inert settings that change how git compares files. */
const CONFIG_ALLOW: Record<string, RegExp> = {
  'core.filemode': /^(true|false|yes|no|on|off|1|0)$/i,
  'core.ignorecase': /^(true|false|yes|no|on|off|1|0)$/i,
  'core.precomposeunicode': /^(true|false|yes|no|on|off|1|0)$/i,
  'core.symlinks': /^(true|false|yes|no|on|off|1|0)$/i,
  'core.autocrlf': /^(true|false|input|yes|no|on|off|1|0)$/i,
  'core.eol': /^(lf|crlf|native)$/i,
  'core.checkstat': /^(default|minimal)$/i,
};

/** `section[.subsection].key` = value entries of a git config file (no includes followed). */
export function parseGitConfig(config: string): { key: string; subsection?: string; value: string }[] {
  const out: { key: string; subsection?: string; value: string }[] = [];
  let section: string | undefined;
  let sub: string | undefined;
  for (const raw of config.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[\s*([^\s\]"]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/.exec(line);
    if (head) {
      section = head[1]!.toLowerCase();
      sub = head[2];
      // [section.sub] is the old spelling of [section "sub"].
      const dot = section.indexOf('.');
      if (sub === undefined && dot > 0) {
        sub = section.slice(dot + 1);
        section = section.slice(0, dot);
      }
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (section === undefined || !kv) continue;
    const value = (kv[2] ?? 'true').replace(/\s+[#;].*$/, '').replace(/^"(.*)"$/, '$1');
    out.push({
      key: `${section}.${kv[1]!.toLowerCase()}`,
      ...(sub !== undefined ? { subsection: sub } : {}),
      value,
    });
  }
  return out;
}

function quoteShell(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function quoteConfig(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function noControl(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x1f\x7f]/.test(s);
}

/** git, with the private git dir described above. One per pack; `close` removes the dir. */
export interface GitSession {
  /** The work tree's root (a realpath), or undefined when `dir` is not in a git work tree or git cannot run. */
  top(): Promise<string | undefined>;
  /** Runs a git command there (cwd: the work-tree root); stdout, or undefined on any failure. */
  run(args: string[], input?: string): Promise<Buffer | undefined>;
  /** `git status` of the model dir, run once and shared (see gitWorkTreeStatus). */
  status(): Promise<GitStatusResult>;
  close(): Promise<void>;
}

interface Sandbox {
  top: string;
  env: NodeJS.ProcessEnv;
  tmp: string;
}

function spawnGit(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  input?: string,
): Promise<{ stdout: Buffer; error?: Error }> {
  return new Promise((done) => {
    const child = spawn('git', args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000 });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > 256 * 1024 * 1024) child.kill();
      else out.push(c);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      if (err.length < 4096) err += c;
    });
    child.on('error', (e) => done({ stdout: Buffer.alloc(0), error: e }));
    child.on('close', (code, signal) => {
      if (code === 0) done({ stdout: Buffer.concat(out) });
      else
        done({
          stdout: Buffer.alloc(0),
          error: new Error(err.trim() || `git ${args[0]} exited with ${code ?? signal}`),
        });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** The user's global excludes file (a path), looked up in their own config only. */
async function userExcludesFile(tmp: string): Promise<string | undefined> {
  const env = { ...process.env, GIT_DIR: tmp };
  const r = await spawnGit(['config', '--global', '--path', '--get', 'core.excludesFile'], tmp, env);
  const configured = r.error ? '' : r.stdout.toString('utf8').trim();
  const base = process.env.XDG_CONFIG_HOME || (process.env.HOME ? join(process.env.HOME, '.config') : undefined);
  const file = configured || (base ? join(base, 'git', 'ignore') : '');
  if (!file || !isAbsolute(file) || !noControl(file)) return undefined;
  return (await stat(file).catch(() => undefined))?.isFile() ? file : undefined;
}

async function makeSandbox(dir: string): Promise<Sandbox | undefined> {
  const found = await findGitDir(dir);
  if (!found) return undefined;
  const { gitDir, commonDir, workTree } = found;
  const top = await realpath(workTree).catch(() => undefined);
  const objects = await realpath(join(commonDir, 'objects')).catch(() => undefined);
  if (!top || !objects || !noControl(objects) || !noControl(top)) return undefined;

  const tmp = await mkdtemp(join(tmpdir(), 'modelship-git-'));
  try {
    await mkdir(join(tmp, 'objects', 'info'), { recursive: true });
    await mkdir(join(tmp, 'refs'));
    await mkdir(join(tmp, 'info'));
    await writeFile(join(tmp, 'objects', 'info', 'alternates'), `${objects}\n`);
    const head = await readHeadCommit(gitDir, commonDir);
    await writeFile(join(tmp, 'HEAD'), head ? `${head}\n` : 'ref: refs/heads/modelship-unborn\n');
    const exclude = await readFile(join(commonDir, 'info', 'exclude')).catch(() => undefined);
    if (exclude && exclude.length <= 1024 * 1024) await writeFile(join(tmp, 'info', 'exclude'), exclude);
    // A split index names its shared part, which git looks for in GIT_DIR.
    for (const name of await readdir(gitDir).catch(() => [] as string[]))
      if (/^sharedindex\.[0-9a-f]+$/.test(name)) await symlink(join(gitDir, name), join(tmp, name));
    await writeFile(join(tmp, 'lfs-clean.cjs'), LFS_CLEAN_SCRIPT);

    const copied: string[] = [];
    let sha256 = false;
    for (const e of parseGitConfig((await readText(join(commonDir, 'config'))) ?? '')) {
      if (e.subsection !== undefined) continue;
      if (e.key === 'extensions.objectformat') sha256 = e.value.toLowerCase() === 'sha256';
      const ok = CONFIG_ALLOW[e.key];
      if (ok?.test(e.value)) copied.push(`\t${e.key.slice('core.'.length)} = ${e.value.toLowerCase()}`);
    }
    const excludes = await userExcludesFile(tmp);
    const clean = `${quoteShell(process.execPath)} ${quoteShell(join(tmp, 'lfs-clean.cjs'))}`;
    const config = [
      '[core]',
      `\trepositoryformatversion = ${sha256 ? 1 : 0}`,
      '\tbare = false',
      '\tfsmonitor = false',
      '\thooksPath = /dev/null',
      '\tuntrackedCache = false',
      // Packing into a layout hard-links the files, which changes only their ctime.
      '\ttrustctime = false',
      ...(excludes ? [`\texcludesFile = ${quoteConfig(excludes)}`] : []),
      ...copied,
      ...(sha256 ? ['[extensions]', '\tobjectformat = sha256'] : []),
      '[protocol]',
      '\tallow = never',
      '[filter "lfs"]',
      `\tclean = ${quoteConfig(clean)}`,
      '\trequired = false',
      '',
    ].join('\n');
    await writeFile(join(tmp, 'config'), config);

    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
    Object.assign(env, {
      GIT_DIR: tmp,
      GIT_WORK_TREE: top,
      GIT_INDEX_FILE: join(gitDir, 'index'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ATTR_NOSYSTEM: '1',
      HOME: tmp,
      XDG_CONFIG_HOME: tmp,
      GIT_OPTIONAL_LOCKS: '0',
      GIT_ALLOW_PROTOCOL: 'modelship-none',
      GIT_TERMINAL_PROMPT: '0',
      GIT_NO_REPLACE_OBJECTS: '1',
      GIT_PAGER: 'cat',
    });
    return { top, env, tmp };
  } catch {
    await rm(tmp, { recursive: true, force: true });
    return undefined;
  }
}

export function openGitSession(dir: string): GitSession {
  let sandbox: Promise<Sandbox | undefined> | undefined;
  let statusRun: Promise<GitStatusResult> | undefined;
  const box = (): Promise<Sandbox | undefined> => (sandbox ??= makeSandbox(dir).catch(() => undefined));
  const session: GitSession = {
    top: async () => (await box())?.top,
    async run(args, input) {
      const b = await box();
      if (!b) return undefined;
      const r = await spawnGit(['--no-pager', ...args], b.top, b.env, input);
      return r.error ? undefined : r.stdout;
    },
    status: () =>
      (statusRun ??= (async (): Promise<GitStatusResult> => {
        const b = await box();
        if (!b) return 'no-git';
        const cwd = await realpath(dir).catch(() => dir);
        const r = await spawnGit(
          [
            '--no-pager',
            'status',
            '--porcelain',
            '-z',
            '--untracked-files=normal',
            '--ignore-submodules=all',
            '--',
            '.',
          ],
          cwd,
          b.env,
        );
        if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no-git' : r.error;
        // -z records: "XY path", and for renames/copies one more record with the old path.
        const changed = new Set<string>();
        const recs = r.stdout.toString('utf8').split('\0');
        for (let i = 0; i < recs.length; i++) {
          const rec = recs[i]!;
          if (rec.length < 4) continue;
          changed.add(rec.slice(3));
          if (rec[0] === 'R' || rec[0] === 'C') changed.add(recs[++i] ?? '');
        }
        return { changed };
      })()),
    async close() {
      const b = await sandbox;
      sandbox = Promise.resolve(undefined);
      if (b) await rm(b.tmp, { recursive: true, force: true });
    },
  };
  return session;
}

/**
 * `git status` of the work tree under `dir` (through a private git dir, see above). pack runs
 * it once per GitSession and shares it between the dirty check and the Git LFS digests: on a
 * fresh clone git re-cleans racily-clean files (a full read) each time it is asked.
 */
export async function gitWorkTreeStatus(dir: string): Promise<GitStatusResult> {
  const session = openGitSession(dir);
  try {
    return await session.status();
  } finally {
    await session.close();
  }
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

  const commit = await readHeadCommit(gitDir, commonDir);
  if (commit) {
    info.commit = commit;
    info.revision = commit;
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
