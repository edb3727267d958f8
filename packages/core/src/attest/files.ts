import type { Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { ModelshipError } from '../errors.js';
import { hashFiles } from '../hash-pool.js';
import type { ArtifactFacts } from './facts.js';

/** OpenSSF model signing (sigstore/model-transparency) v1.0 predicate, reference §7. */
export const FILES_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';

export interface FileResource {
  /** POSIX path relative to the model directory. */
  name: string;
  algorithm: 'sha256';
  /** Hex, no `sha256:` prefix (model_signing's spelling). */
  digest: string;
  /** Not in the OpenSSF format: lets a verifier report a truncated file without hashing it. */
  size: number;
}

export interface FileManifestOptions {
  /** The model directory, to hash the files of tar layers. */
  dir?: string;
}

export interface FileVerification {
  ok: boolean;
  /** In the manifest, present, different content (or a symlink leaving the directory). */
  mismatched: string[];
  /** In the manifest, absent from the directory. */
  missing: string[];
  /** In the directory, not in the manifest. Hidden paths (.git, .cache, ...) are not counted. */
  extra: string[];
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The per-file digest manifest of an artifact. Raw layers are one file each whose layer
 * digest is the file's sha256, so nothing is read; tar layers need the model directory.
 */
export async function buildFileManifestPredicate(
  facts: ArtifactFacts,
  options: FileManifestOptions = {},
): Promise<Record<string, unknown>> {
  const resources = new Map<string, FileResource>();
  const add = (r: FileResource): void => {
    const prev = resources.get(r.name);
    if (prev && prev.digest !== r.digest)
      throw new ModelshipError('INVALID', `${facts.name} has two layers for ${r.name} with different digests`, {
        hint: 'repack the model; each file must appear once',
      });
    resources.set(r.name, r);
  };
  const tarLayers = facts.layers.filter((l) => !l.raw);
  if (tarLayers.length > 0 && !options.dir)
    throw new ModelshipError(
      'USAGE',
      `${facts.name} has ${tarLayers.length} tar layer(s) (${tarLayers[0]!.path || tarLayers[0]!.digest}…); per-file digests of tar layers need the model directory`,
      { hint: 'pass --model-dir with the directory the artifact was packed from' },
    );
  for (const l of facts.layers) {
    if (!l.raw) continue;
    const name = checkedPath(l.path, `layer ${l.digest}`);
    add({ name, algorithm: 'sha256', digest: hexOf(l.digest), size: l.size });
  }
  if (tarLayers.length > 0) {
    const root = await modelRoot(options.dir!);
    const wanted: { name: string; abs: string }[] = [];
    for (const l of tarLayers) {
      const name = checkedPath(l.path, `layer ${l.digest}`);
      const abs = join(root, ...name.split('/'));
      const st = await statInside(root, abs, name);
      if (st.isDirectory()) {
        for (const f of await listFiles(root, abs)) wanted.push(f);
      } else wanted.push({ name, abs });
    }
    const digests = await hashFiles(wanted.map((w) => w.abs));
    wanted.forEach((w, i) =>
      add({ name: w.name, algorithm: 'sha256', digest: hexOf(digests[i]!.digest), size: digests[i]!.size }),
    );
  }
  return {
    serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
    resources: [...resources.values()].sort((a, b) => compare(a.name, b.name)),
  };
}

/**
 * Re-hashes `dir` against a files predicate. Symlinks resolving inside `dir` are followed
 * (as pack does for Hugging Face cache snapshots); ones leaving it count as mismatched.
 */
export async function verifyFilesAgainstManifest(
  dir: string,
  predicate: Record<string, unknown>,
): Promise<FileVerification> {
  const resources = parseResources(predicate);
  const root = await modelRoot(dir);
  const present = new Map((await listFiles(root, root)).map((f) => [f.name, f]));
  const mismatched: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  const toHash: { r: ManifestEntry; abs: string }[] = [];
  for (const r of resources) {
    let f = present.get(r.name);
    // Hidden files are not listed but may be in the manifest: look them up directly.
    f ??= await lookup(root, r.name);
    if (!f) missing.push(r.name);
    else if (f.escapes) mismatched.push(r.name);
    else toHash.push({ r, abs: f.abs });
  }
  const digests = await hashFiles(toHash.map((t) => t.abs));
  toHash.forEach(({ r }, i) => {
    const d = digests[i]!;
    if (hexOf(d.digest) !== r.digest || (r.size !== undefined && r.size !== d.size)) mismatched.push(r.name);
  });
  const names = new Set(resources.map((r) => r.name));
  for (const name of present.keys()) if (!names.has(name)) extra.push(name);
  mismatched.sort(compare);
  missing.sort(compare);
  extra.sort(compare);
  return { ok: mismatched.length + missing.length + extra.length === 0, mismatched, missing, extra };
}

interface ManifestEntry {
  name: string;
  digest: string;
  size: number | undefined;
}

function parseResources(predicate: Record<string, unknown>): ManifestEntry[] {
  const serialization = predicate.serialization as Record<string, unknown> | undefined;
  if (!serialization || serialization.method !== 'files' || serialization.hash_type !== 'sha256')
    throw new ModelshipError(
      'INVALID',
      `the file manifest is not a sha256 "files" serialization (method ${String(serialization?.method)}, hash_type ${String(serialization?.hash_type)})`,
      { hint: `modelship verifies ${FILES_PREDICATE_TYPE} predicates with method "files" and hash_type "sha256"` },
    );
  if (!Array.isArray(predicate.resources))
    throw new ModelshipError('INVALID', 'the file manifest has no "resources" list');
  return predicate.resources.map((raw: unknown, i) => {
    const r = raw as Record<string, unknown> | null;
    const digest = typeof r?.digest === 'string' ? r.digest.toLowerCase() : '';
    if (!r || typeof r.name !== 'string' || r.algorithm !== 'sha256' || !/^[0-9a-f]{64}$/.test(digest))
      throw new ModelshipError(
        'INVALID',
        `file manifest resource #${i} is not {name, algorithm: "sha256", digest: <hex>}`,
      );
    checkedPath(r.name, `resource #${i}`);
    return { name: r.name, digest, size: typeof r.size === 'number' ? r.size : undefined };
  });
}

function hexOf(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m)
    throw new ModelshipError('INVALID', `${digest} is not a sha256 digest`, {
      hint: 'the OpenSSF file manifest records sha256 only',
    });
  return m[1]!;
}

/** Layer paths come from annotations, i.e. from whoever pushed the artifact. */
function checkedPath(path: string, what: string): string {
  const parts = path.split('/');
  if (
    !path ||
    path.includes('\\') ||
    path.includes('\0') ||
    isAbsolute(path) ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  )
    throw new ModelshipError(
      'INVALID',
      `${what} has file path "${path}", which is not a relative POSIX path inside the model`,
      {
        hint: 'each layer needs an org.cncf.model.filepath annotation like "dir/file.bin"',
      },
    );
  return posix.normalize(path);
}

async function modelRoot(dir: string): Promise<string> {
  let st: Stats;
  try {
    st = await stat(dir);
  } catch (e) {
    throw new ModelshipError('INPUT', `model directory ${dir} does not exist`, {
      cause: e,
      hint: 'pass the directory the artifact was packed from',
    });
  }
  if (!st.isDirectory()) throw new ModelshipError('INPUT', `${dir} is not a directory`);
  return realpath(dir);
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

interface ListedFile {
  name: string;
  abs: string;
  /** A symlink whose target is outside the root. */
  escapes: boolean;
}

async function lookup(root: string, name: string): Promise<ListedFile | undefined> {
  const abs = join(root, ...name.split('/'));
  try {
    if (!(await stat(abs)).isFile()) return undefined;
    return { name, abs, escapes: !isInside(root, await realpath(abs)) };
  } catch {
    return undefined;
  }
}

async function statInside(root: string, abs: string, name: string): Promise<Stats> {
  let st: Stats;
  let real: string;
  try {
    st = await stat(abs);
    real = await realpath(abs);
  } catch (e) {
    throw new ModelshipError('INPUT', `${name} is in the artifact but not in the model directory ${root}`, {
      cause: e,
      hint: 'pass the directory the artifact was packed from, unchanged',
    });
  }
  if (!isInside(root, real))
    throw new ModelshipError('INPUT', `${name} is a symlink to ${real}, outside the model directory`, {
      hint: 'copy the file into the model directory',
    });
  return st;
}

/**
 * Regular files under `from` with their POSIX names relative to `root`, following symlinks
 * (not recording escaping ones' targets), skipping hidden names as pack does.
 */
async function listFiles(root: string, from: string): Promise<ListedFile[]> {
  const out: ListedFile[] = [];
  const visit = async (abs: string, seen: Set<string>): Promise<void> => {
    const names = (await readdir(abs)).sort(compare);
    for (const n of names) {
      if (n.startsWith('.')) continue;
      const p = join(abs, n);
      let st: Stats;
      let real: string;
      try {
        st = await stat(p);
        real = await realpath(p);
      } catch {
        continue; // dangling symlink: no content to compare
      }
      const name = relative(root, p).split(sep).join('/');
      const escapes = !isInside(root, real);
      if (st.isDirectory()) {
        if (escapes || seen.has(real)) continue;
        await visit(p, new Set([...seen, real]));
      } else if (st.isFile()) out.push({ name, abs: p, escapes });
    }
  };
  await visit(from, new Set([await realpath(from)]));
  return out;
}
