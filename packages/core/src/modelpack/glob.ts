import picomatch from 'picomatch';
import { ModelshipError, type ErrorCode } from '../errors.js';

/**
 * Glob semantics shared by --include/--exclude and spec files: patterns are anchored at the
 * model dir (like modctl's Modelfile globs, unlike .gitignore), `**` crosses directories,
 * and a pattern that matches a directory covers every file below it. Wildcards do not match
 * a leading dot, so hidden paths are only matched by patterns that spell the dot out.
 */
export interface CompiledGlob {
  pattern: string;
  /** The part before the first wildcard; for a literal path, the path itself. */
  base: string;
  isGlob: boolean;
  /** True when the pattern matches `path` or one of its parent directories. */
  matches(path: string): boolean;
  /** True when the pattern matches `path` itself (no parent-directory rule). */
  matchesExactly(path: string): boolean;
}

export function normalizePattern(pattern: string, code: ErrorCode, where: string): string {
  let p = pattern.trim().replace(/\\/g, '/');
  while (p.startsWith('./')) p = p.slice(2);
  p = p.replace(/\/+$/, '');
  if (p === '' || p === '.') p = '**';
  if (p.startsWith('/') || /^[A-Za-z]:\//.test(p) || p.split('/').includes('..')) {
    throw new ModelshipError(code, `${where}: pattern "${pattern}" must stay inside the model directory`, {
      hint: 'write paths relative to the model directory, without a leading / or ..',
    });
  }
  return p;
}

export function compileGlob(pattern: string, code: ErrorCode, where: string): CompiledGlob {
  const p = normalizePattern(pattern, code, where);
  const scan = picomatch.scan(p);
  const isMatch = picomatch(p, { dot: false });
  const matchesExactly = (path: string): boolean => isMatch(path);
  return {
    pattern: p,
    base: scan.isGlob ? scan.base : p,
    isGlob: scan.isGlob,
    matchesExactly,
    matches(path: string): boolean {
      if (isMatch(path)) return true;
      for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
        if (isMatch(path.slice(0, i))) return true;
      }
      return false;
    },
  };
}

export function compileGlobs(patterns: readonly string[] | undefined, code: ErrorCode, where: string): CompiledGlob[] {
  return (patterns ?? []).map((p) => compileGlob(p, code, where));
}

export function anyMatch(globs: readonly CompiledGlob[], path: string): boolean {
  return globs.some((g) => g.matches(path));
}

/**
 * Whether a skipped (hidden/junk) directory must still be walked because a pattern names
 * something inside it explicitly, e.g. `.config/settings.json`.
 */
export function reachesInto(globs: readonly CompiledGlob[], dirPath: string): boolean {
  return globs.some((g) => g.matches(dirPath) || g.base === dirPath || g.base.startsWith(`${dirPath}/`));
}

/** Byte-order comparison of UTF-8 strings (JS `<` compares UTF-16 code units). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
