import { constants, type Stats } from 'node:fs';
import { access, lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ModelshipError, opt } from '../errors.js';
import { unsafePathReason } from '../safe-path.js';
import { anyMatch, compareBytes, reachesInto, type CompiledGlob } from './glob.js';
import { IgnoreRules, type IgnoredPath } from './ignore-files.js';

/** Directories that are never model content: VCS metadata, caches, notebooks' autosaves. */
const SKIP_DIRS = new Set(['__pycache__', 'node_modules']);
/** Editor and OS droppings. Hidden names (leading dot: .git, .cache, .DS_Store…) are skipped separately. */
const JUNK_FILE = /^(thumbs\.db|desktop\.ini|.*\.py[co]|.*\.swp|.*~)$/i;
/** Spec files in the dir are metadata, not layers (modctl keeps the Modelfile in a manifest annotation). */
const SPEC_FILE_NAMES = new Set(['modelfile', 'kitfile']);

export interface WalkOptions {
  /** When non-empty, only files matching one of these are kept. */
  include: readonly CompiledGlob[];
  exclude: readonly CompiledGlob[];
  /** Patterns that bring back hidden/junk paths they name explicitly (include + spec patterns). */
  rescue: readonly CompiledGlob[];
  /** Relative paths of spec files inside the dir, skipped unless an include names them. */
  specPaths: readonly string[];
  /** Follow symlinks whose target is outside the dir instead of refusing them. */
  followExternalSymlinks?: boolean;
  /** Default true: honour .gitignore, .modelshipignore and .kitignore (modelpack/ignore-files.ts). */
  ignoreFiles?: boolean;
  /**
   * Directories never packed, by realpath, with the reason shown for them: pack's own output
   * layout and digest cache when they live inside the dir (packing them would make every run
   * pack the previous run's blobs).
   */
  skipDirs?: readonly { path: string; why: string }[];
  /** Told about each path left out by an ignore file or `skipDirs` (not --exclude, hidden or junk names). */
  onIgnored?: (entry: IgnoredPath) => void;
  /**
   * Told about each directory that holds nothing at all (`sub/`; `''` for the root): an
   * artifact holds files, so it is not packed and pull will not recreate it.
   */
  onEmptyDir?: (path: string) => void;
}

export interface WalkedFile {
  path: string;
  absPath: string;
  stat: Stats;
}

function isSkippedName(name: string, isDir: boolean): boolean {
  if (name.startsWith('.')) return true;
  return isDir ? SKIP_DIRS.has(name) : JUNK_FILE.test(name);
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

export async function resolveModelDir(dir: string): Promise<string> {
  const path = await resolveModelPath(dir);
  if (path.file)
    throw new ModelshipError('INPUT', `${dir} is not a directory`, {
      hint: 'pass the directory that holds the model files',
    });
  return path.root;
}

/**
 * What `pack PATH` names: a model directory (its realpath), or one regular file (`pack
 * model.gguf`), then `root` is the directory it sits in and `file` the file, named as given.
 */
export async function resolveModelPath(path: string): Promise<{ root: string; file?: WalkedFile }> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ModelshipError('INPUT', `model directory ${path} does not exist`, { cause: e });
    if (code === 'ELOOP') throw new ModelshipError('INPUT', `${path} is a symlink loop`, { cause: e });
    throw new ModelshipError('INPUT', `cannot read model directory ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (st.isDirectory()) return { root: await realpath(path) };
  if (!st.isFile())
    throw new ModelshipError('INPUT', `${path} is not a directory or a regular file (socket, fifo or device)`, {
      hint: 'pass the model directory, or one model file',
    });
  const absPath = await realpath(path);
  try {
    await access(absPath, constants.R_OK);
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  const given = resolve(path);
  // The directory the name sits in (not the symlink target's): its git checkout, its name.
  return { root: await realpath(dirname(given)), file: { path: basename(given), absPath, stat: st } };
}

/** Whether `dir` holds an OCI image layout marker (`oci-layout` with an imageLayoutVersion). */
async function isOciLayout(dir: string): Promise<boolean> {
  try {
    const p = join(dir, 'oci-layout');
    if ((await stat(p)).size > 4096) return false;
    const marker = JSON.parse(await readFile(p, 'utf8')) as { imageLayoutVersion?: unknown };
    return typeof marker.imageLayoutVersion === 'string';
  } catch {
    return false;
  }
}

/** A path for a message: control characters spelled as \\xNN (a newline must not start a new output line). */
function shown(rel: string): string {
  // eslint-disable-next-line no-control-regex
  return rel.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A glob that matches `rel` with every character a pattern cannot spell (backslash, controls) as `?`. */
function globFor(rel: string): string {
  // eslint-disable-next-line no-control-regex
  const g = rel.replace(/[\\\x00-\x1f\x7f]/g, '?');
  return `'${g.replace(/'/g, `'\\''`)}'`;
}

/**
 * Lists the regular files to pack, lexicographically by path. `root` must be a realpath.
 * A file whose path extraction would refuse (safe-path.ts) is an error here, not an artifact
 * nobody can pull.
 */
export async function walkModelDir(root: string, options: WalkOptions): Promise<WalkedFile[]> {
  const out: WalkedFile[] = [];
  const specPaths = new Set(options.specPaths);
  const rules = options.ignoreFiles === false ? undefined : await IgnoreRules.load(root);
  const skipDirs = new Map((options.skipDirs ?? []).map((d) => [d.path, d.why]));
  const ignored = (path: string, by: string, pattern?: string): void =>
    options.onIgnored?.({ path, by, ...(pattern !== undefined ? { pattern } : {}) });

  const visit = async (absDir: string, relDir: string, ancestors: Set<string>): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(absDir);
    } catch (e) {
      throw new ModelshipError(
        'INPUT',
        `cannot list ${relDir || '.'} in the model directory: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    if (names.length === 0) options.onEmptyDir?.(relDir === '' ? '' : `${relDir}/`);
    names.sort(compareBytes);
    // An OCI layout below the root is a previous pack's output (or another tool's), never
    // model content: packing it would ship old blobs inside the new artifact.
    if (rules && relDir !== '' && names.includes('oci-layout') && (await isOciLayout(absDir))) {
      ignored(`${relDir}/`, 'an OCI layout (pack output)');
      return;
    }
    await rules?.enter(relDir, absDir, names);
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = join(absDir, name);
      if (anyMatch(options.exclude, rel)) continue;

      let st = await lstat(abs);
      // Ignore rules come before the symlink checks (an ignored dangling link is no error),
      // after the silent hidden/junk skip (a .gitignore'd .venv/ is not worth reporting).
      const isDir =
        st.isDirectory() || (st.isSymbolicLink() && (await stat(abs).catch(() => undefined))?.isDirectory() === true);
      const rescued = isDir ? reachesInto(options.rescue, rel) : options.rescue.some((g) => g.matchesExactly(rel));
      if (isSkippedName(name, isDir) && !rescued) continue;
      const verdict = rules?.test(rel, isDir);
      if (verdict) {
        ignored(isDir ? `${rel}/` : rel, verdict.by, verdict.pattern);
        continue;
      }
      let target = abs;
      if (st.isSymbolicLink()) {
        const link = await readlink(abs).catch(() => '?');
        try {
          target = await realpath(abs);
        } catch (e) {
          // ELOOP: the chain of links comes back to itself (a -> b -> a, or a link to itself).
          if ((e as NodeJS.ErrnoException).code === 'ELOOP')
            throw new ModelshipError('INPUT', `${rel} is a symlink loop (${rel} -> ${link} leads back to itself)`, {
              cause: e,
              hint: `fix or remove the link, or exclude it with ${opt('exclude')} ${rel}`,
            });
          throw new ModelshipError('INPUT', `${rel} is a symlink to ${link}, which does not exist`, {
            cause: e,
            hint: `fix or remove the link, or exclude it with ${opt('exclude')} ${rel}`,
          });
        }
        const why = skipDirs.get(target);
        if (why !== undefined) {
          ignored(`${rel}/`, why);
          continue;
        }
        if (!isInside(root, target) && !options.followExternalSymlinks) {
          throw new ModelshipError('INPUT', `${rel} is a symlink to ${target}, outside the model directory`, {
            hint: `copy the file into the model directory, or exclude it with ${opt('exclude')} ${rel}`,
          });
        }
        st = await stat(target);
      }

      if (st.isDirectory()) {
        if (isSkippedName(name, true) && !reachesInto(options.rescue, rel)) continue;
        const why = skipDirs.get(target);
        if (why !== undefined) {
          ignored(`${rel}/`, why);
          continue;
        }
        if (ancestors.has(target))
          throw new ModelshipError('INPUT', `${rel} is a symlink loop (it points to one of its parent directories)`, {
            hint: `remove the link or exclude it with ${opt('exclude')} ${rel}`,
          });
        await visit(target, rel, new Set([...ancestors, target]));
        continue;
      }

      if (!st.isFile()) {
        throw new ModelshipError('INPUT', `${rel} is not a regular file (socket, fifo or device)`, {
          hint: `remove it from the model directory or exclude it with ${opt('exclude')} ${rel}`,
        });
      }
      if (isSkippedName(name, false) && !options.rescue.some((g) => g.matchesExactly(rel))) continue;
      if (
        (specPaths.has(rel) || (relDir === '' && SPEC_FILE_NAMES.has(name.toLowerCase()))) &&
        !options.include.some((g) => g.matchesExactly(rel))
      )
        continue;
      if (options.include.length > 0 && !anyMatch(options.include, rel)) continue;
      const unsafe = unsafePathReason(rel);
      if (unsafe)
        throw new ModelshipError('INPUT', `"${shown(rel)}" cannot be packed: ${unsafe}, and pull would refuse it`, {
          hint: `rename it, or exclude it with ${opt('exclude')} ${globFor(rel)}`,
        });

      try {
        await access(target, constants.R_OK);
      } catch (e) {
        throw new ModelshipError('INPUT', `cannot read ${rel}: ${(e as Error).message}`, {
          cause: e,
          hint: `fix its permissions or exclude it with ${opt('exclude')} ${rel}`,
        });
      }
      out.push({ path: rel, absPath: target, stat: st });
    }
  };

  await visit(root, '', new Set([root]));
  return out;
}

/** The spec file's path relative to the dir when it lives inside it (so it is not packed as a layer). */
export function relativeInside(root: string, absPath: string): string | undefined {
  if (!isInside(root, absPath) || absPath === root) return undefined;
  return relative(root, absPath).split(sep).join('/');
}
