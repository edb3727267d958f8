import { resolve } from 'node:path';
import { ModelshipError, opt } from '../errors.js';
import type { LayerKind } from '../mediatypes.js';
import { classifyPath, KIND_ORDER } from './classify.js';
import { compareBytes, compileGlob, compileGlobs, type CompiledGlob } from './glob.js';
import { findDirSpec, loadSpecFile } from './spec.js';
import type { ModelFile, ModelMetadataOverrides, ScanOptions, SpecEntry, SpecFormat } from './types.js';
import type { IgnoredPath } from './ignore-files.js';
import { relativeInside, resolveModelPath, walkModelDir, type WalkedFile } from './walk.js';
import { unsafePathReason } from '../safe-path.js';

export interface ScanModelDirOptions extends ScanOptions {
  /** Follow symlinks that leave the dir (e.g. a Hugging Face cache snapshot) instead of refusing them. */
  followExternalSymlinks?: boolean;
  /** Directories never packed (realpaths; e.g. pack's own output layout), with the reason to report. */
  skipDirs?: readonly { path: string; why: string }[];
}

export interface ScanResult {
  /** The model directory (realpath): the one scanned, or the one a single model file sits in. */
  root: string;
  /** Set when one file was packed (`pack FILE`): its name without the extension, the fallback model name. */
  singleFile?: { stem: string };
  /** In layer order: weight config, weights, code, datasets, docs; by path (byte order) within a kind. */
  files: ModelFile[];
  /** Metadata the spec file declares (name, licenses, paramSize…). */
  specMetadata: Partial<ModelMetadataOverrides>;
  /** The spec that was applied: relative to the dir when inside it, else as given. */
  specSource?: string;
  specFormat?: SpecFormat;
  /** The spec file's text, e.g. for a manifest annotation like modctl's `org.cncf.modctl.modelfile`. */
  specText?: string;
  /** Spec globs that matched nothing, and similar non-fatal findings. */
  warnings: string[];
  /** Paths left out by an ignore file or because they are pack's own output, in walk order. */
  ignored: IgnoredPath[];
}

interface CompiledEntry {
  entry: SpecEntry;
  glob: CompiledGlob;
  index: number;
  matched: boolean;
}

/** How well an entry names a file: its exact path beats a directory that holds it, which beats a glob. */
function specificity(c: CompiledEntry, path: string): number {
  if (!c.glob.isGlob) return c.glob.pattern === path ? 3 : c.glob.matches(path) ? 2 : 0;
  return c.glob.matchesExactly(path) || c.glob.matches(path) ? 1 : 0;
}

function bestEntry(entries: CompiledEntry[], path: string): { c: CompiledEntry; exact: boolean } | undefined {
  let best: CompiledEntry | undefined;
  let bestScore = 0;
  for (const c of entries) {
    const s = specificity(c, path);
    if (s > bestScore) {
      best = c;
      bestScore = s;
    }
  }
  return best ? { c: best, exact: bestScore === 3 } : undefined;
}

function kindFor(entry: SpecEntry, exact: boolean, ruleKind: LayerKind): LayerKind {
  if (!entry.modelGroup) return entry.kind;
  // Kitfile `model.path` naming one file is the weight; a directory mixes weights and their configs.
  if (exact && entry.kind === 'weight') return 'weight';
  return ruleKind === 'weight' ? 'weight' : 'weight.config';
}

function toModelFile(w: WalkedFile, kind: LayerKind, untested: boolean): ModelFile {
  return {
    path: w.path,
    absPath: w.absPath,
    size: w.stat.size,
    mode: w.stat.mode,
    mtimeMs: w.stat.mtimeMs,
    ino: w.stat.ino,
    dev: w.stat.dev,
    uid: w.stat.uid,
    gid: w.stat.gid,
    kind,
    untested,
  };
}

export function sortModelFiles(files: ModelFile[]): ModelFile[] {
  return files.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || compareBytes(a.path, b.path));
}

/**
 * Lists the files of a model dir with their layer kinds. Spec entries are authoritative for
 * the files they name; every other file is classified by the name rules (and marked
 * untested). Include/exclude filter everything, spec-named files included.
 */
export async function scanModelDir(dir: string, options: ScanModelDirOptions = {}): Promise<ScanResult> {
  const path = await resolveModelPath(dir);
  if (path.file) return scanModelFile(dir, path.root, path.file, options);
  const root = path.root;
  const include = compileGlobs(options.include, 'USAGE', opt('include'));
  const exclude = compileGlobs(options.exclude, 'USAGE', opt('exclude'));

  let specPath: string | undefined;
  let specDisplay: string | undefined;
  if (options.spec !== undefined) {
    specPath = resolve(options.spec);
    specDisplay = relativeInside(root, specPath) ?? options.spec;
  } else if (options.useDirSpec !== false) {
    specPath = await findDirSpec(root);
    if (specPath) specDisplay = relativeInside(root, specPath);
  }
  const spec = specPath ? await loadSpecFile(specPath, specDisplay) : undefined;
  const inDir = specPath ? relativeInside(root, specPath) : undefined;

  const entries: CompiledEntry[] = (spec?.entries ?? []).map((entry, index) => ({
    entry,
    glob: compileGlob(entry.pattern, 'INPUT', entry.origin),
    index,
    matched: false,
  }));

  const ignored: IgnoredPath[] = [];
  const emptyDirs: string[] = [];
  const walked = await walkModelDir(root, {
    include,
    exclude,
    rescue: [...include, ...entries.map((e) => e.glob)],
    specPaths: inDir ? [inDir] : [],
    ...(options.followExternalSymlinks ? { followExternalSymlinks: true } : {}),
    ...(options.ignoreFiles === false ? { ignoreFiles: false } : {}),
    ...(options.skipDirs ? { skipDirs: options.skipDirs } : {}),
    onIgnored: (e) => ignored.push(e),
    onEmptyDir: (d) => emptyDirs.push(d),
  });

  const files: ModelFile[] = [];
  for (const w of walked) {
    const ruleKind = classifyPath(w.path, w.stat.size);
    const best = bestEntry(entries, w.path);
    if (best) {
      best.c.matched = true;
      files.push(toModelFile(w, kindFor(best.c.entry, best.exact, ruleKind), false));
    } else {
      files.push(toModelFile(w, ruleKind, true));
    }
  }
  // A file claimed by a more specific entry still counts as "found" for the less specific ones.
  for (const c of entries) if (!c.matched) c.matched = walked.some((w) => c.glob.matches(w.path));

  const warnings: string[] = [];
  // An empty directory cannot be a layer (a layer is a file); say so rather than drop it
  // silently. Not with --include: the user asked for some files only.
  const emptyBelow = emptyDirs.filter((d) => d !== '');
  if (emptyBelow.length > 0 && include.length === 0)
    warnings.push(
      `${emptyBelow.length === 1 ? 'an empty directory is' : `${emptyBelow.length} empty directories are`} not packed (${emptyBelow
        .slice(0, 5)
        .join(
          ', ',
        )}${emptyBelow.length > 5 ? ', …' : ''}): an artifact holds files, so pull will not recreate ${emptyBelow.length === 1 ? 'it' : 'them'}`,
    );
  for (const c of entries) {
    if (c.matched) continue;
    const hidden = c.entry.literal
      ? ignored.find((i) => i.path === c.entry.pattern || (i.path.endsWith('/') && c.entry.pattern.startsWith(i.path)))
      : undefined;
    if (hidden)
      throw new ModelshipError(
        'INPUT',
        `${c.entry.origin}: ${c.entry.pattern} is left out by ${hidden.by}${hidden.pattern ? ` (${hidden.pattern})` : ''}`,
        {
          hint: 'remove it from the ignore file, re-include it with a "!" line in .modelshipignore, or turn ignore files off',
        },
      );
    if (c.entry.literal)
      throw new ModelshipError('INPUT', `${c.entry.origin}: ${c.entry.pattern} does not exist in the model directory`, {
        hint: `fix the path in the spec (paths are relative to the model directory), or check ${opt('include')} and ${opt('exclude')}`,
      });
    warnings.push(`${c.entry.origin}: ${c.entry.pattern} matches no file`);
  }

  if (files.length === 0 && emptyDirs.includes(''))
    throw new ModelshipError('INPUT', `model directory ${dir} is empty: nothing to pack`, {
      hint: 'pass the directory that holds the model files',
    });
  if (files.length === 0)
    throw new ModelshipError('INPUT', `no model files found in ${dir}`, {
      hint:
        include.length + exclude.length > 0
          ? `check ${opt('include')} and ${opt('exclude')}; the patterns are relative to the model directory`
          : ignored.length > 0
            ? `${ignored.length} paths are left out by ignore files (${ignored
                .slice(0, 3)
                .map((i) => `${i.path}: ${i.by}`)
                .join(', ')}); hidden files, .git and __pycache__ are skipped`
            : `hidden files, .git and __pycache__ are skipped; name hidden files with ${opt('include')} to pack them`,
    });

  const result: ScanResult = {
    root,
    files: sortModelFiles(files),
    specMetadata: spec?.metadata ?? {},
    warnings,
    ignored,
  };
  if (spec) {
    result.specSource = spec.source;
    result.specFormat = spec.format;
    result.specText = spec.text;
  }
  return result;
}

/**
 * One model file (`pack FILE`, e.g. a .gguf): the artifact a directory holding only that file
 * gives. Nothing beside it is read (no walk, no ignore files, no Modelfile of its directory):
 * the user named the file. Its layer is named by the name given (a symlink by its own name, as
 * in a directory walk), and the same path rules apply, so pull can write it back.
 */
async function scanModelFile(
  given: string,
  root: string,
  file: WalkedFile,
  options: ScanModelDirOptions,
): Promise<ScanResult> {
  if (options.include?.length || options.exclude?.length || options.spec !== undefined)
    throw new ModelshipError(
      'USAGE',
      `${given} is one file: ${opt('include')}, ${opt('exclude')} and a spec choose files in a directory`,
      {
        hint: 'pack the directory instead, or drop them',
      },
    );
  const unsafe = unsafePathReason(file.path);
  if (unsafe)
    throw new ModelshipError('INPUT', `"${file.path}" cannot be packed: ${unsafe}, and pull would refuse it`, {
      hint: 'rename the file',
    });
  return {
    root,
    singleFile: { stem: file.path.replace(/\.[^.]+$/, '') || file.path },
    files: [toModelFile(file, classifyPath(file.path, file.stat.size), true)],
    specMetadata: {},
    warnings: [],
    ignored: [],
  };
}
