import type { Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from '../digest.js';
import { ModelshipError, opt } from '../errors.js';
import { assertDistinctLayerPaths, modeFromAnnotations, readTarLayer } from '../extract.js';
import { hashFiles, type FileDigest, type HashRequest } from '../hash-pool.js';
import { parseLayerMediaType } from '../mediatypes.js';
import { layerTarSize, tarHeaderBytes } from '../modelpack/tar.js';
import { isDigest, type Descriptor } from '../oci.js';
import type { ReadOnlyStore } from '../store.js';
import type { ArtifactFacts, ArtifactLayer } from './facts.js';

/** OpenSSF model signing (sigstore/model-transparency) v1.0 predicate (docs/predicates.md, "Per-file manifest"). */
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
  /**
   * The model directory: checked against the artifact (every layer's file must be there with
   * the artifact's content), and where the files of tar layers are hashed.
   */
  dir?: string;
  /**
   * The store holding the artifact. A tar layer the directory cannot be matched to through
   * its diffId (a directory layer, a tar written by another tool) is read from it entry by
   * entry and compared with the directory.
   */
  store?: ReadOnlyStore;
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
 * digest is the file's sha256, so without a model directory nothing is read; tar layers need
 * the model directory. A given directory must be the artifact (see checkModelDir): a
 * manifest signed from it can only ever describe the artifact's own files.
 */
export async function buildFileManifestPredicate(
  facts: ArtifactFacts,
  options: FileManifestOptions = {},
): Promise<Record<string, unknown>> {
  assertDistinctLayerPaths(facts.layers, facts.name);
  const names = facts.layers.map((l) => checkedPath(l.path, `layer ${l.digest}`));
  const tarLayers = facts.layers.filter((l) => !l.raw);
  if (tarLayers.length > 0 && !options.dir)
    throw new ModelshipError(
      'USAGE',
      `${facts.name} has ${tarLayers.length} tar layer(s) (${tarLayers[0]!.path || tarLayers[0]!.digest}…); per-file digests of tar layers need the model directory`,
      { hint: `pass ${opt('modelDir')} with the directory the artifact was packed from` },
    );
  const resources = options.dir
    ? await checkModelDir(facts, options.dir, options.store)
    : facts.layers.map((l, i): FileResource => ({
        name: names[i]!,
        algorithm: 'sha256',
        digest: hexOf(l.digest),
        size: l.size,
      }));
  return {
    serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
    resources: resources.sort((a, b) => compare(a.name, b.name)),
  };
}

/** A file of the model directory that a layer is compared with. */
interface LocalFile {
  name: string;
  abs: string;
  request: number;
}

/** What each layer expects of the directory, before anything is hashed. */
type LayerPlan =
  | { layer: ArtifactLayer; index: number; name: string; kind: 'absent' }
  | { layer: ArtifactLayer; index: number; name: string; kind: 'file'; file: LocalFile }
  | { layer: ArtifactLayer; index: number; name: string; kind: 'directory'; files: LocalFile[] };

/**
 * Checks that `dir` holds the artifact: each raw layer's file hashes to the layer digest; a
 * tar layer's file, wrapped in the one-file tar pack writes, hashes to the layer's diffId; any
 * other tar layer is read from `store` and its entries' contents compared with the files.
 * Missing, mismatching and extra files (files inside a tar layer's directory that the layer
 * lacks: they would be signed but are not the artifact's) are refused together, INVALID
 * naming them. Each file is read once, in the hash pool; each tar blob at most once.
 * Returns the verified resources.
 */
async function checkModelDir(
  facts: ArtifactFacts,
  dir: string,
  store: ReadOnlyStore | undefined,
): Promise<FileResource[]> {
  const root = await modelRoot(dir);
  const diffIds = configDiffIds(facts);
  const requests: HashRequest[] = [];
  const mismatched: string[] = [];
  const missing: string[] = [];
  const plans: LayerPlan[] = [];
  for (const [index, layer] of facts.layers.entries()) {
    const name = checkedPath(layer.path, `layer ${layer.digest}`);
    const abs = join(root, ...name.split('/'));
    const found = await lookupAny(root, abs);
    if (!found) {
      missing.push(name);
      plans.push({ layer, index, name, kind: 'absent' });
    } else if (found.escapes) {
      mismatched.push(name);
      plans.push({ layer, index, name, kind: 'absent' });
    } else if (found.st.isDirectory()) {
      if (layer.raw) {
        mismatched.push(name);
        plans.push({ layer, index, name, kind: 'absent' });
        continue;
      }
      const files = (await listFiles(root, abs))
        .filter((f) => {
          if (f.escapes) mismatched.push(f.name);
          return !f.escapes;
        })
        .map((f) => ({ name: f.name, abs: f.abs, request: requests.push({ path: f.abs }) - 1 }));
      plans.push({ layer, index, name, kind: 'directory', files });
    } else {
      const request: HashRequest = { path: abs };
      if (!layer.raw) {
        const file = { path: name, size: found.st.size, mode: fileMode(facts, index, found.st) };
        const head = tarHeaderBytes(file);
        request.frame = { head, tailZeros: layerTarSize(file) - head.length - file.size };
      }
      plans.push({ layer, index, name, kind: 'file', file: { name, abs, request: requests.push(request) - 1 } });
    }
  }
  const digests = await hashFiles(requests);

  const resources = new Map<string, FileResource>();
  const add = (name: string, d: { digest: string; size: number }): void => {
    if (resources.has(name))
      throw new ModelshipError('INVALID', `${facts.name} has the file ${name} twice`, {
        hint: 'each file of a model is one layer entry; repack the model',
      });
    resources.set(name, { name, algorithm: 'sha256', digest: hexOf(d.digest), size: d.size });
  };
  /** Files inside tar layers' directories, to find the extra ones once every layer is known. */
  const listed: string[] = [];
  for (const plan of plans) {
    if (plan.kind === 'absent') continue;
    const { layer } = plan;
    if (plan.kind === 'file') {
      const d = digests[plan.file.request]!;
      if (layer.raw) {
        if (d.digest === layer.digest && d.size === layer.size) add(plan.name, d);
        else mismatched.push(plan.name);
        continue;
      }
      const diffId = parseLayerMediaType(layer.mediaType)?.encoding === 'tar' ? layer.digest : diffIds[plan.index];
      if (diffId !== undefined && d.framedDigest === diffId) {
        add(plan.name, d);
        continue;
      }
    }
    // Not matched through the diffId: compare the layer's entries with the directory.
    const local = plan.kind === 'file' ? [plan.file] : plan.files;
    if (plan.kind === 'directory') listed.push(...plan.files.map((f) => f.name));
    const entries = await tarEntryDigests(facts, plan.index, store, diffIds[plan.index]);
    const byName = new Map(local.map((f) => [f.name, digests[f.request]!]));
    const elsewhere: { name: string; abs: string }[] = [];
    for (const [name, entry] of entries) {
      const mine = byName.get(name);
      if (mine) {
        if (mine.digest === entry.digest) add(name, entry);
        else mismatched.push(name);
        continue;
      }
      // An entry outside the layer's path, or a hidden one listFiles skips: look it up.
      const f = await lookup(root, name);
      if (!f) missing.push(name);
      else if (f.escapes) mismatched.push(name);
      else elsewhere.push({ name, abs: f.abs });
    }
    const more = await hashFiles(elsewhere.map((e) => e.abs));
    elsewhere.forEach((e, k) => {
      const entry = entries.get(e.name)!;
      if (more[k]!.digest === entry.digest) add(e.name, entry);
      else mismatched.push(e.name);
    });
    // A one-file layer whose entry has another name than its file: the file is not the entry.
    if (plan.kind === 'file' && !entries.has(plan.name)) listed.push(plan.name);
  }
  const extra = listed.filter((n) => !resources.has(n));
  if (mismatched.length + missing.length + extra.length > 0) {
    const parts = [
      mismatched.length ? `different content: ${named(mismatched)}` : '',
      missing.length ? `missing: ${named(missing)}` : '',
      extra.length ? `not in the artifact: ${named(extra)}` : '',
    ].filter(Boolean);
    throw new ModelshipError(
      'INVALID',
      `model directory ${dir} is not ${facts.name}@${facts.descriptor.digest} (${parts.join('; ')})`,
      {
        hint: 'attest with the directory the artifact was packed from, unchanged, or extract the artifact into an empty directory and attest that',
      },
    );
  }
  return [...resources.values()];
}

function named(paths: string[]): string {
  const sorted = [...new Set(paths)].sort(compare);
  return sorted.length > 10 ? `${sorted.slice(0, 10).join(', ')} and ${sorted.length - 10} more` : sorted.join(', ');
}

/** The config's diffIds by layer index (ModelPack `modelfs.diffIds`), when it lists one per layer. */
function configDiffIds(facts: ArtifactFacts): (string | undefined)[] {
  const ids = (facts.config as { modelfs?: { diffIds?: unknown } }).modelfs?.diffIds;
  if (!Array.isArray(ids) || ids.length !== facts.layers.length) return [];
  return ids.map((d) => (typeof d === 'string' && isDigest(d) ? d : undefined));
}

/** The mode pack put in the tar header: the layer's metadata annotation, else the file's. */
function fileMode(facts: ArtifactFacts, index: number, st: Stats): number {
  const annotations = facts.manifest.layers[index]?.annotations;
  const hasMeta =
    annotations?.['org.cncf.model.file.metadata+json'] !== undefined ||
    annotations?.['org.cnai.model.file.metadata+json'] !== undefined;
  return hasMeta ? modeFromAnnotations(annotations) : st.mode;
}

/** sha256 and size of each regular file in a tar layer, read once from the store and verified. */
async function tarEntryDigests(
  facts: ArtifactFacts,
  index: number,
  store: ReadOnlyStore | undefined,
  diffId: string | undefined,
): Promise<Map<string, { digest: string; size: number }>> {
  const desc: Descriptor | undefined = facts.manifest.layers[index];
  if (!store || !desc)
    throw new ModelshipError(
      'USAGE',
      `comparing tar layer ${facts.layers[index]!.digest} with the model directory needs the store that holds the artifact`,
    );
  const entries = new Map<string, FileDigest>();
  const content = await store.fetch(desc);
  try {
    await readTarLayer(
      desc,
      content,
      {
        file: async (name: string, _mode: number, entry: Readable) => {
          const key = checkedPath(name.replace(/\/+$/, '').replace(/^(\.\/)+/, ''), `layer ${desc.digest} entry`);
          if (entries.has(key))
            throw new ModelshipError('INVALID', `layer ${desc.digest} has the entry ${key} twice`, {
              hint: 'repack the model',
            });
          const hash = new HashingStream();
          await pipeline(entry, hash, new Writable({ write: (_c, _e, cb) => cb() }));
          entries.set(key, { digest: hash.digest(), size: hash.bytes });
        },
      },
      diffId ? { diffId } : {},
    );
  } finally {
    content.destroy();
  }
  return entries;
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

async function lookupAny(root: string, abs: string): Promise<{ st: Stats; escapes: boolean } | undefined> {
  try {
    const st = await stat(abs);
    return { st, escapes: !isInside(root, await realpath(abs)) };
  } catch {
    return undefined;
  }
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
