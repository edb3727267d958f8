import { isAbsolute, posix, win32 } from 'node:path';

/**
 * The one rule for a file path inside a ModelPack artifact (a layer's filepath annotation or a
 * tar entry name): extraction refuses what it names (extract.ts `safeJoin`), and pack refuses
 * to produce it (modelpack/walk.ts), so nothing pack writes is unextractable.
 *
 * Refused: empty paths; NUL and other control characters (a newline in a file name breaks
 * every line-based consumer, workflow commands included); backslashes (a separator on
 * Windows: `a\..\..\x`); absolute paths; `..` segments; and any `.git` segment in any case
 * (also `.git.` / `.git ` as NTFS spells the same name): a layer that writes `.git/config` or
 * `.git/hooks/*` into a checkout turns the next git command there into code execution.
 * Empty and `.` segments (`a//b`, `./a`) are harmless and left to the caller to normalise.
 *
 * Returns why the path is refused, or undefined when it is acceptable.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path === '') return 'it is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return 'it contains a control character';
  if (path.includes('\\')) return 'it contains a backslash';
  if (isAbsolute(path) || posix.isAbsolute(path) || win32.isAbsolute(path)) return 'it is absolute';
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return 'it names no file';
  if (parts.some((p) => p === '..')) return 'it has a ".." segment';
  if (parts.some((p) => /^\.git[. ]*$/i.test(p))) return 'it has a ".git" segment';
  return undefined;
}
