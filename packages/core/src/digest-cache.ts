import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ModelshipError, toModelshipError } from './errors.js';
import { hashFiles, type FileDigest, type HashFilesOptions } from './hash-pool.js';
import { isDigest } from './oci.js';

/**
 * What identifies one version of a file without reading it. Any stat-like object works (a
 * scanner's file record, for instance): `absPath` is preferred over `path`, and `mtimeNs` over
 * `mtimeMs` when both the entry and the lookup have it. Change time is deliberately left out:
 * hard-linking a file into an OCI layout bumps its ctime, which would invalidate every entry
 * right after the push that created it.
 */
export interface FileStatLike {
  /** Absolute path of the bytes; wins over `path`. */
  absPath?: string;
  /** Used (resolved against the cwd) when `absPath` is absent. */
  path: string;
  size: number | bigint;
  mtimeMs: number | bigint;
  /** Nanosecond mtime (`fs.stat(p, { bigint: true }).mtimeNs`), where available. */
  mtimeNs?: bigint;
  ino: number | bigint;
  dev: number | bigint;
}

/** A file's identity from `fileIdentity`: absolute path, ns mtime. */
export interface FileIdentity extends FileStatLike {
  path: string;
  size: number;
  mtimeMs: number;
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
}

export interface CachedDigest {
  digest: string;
  size: number;
  /** Digest of the uncompressed content, for compressed layer variants. */
  diffId?: string;
}

export interface DigestCacheOptions {
  /** Entries kept on save; the least recently used beyond this are dropped (default 100 000). */
  maxEntries?: number;
}

interface Entry extends CachedDigest {
  size: number;
  fileSize: number;
  mtimeMs: number;
  mtimeNs?: string;
  ino: string;
  dev: string;
  /** Last use, ms since epoch; orders eviction. */
  used: number;
}

interface CacheFile {
  version: 1;
  entries: Record<string, Entry>;
}

const FILE_NAME = 'digests.json';
const DEFAULT_MAX_ENTRIES = 100_000;

/** `$MODELSHIP_CACHE_DIR`, else `$XDG_CACHE_HOME/modelship`, else `~/.cache/modelship`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELSHIP_CACHE_DIR) return resolve(env.MODELSHIP_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return join(resolve(env.XDG_CACHE_HOME), 'modelship');
  return join(homedir(), '.cache', 'modelship');
}

/** Stats `path` (following symlinks) with nanosecond mtime; INPUT error naming the file when it cannot. */
export async function fileIdentity(path: string): Promise<FileIdentity> {
  const abs = resolve(path);
  try {
    const st = await fsp.stat(abs, { bigint: true });
    if (!st.isFile())
      throw new ModelshipError('INPUT', `${abs} is not a regular file`, { hint: 'pass regular files only' });
    return {
      path: abs,
      size: Number(st.size),
      // Whole ms and the remainder apart: Number(ns) alone loses precision past 2^53.
      mtimeMs: Number(st.mtimeNs / 1_000_000n) + Number(st.mtimeNs % 1_000_000n) / 1e6,
      mtimeNs: st.mtimeNs,
      ino: st.ino,
      dev: st.dev,
    };
  } catch (e) {
    const err = toModelshipError(e, 'INPUT');
    if (err === e) throw err;
    throw new ModelshipError('INPUT', `cannot stat ${abs}: ${err.message}`, { cause: e, hint: err.hint });
  }
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.path === b.path && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

function isEntry(v: unknown): v is Entry {
  if (!v || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.digest === 'string' &&
    isDigest(e.digest) &&
    typeof e.size === 'number' &&
    typeof e.fileSize === 'number' &&
    typeof e.mtimeMs === 'number' &&
    (e.mtimeNs === undefined || typeof e.mtimeNs === 'string') &&
    typeof e.ino === 'string' &&
    typeof e.dev === 'string' &&
    typeof e.used === 'number' &&
    (e.diffId === undefined || (typeof e.diffId === 'string' && isDigest(e.diffId)))
  );
}

/** Anything unreadable or malformed counts as an empty cache: a cache may only ever cost a re-hash. */
async function readCacheFile(file: string): Promise<Map<string, Entry>> {
  const entries = new Map<string, Entry>();
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return entries;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CacheFile>;
    if (parsed.version !== 1 || !parsed.entries || typeof parsed.entries !== 'object') return entries;
    for (const [k, v] of Object.entries(parsed.entries)) if (isEntry(v)) entries.set(k, v);
  } catch {
    // corrupt: start empty
  }
  return entries;
}

/**
 * Digests of local files keyed by path + size + mtime (ns) + inode + device + a `variant`
 * (`raw`, `tar`, `tar+gzip`, ...; put anything else the encoded bytes depend on, such as the
 * in-archive name, into the variant). Persisted as one JSON file replaced atomically, so a
 * reader never sees a torn file; concurrent writers merge what is on disk at save time and
 * the last rename wins.
 */
export class DigestCache {
  private readonly entries: Map<string, Entry>;
  private dirty = false;

  private constructor(
    readonly dir: string,
    entries: Map<string, Entry>,
    private readonly maxEntries: number,
  ) {
    this.entries = entries;
  }

  static async open(dir?: string, options: DigestCacheOptions = {}): Promise<DigestCache> {
    const d = dir === undefined ? defaultCacheDir() : resolve(dir);
    const entries = await readCacheFile(join(d, FILE_NAME));
    return new DigestCache(d, entries, options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  }

  get file(): string {
    return join(this.dir, FILE_NAME);
  }

  get size(): number {
    return this.entries.size;
  }

  private static key(id: FileStatLike, variant: string): string {
    return `${variant}\u0000${resolve(id.absPath ?? id.path)}`;
  }

  private static matches(e: Entry, id: FileStatLike): boolean {
    if (e.fileSize !== Number(id.size) || e.ino !== String(id.ino) || e.dev !== String(id.dev)) return false;
    if (e.mtimeNs !== undefined && id.mtimeNs !== undefined) return e.mtimeNs === String(id.mtimeNs);
    // Millisecond floats from different stat calls can differ in the last bits: 1 µs slack.
    return Math.abs(e.mtimeMs - Number(id.mtimeMs)) < 0.001;
  }

  get(id: FileStatLike, variant: string): CachedDigest | undefined {
    const e = this.entries.get(DigestCache.key(id, variant));
    if (!e || !DigestCache.matches(e, id)) return undefined;
    e.used = Date.now();
    this.dirty = true;
    return e.diffId === undefined
      ? { digest: e.digest, size: e.size }
      : { digest: e.digest, size: e.size, diffId: e.diffId };
  }

  set(id: FileStatLike, variant: string, value: CachedDigest): void {
    if (!isDigest(value.digest) || (value.diffId !== undefined && !isDigest(value.diffId)))
      throw new ModelshipError('INTERNAL', `digest cache: refusing malformed digest for ${id.absPath ?? id.path}`);
    const e: Entry = {
      digest: value.digest,
      size: value.size,
      fileSize: Number(id.size),
      mtimeMs: Number(id.mtimeMs),
      ino: String(id.ino),
      dev: String(id.dev),
      used: Date.now(),
    };
    if (id.mtimeNs !== undefined) e.mtimeNs = String(id.mtimeNs);
    if (value.diffId !== undefined) e.diffId = value.diffId;
    this.entries.set(DigestCache.key(id, variant), e);
    this.dirty = true;
  }

  delete(id: FileStatLike, variant: string): void {
    if (this.entries.delete(DigestCache.key(id, variant))) this.dirty = true;
  }

  /**
   * Merges with what another process may have saved meanwhile (newer use wins per key), keeps
   * the `maxEntries` most recently used, and replaces the file atomically. Failures to write
   * are reported but leave the old file intact.
   */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const onDisk = await readCacheFile(this.file);
    for (const [k, v] of onDisk) {
      const mine = this.entries.get(k);
      if (!mine || mine.used < v.used) this.entries.set(k, v);
    }
    if (this.entries.size > this.maxEntries) {
      const keep = [...this.entries].sort((a, b) => b[1].used - a[1].used).slice(0, this.maxEntries);
      this.entries.clear();
      for (const [k, v] of keep) this.entries.set(k, v);
    }
    const body: CacheFile = { version: 1, entries: Object.fromEntries(this.entries) };
    const tmp = join(this.dir, `.${FILE_NAME}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fsp.mkdir(this.dir, { recursive: true });
      await fsp.writeFile(tmp, JSON.stringify(body));
      await fsp.rename(tmp, this.file);
      this.dirty = false;
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      const err = toModelshipError(e, 'INPUT');
      throw new ModelshipError(err.code, `cannot write digest cache ${this.file}: ${err.template.message}`, {
        cause: e,
        hint: err.template.hint ?? 'set MODELSHIP_CACHE_DIR to a writable directory',
      });
    }
  }
}

export interface CachedHashOptions extends HashFilesOptions {
  /** Files modified less than this long before hashing are hashed but not cached (default 2000 ms). */
  racyWindowMs?: number;
  /** Write the cache file when entries were added (default true). */
  save?: boolean;
}

export interface CachedHashResult {
  /** In the order of the input files. */
  digests: FileDigest[];
  hits: number;
  misses: number;
}

/**
 * Hashes only files the cache does not know (variant `raw`), re-stats each hashed file
 * afterwards and caches it only when nothing changed while it was read. Files modified within
 * `racyWindowMs` of the first stat are not cached either: on filesystems with coarse mtime a
 * same-size rewrite in the same tick would otherwise be served from the cache (git's "racy
 * clean" problem). `onProgress` counts cached files' bytes as done at once, so a bar reaches
 * the total.
 */
export async function cachedHashFiles(
  files: readonly string[],
  cache: DigestCache,
  opts: CachedHashOptions = {},
): Promise<CachedHashResult> {
  const racyNs = BigInt(Math.round((opts.racyWindowMs ?? 2000) * 1e6));
  const ids = await Promise.all(files.map((f) => fileIdentity(f)));
  const startNs = BigInt(Date.now()) * 1_000_000n;
  const digests = new Array<FileDigest>(files.length);
  const missIdx: number[] = [];
  let hitBytes = 0;
  ids.forEach((id, i) => {
    const hit = cache.get(id, 'raw');
    if (hit && hit.size === id.size) {
      digests[i] = { digest: hit.digest, size: hit.size };
      hitBytes += id.size;
    } else missIdx.push(i);
  });
  if (hitBytes > 0) opts.onProgress?.(hitBytes);

  const hashOpts: HashFilesOptions = {};
  if (opts.concurrency !== undefined) hashOpts.concurrency = opts.concurrency;
  if (opts.signal) hashOpts.signal = opts.signal;
  if (opts.onProgress) {
    const report = opts.onProgress;
    hashOpts.onProgress = (n) => report(hitBytes + n);
  }
  const hashed = await hashFiles(
    missIdx.map((i) => ids[i]!.path),
    hashOpts,
  );
  const after = await Promise.all(missIdx.map((i) => fileIdentity(ids[i]!.path).catch(() => undefined)));
  missIdx.forEach((i, k) => {
    const r = hashed[k]!;
    digests[i] = r;
    const before = ids[i]!;
    const now = after[k];
    if (now && sameIdentity(before, now) && r.size === before.size && startNs - before.mtimeNs >= racyNs)
      cache.set(before, 'raw', r);
  });
  if (missIdx.length > 0 && opts.save !== false) await cache.save();
  return { digests, hits: files.length - missIdx.length, misses: missIdx.length };
}
