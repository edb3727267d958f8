import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { openGitSession, type GitSession } from './git.js';

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
 * and `--no-cache` turns both off. git runs with a private git dir (modelpack/git.ts): the
 * repository's own config, hooks and filters never run, and the racy-clean check goes
 * through modelship's own LFS clean filter instead of git-lfs.
 */
export interface LfsDigest {
  digest: string;
  size: number;
}

const POINTER_MAX = 1024;
const POINTER_RE = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([a-f0-9]{64})\nsize (\d+)\n/;

/** `git cat-file --batch` output: oid -> content. */
function parseBatch(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
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
  return out;
}

/**
 * Digests of the given files that Git LFS vouches for (see above), by absolute path. git runs
 * through `session` (modelpack/git.ts): never with the repository's own config or hooks.
 */
export async function gitLfsDigests(
  dir: string,
  files: readonly { absPath: string; size: number }[],
  /** pack's git session: its `git status` is shared with the dirty check. */
  session?: GitSession,
): Promise<Map<string, LfsDigest>> {
  const found = new Map<string, LfsDigest>();
  if (files.length === 0) return found;
  const own = session ? undefined : openGitSession(dir);
  const git = (session ?? own)!;
  try {
    const top = await git.top();
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
    const [staged, worktree] = await Promise.all([git.run(['ls-files', '-s', '-z']), git.status()]);
    if (staged === undefined || typeof worktree !== 'object' || !('changed' in worktree)) return found;
    const dirty = worktree.changed;
    // Status only speaks for the model dir: files reached from outside it are not trusted.
    const dirRel = relative(top, await realpath(dir).catch(() => dir))
      .split(sep)
      .join('/');
    const inDir = (p: string): boolean => dirRel === '' || p === dirRel || p.startsWith(`${dirRel}/`);
    const candidates = new Map<string, string>(); // path -> blob oid
    for (const rec of staged.toString('utf8').split('\0')) {
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
    const oids = [...new Set(candidates.values())];
    const checked = (await git.run(['cat-file', '--batch-check'], oids.join('\n') + '\n'))?.toString('utf8') ?? '';
    const sizes = new Map<string, number>();
    for (const line of checked.split('\n')) {
      const [oid, type, size] = line.split(' ');
      if (oid && type === 'blob' && size) sizes.set(oid, Number(size));
    }
    const small = oids.filter((o) => (sizes.get(o) ?? Infinity) <= POINTER_MAX);
    if (small.length === 0) return found;
    const blobs = parseBatch((await git.run(['cat-file', '--batch'], small.join('\n') + '\n')) ?? Buffer.alloc(0));
    for (const [path, oid] of candidates) {
      const m = POINTER_RE.exec(blobs.get(oid)?.toString('utf8') ?? '');
      if (!m) continue;
      const f = wanted.get(path)!;
      const size = Number(m[2]);
      if (size !== f.size) continue;
      found.set(f.absPath, { digest: `sha256:${m[1]!}`, size });
    }
    return found;
  } finally {
    await own?.close();
  }
}
