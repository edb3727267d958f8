import { execFile, spawn } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { gitWorkTreeStatus, type GitStatusResult } from './git.js';

/**
 * Digests from Git LFS: the pointer git stores for an LFS file names the sha256 of the file's
 * bytes, which is exactly a raw layer's digest. A model checked out in CI (a fresh clone: the
 * digest cache cannot know its new inodes) can then be packed and pushed without reading its
 * weights just to hash them.
 *
 * Trusted only when git itself vouches for the working file as git-lfs wrote it: a regular
 * file whose index entry is an LFS pointer, that `git status` does not report as changed (size,
 * mtime, inode, and git's own racy-clean content check; not ctime), and whose size is the
 * pointer's size (a checkout without git-lfs leaves the pointer text there instead). That is
 * the same stat-based trust as the digest cache; registries check the digest of every upload,
 * and `--no-cache` turns both off.
 */
export interface LfsDigest {
  digest: string;
  size: number;
}

const POINTER_MAX = 1024;
const POINTER_RE = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([a-f0-9]{64})\nsize (\d+)\n/;

function git(cwd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      'git',
      args,
      { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } },
      (err, stdout) => resolve(err ? undefined : stdout),
    );
  });
}

/** `git cat-file --batch` for small blobs: oid -> content. */
function catBlobs(cwd: string, oids: string[]): Promise<Map<string, Buffer>> {
  return new Promise((resolve) => {
    const out = new Map<string, Buffer>();
    if (oids.length === 0) return resolve(out);
    const child = spawn('git', ['cat-file', '--batch'], { cwd, stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', () => resolve(out));
    child.on('close', (code) => {
      if (code !== 0) return resolve(out);
      const buf = Buffer.concat(chunks);
      let at = 0;
      while (at < buf.length) {
        const nl = buf.indexOf(0x0a, at);
        if (nl < 0) break;
        const [oid, type, size] = buf.subarray(at, nl).toString('utf8').split(' ');
        if (type === 'missing' || size === undefined) {
          at = nl + 1;
          continue;
        }
        const n = Number(size);
        out.set(oid!, buf.subarray(nl + 1, nl + 1 + n));
        at = nl + 1 + n + 1;
      }
      resolve(out);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(oids.join('\n') + '\n');
  });
}

/** Digests of the given files that Git LFS vouches for (see above), by absolute path. */
export async function gitLfsDigests(
  dir: string,
  files: readonly { absPath: string; size: number }[],
  /** A `git status` of `dir` to share (pack's dirty check ran one already). */
  status: () => Promise<GitStatusResult> = () => gitWorkTreeStatus(dir),
): Promise<Map<string, LfsDigest>> {
  const found = new Map<string, LfsDigest>();
  if (files.length === 0) return found;
  const top = (await git(dir, ['rev-parse', '--show-toplevel']))?.trim();
  if (!top) return found;
  // Paths as git spells them (relative to the top, '/'-separated), for files inside the work tree.
  const wanted = new Map<string, { absPath: string; size: number }>();
  for (const f of files) {
    let real: string;
    try {
      real = await realpath(f.absPath);
    } catch {
      continue;
    }
    const rel = relative(top, real);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) continue;
    wanted.set(rel.split(sep).join('/'), f);
  }
  if (wanted.size === 0) return found;

  // The status pack's dirty check runs anyway (shared for one pack): a file it lists
  // differs from HEAD, or git could not vouch for it.
  const [staged, worktree] = await Promise.all([git(top, ['ls-files', '-s', '-z']), status()]);
  if (staged === undefined || typeof worktree !== 'object' || !('changed' in worktree)) return found;
  const dirty = worktree.changed;
  // Status only speaks for the model dir: files reached from outside it are not trusted.
  const dirRel = relative(top, await realpath(dir).catch(() => dir))
    .split(sep)
    .join('/');
  const inDir = (p: string): boolean => dirRel === '' || p === dirRel || p.startsWith(`${dirRel}/`);
  const candidates = new Map<string, string>(); // path -> blob oid
  for (const rec of staged.split('\0')) {
    const tab = rec.indexOf('\t');
    if (tab < 0) continue;
    const [mode, oid, stage] = rec.slice(0, tab).split(' ');
    const path = rec.slice(tab + 1);
    // Regular files at stage 0 only (no symlinks, submodules or merge conflicts).
    if ((mode !== '100644' && mode !== '100755') || stage !== '0' || !oid) continue;
    if (wanted.has(path) && inDir(path) && !dirty.has(path)) candidates.set(path, oid);
  }
  if (candidates.size === 0) return found;

  // Only blobs small enough to be pointers are read.
  const sizes = await new Promise<Map<string, number>>((resolve) => {
    const m = new Map<string, number>();
    const child = spawn('git', ['cat-file', '--batch-check'], { cwd: top, stdio: ['pipe', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
    child.on('error', () => resolve(m));
    child.on('close', () => {
      for (const line of text.split('\n')) {
        const [oid, type, size] = line.split(' ');
        if (oid && type === 'blob' && size) m.set(oid, Number(size));
      }
      resolve(m);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end([...new Set(candidates.values())].join('\n') + '\n');
  });
  const small = [...new Set(candidates.values())].filter((o) => (sizes.get(o) ?? Infinity) <= POINTER_MAX);
  const blobs = await catBlobs(top, small);
  for (const [path, oid] of candidates) {
    const m = POINTER_RE.exec(blobs.get(oid)?.toString('utf8') ?? '');
    if (!m) continue;
    const f = wanted.get(path)!;
    const size = Number(m[2]);
    if (size !== f.size) continue;
    found.set(f.absPath, { digest: `sha256:${m[1]!}`, size });
  }
  return found;
}
