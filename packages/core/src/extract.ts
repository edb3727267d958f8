import { pidAlive } from './file-lock.js';
import { createWriteStream, type Stats } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { tempSibling } from './atomic-file.js';
import { gunzip, zstdDecompress } from './compression.js';
import { HashingStream } from './digest.js';
import { ModelshipError } from './errors.js';
import { hashFiles } from './hash-pool.js';
import { unsafePathReason } from './safe-path.js';
import { parseLayerMediaType, layerFilepath, type LayerEncoding } from './mediatypes.js';
import type { Descriptor } from './oci.js';

/**
 * Resolves a path taken from an artifact (annotation or tar entry) under `root`, refusing what
 * safe-path.ts `unsafePathReason` refuses (absolute, `..`, backslashes, control characters,
 * `.git`): a hostile manifest must not write outside the directory the user chose, nor into
 * a git directory there.
 */
export function safeJoin(root: string, untrusted: string, what: string): string {
  const why = unsafePathReason(untrusted);
  if (why)
    throw new ModelshipError('INVALID', `${what}: refusing unsafe path ${JSON.stringify(untrusted)} (${why})`, {
      hint: 'the artifact names a file outside the extraction directory or inside a .git directory; it may be malicious',
    });
  const parts = untrusted.split('/').filter((p) => p !== '' && p !== '.');
  const abs = resolve(root, ...parts);
  const rel = relative(resolve(root), abs);
  if (rel.startsWith('..') || isAbsolute(rel) || rel === '')
    throw new ModelshipError('INVALID', `${what}: refusing unsafe path "${untrusted}"`);
  return abs;
}

/** File mode from the ModelPack metadata annotation: only 0644 or 0755, never setuid etc. */
export function modeFromAnnotations(annotations: Record<string, string> | undefined): number {
  const raw = annotations?.['org.cncf.model.file.metadata+json'] ?? annotations?.['org.cnai.model.file.metadata+json'];
  if (!raw) return 0o644;
  try {
    const m = JSON.parse(raw) as { mode?: unknown };
    return typeof m.mode === 'number' && (m.mode & 0o111) !== 0 ? 0o755 : 0o644;
  } catch {
    return 0o644;
  }
}

/** The uncompressed tar stream of a tar / tar+gzip / tar+zstd layer. */
function decompressed(content: Readable, encoding: LayerEncoding, what: string): Readable {
  if (encoding === 'tar+gzip') return gunzip(content);
  if (encoding === 'tar+zstd') return zstdDecompress(content, what);
  return content;
}

/** The same file for every spelling of a path ("a//b", "./a/b", "a/b/"). */
function pathKey(path: string): string {
  return path
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

/**
 * The one rule for "two layers name the same file", shared by extraction and the per-file
 * attestation: each file of a ModelPack artifact is one layer, so a second layer for a path is
 * a malformed (or crafted) manifest, whatever its digest; which of the two wins would depend
 * on the reader.
 */
export function assertDistinctLayerPaths(layers: readonly { path: string; digest: string }[], artifact: string): void {
  const seen = new Map<string, string>();
  for (const l of layers) {
    if (!l.path) continue;
    const key = pathKey(l.path);
    const first = seen.get(key);
    if (first !== undefined)
      throw new ModelshipError(
        'INVALID',
        `${artifact} has two layers for the file "${l.path}" (${first} and ${l.digest})`,
        { hint: 'each file of a model is one layer; repack the model' },
      );
    seen.set(key, l.digest);
  }
}

export interface ExtractLimits {
  /** Refuse a tar layer expanding past this many bytes (decompression bombs). Default 4x the layer + 1 GiB for compressed, the layer size for plain tar. */
  maxExpandedBytes?: number;
}

export interface TarLayerOptions extends ExtractLimits {
  /** The layer's diffId from the config, when known: the uncompressed tar must hash to it. */
  diffId?: string;
  /** The encoding, for layers whose media type is not a ModelPack one (KitOps, Docker Model Runner). */
  encoding?: LayerEncoding;
}

export interface TarEntryVisitor {
  /** A regular file: `content` must be consumed (or resumed) before the next entry comes. */
  file(name: string, mode: number, content: Readable): Promise<void>;
  directory?(name: string): Promise<void>;
}

/**
 * Walks the entries of a tar / tar+gzip / tar+zstd layer: decompresses, stops at
 * `maxExpandedBytes`, checks the diffId, refuses anything but regular files and directories.
 * Resolves only once the last byte of `content` was read, so with a verifying `content`
 * (ContentStore.fetch) a resolved walk means a verified layer; until then whatever the
 * visitor did with the entries must stay provisional.
 */
export async function readTarLayer(
  desc: Descriptor,
  content: Readable,
  visitor: TarEntryVisitor,
  options: TarLayerOptions = {},
): Promise<void> {
  const encoding: LayerEncoding = options.encoding ?? parseLayerMediaType(desc.mediaType)?.encoding ?? 'tar';
  const what = `layer ${desc.digest}`;
  if (encoding === 'tar' && options.diffId !== undefined && options.diffId !== desc.digest)
    throw new ModelshipError('INVALID', `${what}: the config's diffId ${options.diffId} is not the layer digest`, {
      hint: 'an uncompressed tar layer is its own diffId; the artifact is malformed or tampered with',
    });
  const cap = options.maxExpandedBytes ?? (encoding === 'tar' ? desc.size : desc.size * 4 + 1024 ** 3);
  let expanded = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      expanded += chunk.length;
      if (expanded > cap)
        return cb(new ModelshipError('INVALID', `${what} expands past ${cap} bytes; refusing (decompression bomb?)`));
      cb(null, chunk);
    },
  });
  const diffHash = encoding !== 'tar' && options.diffId !== undefined ? new HashingStream() : undefined;
  const extract = tarStream.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      if (h.type === 'directory') {
        entry.resume();
        await visitor.directory?.(h.name);
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file')
        throw new ModelshipError('INVALID', `${what}: refusing tar entry "${h.name}" of type ${h.type}`, {
          hint: 'ModelPack layers hold regular files; links and devices are not extracted',
        });
      await visitor.file(h.name, (h.mode ?? 0o644) & 0o111 ? 0o755 : 0o644, entry as unknown as Readable);
    }
  })().catch((e: unknown) => {
    // Stop the download too: a refused entry ends the whole layer.
    extract.destroy(e as Error);
    throw e;
  });
  const tarBytes = decompressed(content, encoding, what);
  try {
    await Promise.all([
      diffHash ? pipeline(tarBytes, diffHash, counter, extract) : pipeline(tarBytes, counter, extract),
      done,
    ]);
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    // zlib and tar parse errors: the bytes are not the layer they claim to be.
    throw new ModelshipError('INVALID', `${what} (${encoding}) cannot be read: ${(e as Error).message}`, {
      cause: e,
      hint: 'the layer is corrupt or not what its media type says; it may have been tampered with',
    });
  }
  if (diffHash) {
    const got = diffHash.digest();
    if (got !== options.diffId)
      throw new ModelshipError('INVALID', `${what}: uncompressed content ${got} is not the diffId ${options.diffId}`, {
        hint: 'the config and the layer disagree; the artifact is malformed or tampered with',
      });
  }
}

/** A file waiting in the staging directory. */
interface StagedFile {
  digest: string;
  size: number;
  mode: number;
}

/** How a path in the output compares with what the artifact has there. */
type Existing = 'absent' | 'identical' | 'different';

export interface CommitOptions {
  /** Replace existing files whose content differs from the artifact's (default: refuse). */
  overwrite?: boolean;
}

const MAX_NAMED = 10;

const noop = (): void => {};

function listed(paths: string[]): string {
  const shown = paths.slice(0, MAX_NAMED).join(', ');
  return paths.length > MAX_NAMED ? `${shown} and ${paths.length - MAX_NAMED} more` : shown;
}

/**
 * Existing files in the output differ from the artifact's and replacing them was not allowed.
 * `files` are POSIX paths relative to the output directory; front ends name their own option
 * for allowing it.
 */
export class ExtractConflictError extends ModelshipError {
  constructor(
    readonly directory: string,
    readonly files: string[],
  ) {
    super(
      'CONFLICT',
      `${files.length} file(s) in ${directory} differ from the artifact's and would be replaced: ${listed(files)}`,
      { hint: 'move them away, extract into an empty directory, or allow replacing existing files' },
    );
    this.name = 'ExtractConflictError';
  }
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    if (errno(e) === 'ENOTDIR') return undefined; // a parent is a file: reported by the parent check
    throw e;
  }
}

const STAGE_PREFIX = '.modelship-extract-';
/** Where raw layers are downloaded (resumably, download.ts) before they join a stage. */
export const PARTIAL_DIR = '.modelship-partial';

/**
 * Stages left by extractions that were killed (their pid, in the name, is no longer running
 * on this host) are removed: they hold only unverified or uncommitted copies.
 */
async function removeStaleStages(root: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.modelship-extract-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await rm(join(root, name), { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Extraction through a private staging directory inside the output (same filesystem, so the
 * final move is a rename): layers are written there as they stream, and only after every
 * layer was read to its end (and so verified) are the files compared with what the output
 * already holds and renamed into place. A failed or tampered layer leaves the output as it
 * was; `discard` removes the staging directory.
 */
export class ExtractionStage {
  private readonly files = new Map<string, StagedFile>();
  private readonly dirs = new Set<string>();
  /** Every directory the staged files and directories need. */
  private readonly parents = new Set<string>();
  /** Comparisons made before the download (raw layers), so existing files are hashed once. */
  private readonly known = new Map<string, Existing>();

  private constructor(
    /** The output directory as the caller named it, for messages. */
    readonly directory: string,
    /** The output directory, absolute. */
    readonly root: string,
    private readonly stageDir: string,
    /** The first directory mkdir created for the output, removed again when nothing lands there. */
    private readonly created: string | undefined,
  ) {}

  static async open(dir: string): Promise<ExtractionStage> {
    const root = resolve(dir);
    let created: string | undefined;
    try {
      created = await mkdir(root, { recursive: true });
      if (!(await stat(root)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      await removeStaleStages(root);
      // Dot-prefixed and unique: listings skip it, concurrent extractions do not meet; the pid
      // in the name lets a later run remove the stage of a killed one (removeStaleStages).
      return new ExtractionStage(dir, root, await mkdtemp(join(root, `${STAGE_PREFIX}${process.pid}-`)), created);
    } catch (e) {
      throw new ModelshipError('INPUT', `cannot write into ${dir}: ${(e as Error).message}`, {
        cause: e,
        hint: 'name a directory you can write to',
      });
    }
  }

  private rel(abs: string): string {
    return relative(this.root, abs).split(sep).join('/');
  }

  private claim(rel: string, what: string, kind: 'file' | 'directory'): void {
    const twice = (): ModelshipError =>
      new ModelshipError('INVALID', `${what}: the artifact has "${rel}" twice`, {
        hint: 'each file of a model is one layer entry; repack the model',
      });
    if (this.files.has(rel)) throw twice();
    if (kind === 'file' && (this.dirs.has(rel) || this.parents.has(rel))) throw twice();
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.files.has(parent))
        throw new ModelshipError('INVALID', `${what}: the artifact has "${parent}" as a file and as a directory`, {
          hint: 'repack the model',
        });
      this.parents.add(parent);
    }
  }

  private async stageFile(
    rel: string,
    what: string,
    content: Readable,
    mode: number,
    known?: { digest: string; size: number },
  ): Promise<void> {
    this.claim(rel, what, 'file');
    const abs = join(this.stageDir, ...rel.split('/'));
    await mkdir(dirname(abs), { recursive: true });
    const hash = known ? undefined : new HashingStream();
    const out = createWriteStream(abs, { mode, flags: 'wx' });
    try {
      await (hash ? pipeline(content, hash, out) : pipeline(content, out));
    } catch (e) {
      // A case-insensitive filesystem folds "A.txt" and "a.txt" into one file.
      if (errno(e) === 'EEXIST')
        throw new ModelshipError('INVALID', `${what}: "${rel}" collides with another file of the artifact`, {
          cause: e,
          hint: 'extract on a case-sensitive filesystem, or repack the model',
        });
      throw e;
    }
    this.files.set(rel, known ? { ...known, mode } : { digest: hash!.digest(), size: hash!.bytes, mode });
  }

  /**
   * Compares raw layers with the files already in the output before anything is downloaded,
   * refusing different ones unless `overwrite`. Returns the layers whose file is already there
   * byte for byte: their blobs need not be fetched at all.
   */
  async precheck(layers: readonly Descriptor[], options: CommitOptions = {}): Promise<Set<Descriptor>> {
    const planned = layers.map((desc) => ({
      desc,
      rel: this.rel(safeJoin(this.root, layerFilepath(desc.annotations) ?? '', `layer ${desc.digest}`)),
    }));
    const states = await this.compare(planned.map((p) => ({ rel: p.rel, digest: p.desc.digest, size: p.desc.size })));
    const different = planned.filter((_p, i) => states[i] === 'different').map((p) => p.rel);
    if (different.length && !options.overwrite) throw new ExtractConflictError(this.directory, different);
    planned.forEach((p, i) => this.known.set(p.rel, states[i]!));
    return new Set(planned.filter((_p, i) => states[i] === 'identical').map((p) => p.desc));
  }

  /** Records a raw layer whose identical file is already in the output (see precheck). */
  keep(desc: Descriptor): string {
    const target = safeJoin(this.root, layerFilepath(desc.annotations) ?? '', `layer ${desc.digest}`);
    const rel = this.rel(target);
    this.claim(rel, `layer ${desc.digest}`, 'file');
    this.files.set(rel, { digest: desc.digest, size: desc.size, mode: modeFromAnnotations(desc.annotations) });
    this.known.set(rel, 'identical');
    return rel;
  }

  /**
   * Stages one ModelPack layer: a raw layer to its filepath annotation, a tar layer entry by
   * entry (regular files and directories only). `content` must be the store's verifying
   * stream (ContentStore.fetch): the layer counts as verified when it was read to the end.
   */
  async addLayer(desc: Descriptor, content: Readable, options: TarLayerOptions = {}): Promise<string[]> {
    // A blob that fails verification while we still create directories errors before the
    // pipeline listens; the pipeline sees the stream's errored state and rethrows it then.
    content.on('error', noop);
    const what = `layer ${desc.digest}`;
    const encoding: LayerEncoding = parseLayerMediaType(desc.mediaType)?.encoding ?? 'raw';
    if (encoding === 'raw') {
      const fp = layerFilepath(desc.annotations);
      if (!fp)
        throw new ModelshipError('INVALID', `layer ${desc.digest} has no org.cncf.model.filepath annotation`, {
          hint: 'cannot tell where to write this raw layer; pull into an OCI layout instead',
        });
      const rel = this.rel(safeJoin(this.root, fp, what));
      await this.stageFile(rel, what, content, modeFromAnnotations(desc.annotations), {
        digest: desc.digest,
        size: desc.size,
      });
      return [rel];
    }
    const written: string[] = [];
    await readTarLayer(
      desc,
      content,
      {
        file: async (name, mode, entry) => {
          const rel = this.rel(safeJoin(this.root, name, what));
          await this.stageFile(rel, what, entry, mode);
          written.push(rel);
        },
        directory: async (name) => {
          const rel = this.rel(safeJoin(this.root, name, what));
          this.claim(rel, what, 'directory');
          this.dirs.add(rel);
          await mkdir(join(this.stageDir, ...rel.split('/')), { recursive: true });
        },
      },
      options,
    );
    return written;
  }

  /** Where raw layers are downloaded before addDownloaded (kept across runs for resuming). */
  get partialDir(): string {
    return join(this.root, PARTIAL_DIR);
  }

  /**
   * Stages a raw layer whose blob was already downloaded and verified into the file `path`
   * (a BlobDownload of the store): the file is moved into the stage, not copied.
   */
  async addDownloaded(desc: Descriptor, path: string): Promise<string> {
    const what = `layer ${desc.digest}`;
    const fp = layerFilepath(desc.annotations);
    if (!fp)
      throw new ModelshipError('INVALID', `layer ${desc.digest} has no org.cncf.model.filepath annotation`, {
        hint: 'cannot tell where to write this raw layer; pull into an OCI layout instead',
      });
    const rel = this.rel(safeJoin(this.root, fp, what));
    this.claim(rel, what, 'file');
    const abs = join(this.stageDir, ...rel.split('/'));
    await mkdir(dirname(abs), { recursive: true });
    const mode = modeFromAnnotations(desc.annotations);
    await chmod(path, mode);
    await rename(path, abs);
    this.files.set(rel, { digest: desc.digest, size: desc.size, mode });
    return rel;
  }

  /** Hashes (in the worker pool) only existing regular files of the right size. */
  private async compare(items: readonly { rel: string; digest: string; size: number }[]): Promise<Existing[]> {
    const states: Existing[] = [];
    const toHash: { i: number; abs: string }[] = [];
    const blocked = new Set<string>();
    for (const [i, it] of items.entries()) {
      const abs = join(this.root, ...it.rel.split('/'));
      const parts = it.rel.split('/');
      for (let k = 1; k < parts.length; k++) {
        const parent = parts.slice(0, k).join('/');
        const st = await stat(join(this.root, ...parent.split('/'))).catch((e: unknown) =>
          errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR' ? undefined : Promise.reject(e),
        );
        if (st && !st.isDirectory()) blocked.add(`${parent} (a file where the artifact has a directory)`);
      }
      const st = await lstatOrUndefined(abs);
      if (!st) states.push('absent');
      else if (st.isDirectory()) {
        blocked.add(`${it.rel} (a directory where the artifact has a file)`);
        states.push('different');
      } else if (!st.isFile() || st.size !== it.size) states.push('different');
      else {
        states.push('different');
        toHash.push({ i, abs });
      }
    }
    if (blocked.size)
      throw new ModelshipError(
        'CONFLICT',
        `${this.directory} has paths in the way of the artifact: ${listed([...blocked])}`,
        {
          hint: 'move them away, or extract into an empty directory',
        },
      );
    const digests = await hashFiles(toHash.map((t) => t.abs));
    toHash.forEach((t, k) => {
      if (digests[k]!.digest === items[t.i]!.digest) states[t.i] = 'identical';
    });
    return states;
  }

  /**
   * Moves the staged files into the output once every layer was staged (and so verified):
   * existing identical files are kept, different ones are refused (ExtractConflictError)
   * unless `overwrite`, and nothing is moved when anything is refused.
   */
  async commit(options: CommitOptions = {}): Promise<string[]> {
    const rels = [...this.files.keys()].sort();
    const unknown = rels.filter((r) => !this.known.has(r));
    const states = await this.compare(
      unknown.map((rel) => ({ rel, digest: this.files.get(rel)!.digest, size: this.files.get(rel)!.size })),
    );
    unknown.forEach((rel, i) => this.known.set(rel, states[i]!));
    const different = rels.filter((r) => this.known.get(r) === 'different');
    if (different.length && !options.overwrite) throw new ExtractConflictError(this.directory, different);
    for (const d of [...this.dirs].sort()) {
      const abs = join(this.root, ...d.split('/'));
      const st = await lstatOrUndefined(abs);
      if (st && !st.isDirectory())
        throw new ModelshipError(
          'CONFLICT',
          `${this.directory} has a file at ${d}, where the artifact has a directory`,
          {
            hint: 'move it away, or extract into an empty directory',
          },
        );
      await mkdir(abs, { recursive: true });
    }
    for (const rel of rels) {
      const f = this.files.get(rel)!;
      const target = join(this.root, ...rel.split('/'));
      if (this.known.get(rel) === 'identical') {
        const st = await stat(target);
        if ((st.mode & 0o111) !== (f.mode & 0o111)) await chmod(target, f.mode);
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      await this.move(join(this.stageDir, ...rel.split('/')), target);
    }
    return rels;
  }

  private async move(from: string, to: string): Promise<void> {
    try {
      await rename(from, to);
    } catch (e) {
      // A mount point inside the output: copy next to the target, then rename there.
      if (errno(e) !== 'EXDEV') throw e;
      const tmp = tempSibling(to);
      try {
        await copyFile(from, tmp);
        await rename(tmp, to);
      } catch (e2) {
        await rm(tmp, { force: true });
        throw e2;
      }
    }
  }

  /**
   * Removes the staging directory; after a failure (`failed`), also the output directories
   * this extraction created when they stayed empty.
   */
  async discard(failed = false): Promise<void> {
    await rm(this.stageDir, { recursive: true, force: true });
    if (!failed || this.created === undefined) return;
    for (let d = this.root; d.length >= this.created.length; d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (or not ours to remove): stop
      }
      if (d === this.created) return;
    }
  }
}

/**
 * Writes one ModelPack layer under `root` through a staging directory: nothing lands in
 * `root` before the layer was read to its end (`content` must be the store's verifying
 * stream, ContentStore.fetch). Existing different files are refused unless `overwrite`.
 */
export async function extractLayer(
  root: string,
  desc: Descriptor,
  content: Readable,
  options: TarLayerOptions & CommitOptions = {},
): Promise<string[]> {
  // An error before the stage exists must not crash the process: see addLayer.
  content.on('error', noop);
  const stage = await ExtractionStage.open(root);
  let ok = false;
  try {
    const written = await stage.addLayer(desc, content, options);
    await stage.commit(options);
    ok = true;
    return written;
  } finally {
    content.destroy();
    content.off('error', noop);
    await stage.discard(!ok);
  }
}
