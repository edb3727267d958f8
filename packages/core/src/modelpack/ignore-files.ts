import dockerignoreModule, { type Ignore as DockerIgnore } from '@balena/dockerignore';
import ignore, { type Ignore } from 'ignore';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The ignore files pack honours, so that what a repository keeps out of git (a `secret.env`,
 * a local checkpoint) is not pushed by default:
 *
 *  - `.gitignore` in the model dir and every directory below it, and — when the model dir is
 *    inside a git work tree — in each parent directory up to the work tree's root, plus that
 *    repository's `.git/info/exclude`; gitignore(5) rules (through the `ignore` package, case
 *    sensitive as git is by default): deeper files override shallower ones, later lines
 *    override earlier ones, `!` re-includes, and nothing below an ignored directory can be
 *    re-included. The user's global excludes file is not read: the artifact must not depend
 *    on who packs it.
 *  - `.modelshipignore`, anywhere, with the same rules; it is read after the `.gitignore` of
 *    the same directory, so `!weights/local.bin` there packs a file git ignores.
 *  - `.kitignore` at the model dir's root, as KitOps reads it (moby's patternmatcher, i.e.
 *    .dockerignore rules, through `@balena/dockerignore`; docs/cli.md, "Packing"): patterns are anchored at the root (`*.env` is root level only,
 *    `**` crosses directories), a match on a directory covers what is below it, and `!`
 *    exceptions apply. A path is left out when .kitignore or the gitignore chain says so.
 *
 * Ignore files are parsed from the model dir's own bytes; no git runs.
 */

export interface IgnoredPath {
  /** Relative to the model dir, '/'-separated; a directory ends with '/' (nothing below it was read). */
  path: string;
  /** The ignore file that matched (relative to the model dir, e.g. `.gitignore`, `../.gitignore`), or why else it was left out. */
  by: string;
  /** The pattern that matched, when an ignore file did. */
  pattern?: string;
}

interface Layer {
  ig: Ignore;
  /** Shown in IgnoredPath.by. */
  source: string;
  /** Prepended to a model-dir-relative path (ancestor files: the model dir's path from theirs). */
  prefix: string;
}

const MAX_IGNORE_FILE = 1024 * 1024;

// A CommonJS module whose types declare an ES default export: under Node's ESM interop the
// default import is the factory itself (a bundler may hand over the namespace instead).
type DockerIgnoreFactory = typeof dockerignoreModule.default;
const dockerignore: DockerIgnoreFactory =
  typeof dockerignoreModule === 'function'
    ? (dockerignoreModule as unknown as DockerIgnoreFactory)
    : dockerignoreModule.default;

async function readSmall(p: string): Promise<string | undefined> {
  try {
    const st = await stat(p);
    if (!st.isFile() || st.size > MAX_IGNORE_FILE) return undefined;
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

function gitignoreOf(text: string): Ignore {
  return ignore({ ignorecase: false, allowRelativePaths: true }).add(text);
}

/**
 * A parent's ignore file, without the lines that ignore the model dir itself or a directory
 * above it: packing a directory the repository ignores as a whole (a model downloaded into a
 * gitignored `models/`) is a deliberate choice, while its other lines (`*.env`) still apply.
 */
function outerGitignoreOf(text: string, prefix: string): Ignore {
  const kept = text.split(/\r?\n/).filter((line) => !gitignoreOf(line).test(prefix).ignored);
  return gitignoreOf(kept.join('\n'));
}

/** The work tree root holding `root` (the directory with `.git`), if any. */
async function workTreeRoot(root: string): Promise<string | undefined> {
  for (let dir = root; ; dir = dirname(dir)) {
    if (await stat(join(dir, '.git')).catch(() => undefined)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Where `.git/info/exclude` lives for the `.git` at `top` (a directory, or a `gitdir:` file). */
async function infoExcludePath(top: string): Promise<string | undefined> {
  const dotGit = join(top, '.git');
  const st = await stat(dotGit).catch(() => undefined);
  if (!st) return undefined;
  let gitDir = dotGit;
  if (st.isFile()) {
    const m = /^gitdir:\s*(.+?)\s*$/m.exec((await readSmall(dotGit)) ?? '');
    if (!m) return undefined;
    gitDir = isAbsolute(m[1]!) ? m[1]! : resolve(top, m[1]!);
  }
  const common = (await readSmall(join(gitDir, 'commondir')))?.trim();
  return join(common ? join(gitDir, common) : gitDir, 'info', 'exclude');
}

export class IgnoreRules {
  private readonly outer: Layer[] = [];
  private readonly byDir = new Map<string, Layer[]>();
  private kit: { ig: DockerIgnore; negates: boolean } | undefined;

  /** Rules from outside the walk: parent .gitignore files, info/exclude, the root .kitignore. */
  static async load(root: string): Promise<IgnoreRules> {
    const rules = new IgnoreRules();
    const top = await workTreeRoot(root);
    if (top !== undefined && top !== root) {
      const toRoot = (from: string): string => relative(from, root).split(sep).join('/') + '/';
      const exclude = await infoExcludePath(top);
      const text = exclude ? await readSmall(exclude) : undefined;
      if (text !== undefined)
        rules.outer.push({
          ig: outerGitignoreOf(text, toRoot(top)),
          source: relative(root, exclude!).split(sep).join('/'),
          prefix: toRoot(top),
        });
      const chain: string[] = [];
      for (let d = dirname(root); ; d = dirname(d)) {
        chain.unshift(d);
        if (d === top || dirname(d) === d) break;
      }
      for (const d of chain) {
        const t = await readSmall(join(d, '.gitignore'));
        if (t !== undefined)
          rules.outer.push({
            ig: outerGitignoreOf(t, toRoot(d)),
            source: relative(root, join(d, '.gitignore')).split(sep).join('/'),
            prefix: toRoot(d),
          });
      }
    } else if (top === root) {
      const exclude = await infoExcludePath(top);
      const text = exclude ? await readSmall(exclude) : undefined;
      if (text !== undefined) rules.outer.push({ ig: gitignoreOf(text), source: '.git/info/exclude', prefix: '' });
    }
    const kit = await readSmall(join(root, '.kitignore'));
    if (kit !== undefined) {
      const lines = kit.split(/\r?\n/);
      rules.kit = { ig: dockerignore().add(lines), negates: lines.some((l) => l.trim().startsWith('!')) };
    }
    return rules;
  }

  /** Reads the ignore files of a directory the walk enters (`relDir` '' for the root). */
  async enter(relDir: string, absDir: string, names: readonly string[]): Promise<void> {
    const layers: Layer[] = [];
    for (const file of ['.gitignore', '.modelshipignore']) {
      if (!names.includes(file)) continue;
      const text = await readSmall(join(absDir, file));
      if (text !== undefined)
        layers.push({ ig: gitignoreOf(text), source: relDir ? `${relDir}/${file}` : file, prefix: '' });
    }
    if (layers.length) this.byDir.set(relDir, layers);
  }

  /** Why `rel` is ignored, or undefined. Directories: whether to skip the whole subtree. */
  test(rel: string, isDir: boolean): Omit<IgnoredPath, 'path'> | undefined {
    let verdict: Omit<IgnoredPath, 'path'> | undefined;
    const apply = (layer: Layer, p: string): void => {
      const r = layer.ig.test(isDir ? `${p}/` : p);
      if (r.ignored) verdict = { by: layer.source, ...(r.rule ? { pattern: r.rule.pattern } : {}) };
      else if (r.unignored) verdict = undefined;
    };
    for (const layer of this.outer) apply(layer, layer.prefix + rel);
    const parts = rel.split('/');
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      for (const layer of this.byDir.get(dir) ?? []) apply(layer, parts.slice(i).join('/'));
    }
    if (verdict) return verdict;
    // .kitignore: a directory is skipped whole only when no `!` exception could bring back something below it.
    if (this.kit && (!isDir || !this.kit.negates) && this.kit.ig.ignores(rel)) return { by: '.kitignore' };
    return undefined;
  }
}
