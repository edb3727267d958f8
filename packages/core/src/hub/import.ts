import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { ModelshipError } from '../errors.js';
import type { IdentifierFamily } from '../mediatypes.js';
import { openFileBytes, type ByteSource, type OpenBytes } from '../modelpack/filereader.js';
import { scanModelDir } from '../modelpack/scan.js';
import type { ModelFile, ScanOptions } from '../modelpack/types.js';
import { pack, type PackResult, type RemoteFile } from '../pack.js';
import { NO_PROGRESS, type Progress } from '../progress.js';
import type { ContentStore } from '../store.js';
import type { HubAccess } from './access.js';
import { HubClient, type HubClientOptions, type HubFile, type HubRevision } from './client.js';
import {
  DEFAULT_RANGE_OPTIONS,
  FileHasher,
  fileStream,
  mismatchError,
  rangeBytes,
  type ExpectedDigest,
  type FileSource,
  type RangeOptions,
} from './download.js';
import { DEFAULT_REVISION, formatHubReference, type HubReference } from './reference.js';

export interface ImportOptions {
  ref: HubReference;
  access: HubAccess;
  target: ContentStore;
  /** Tags to set once everything is stored. */
  tags?: string[];
  family?: IdentifierFamily;
  /** pack's scan options (include, exclude, ignore files, the dir's own Modelfile/Kitfile). */
  scan?: Pick<ScanOptions, 'include' | 'exclude' | 'ignoreFiles' | 'useDirSpec'>;
  /** Files transferred at once (default 4). */
  concurrency?: number;
  progress?: Progress;
  warn?: (message: string) => void;
  client?: HubClientOptions;
  ranges?: Partial<RangeOptions>;
  /** Where the work directory goes (default the OS temp directory). */
  workDir?: string;
}

export interface ImportedFile {
  path: string;
  size: number;
  digest: string;
  /** Stored in Git LFS on the Hub (its sha256 known before a byte is read). */
  lfs: boolean;
  /** The target had the blob: nothing was uploaded. */
  present: boolean;
  /** Bytes of it received from the Hub (its whole size, or header bytes only, or 0). */
  downloaded: number;
}

export interface ImportResult {
  source: {
    repo: string;
    /** The revision asked for (default main). */
    revision: string;
    /** The commit it resolved to; every file was read at it. */
    commit: string;
    /** The repository's URL, recorded as the config's `descriptor.sourceURL`. */
    url: string;
    gated: HubRevision['gated'];
    /** What the model card's front matter says (the Hub's `cardData`). */
    card: { license?: string[]; baseModels?: string[]; datasets?: string[] };
  };
  pack: PackResult;
  /** In layer order. */
  files: ImportedFile[];
  stats: {
    /** File bytes received from the Hub and its CDN. */
    hubBytes: number;
    hubRequests: number;
    /** Layer bytes the target did not have, uploaded. */
    uploadedBytes: number;
    /** Layer bytes the target had: neither downloaded nor uploaded. */
    skippedBytes: number;
  };
}

/** Files pack reads before it scans: the ignore files and the directory's own spec (see walk.ts, spec.ts). */
function scanInput(path: string): boolean {
  const name = posix.basename(path);
  if (name === '.gitignore' || name === '.modelshipignore') return true;
  return (
    !path.includes('/') && ['.kitignore', 'Modelfile', 'modelfile', 'Kitfile', 'kitfile', '.kitfile'].includes(name)
  );
}

/** A listed path that could not be a file inside the work directory (git never stores these). */
function escapes(path: string): boolean {
  const parts = path.split('/');
  return path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || /^\.git[. ]*$/i.test(p));
}

/** Header reads fetch at least this much: a safetensors header is usually well below it. */
const READAHEAD = 64 * 1024;

function strings(v: unknown): string[] | undefined {
  const list = (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]).filter(
    (x): x is string => typeof x === 'string' && x !== '',
  );
  return list.length ? list : undefined;
}

/**
 * `hf://ORG/NAME@REVISION` into `target` as the ModelPack that `pack` of a clone of that
 * commit would produce, without a local copy of the model.
 *
 * How: the revision is resolved to its commit once, and the tree is listed at that commit. A
 * work directory gets the tree as placeholders: each file at its path and size, sparse (no disk
 * blocks). pack then runs over it as over a clone (the same scan, ignore files, spec file,
 * classification and metadata), with `remoteFiles` for what is not on disk: an LFS file's
 * digest is the Hub's sha256, so the target is asked for it before a byte is read, and its
 * bytes stream from the Hub into the target, verified on the way. Small (non-LFS) files, for
 * which the Hub gives only a git blob id, are downloaded into their placeholder and checked
 * against it; weight headers pack reads for metadata come from the target when it has the
 * blob, else by range from the Hub, kept on disk and verified with the file.
 *
 * Disk: the selected non-LFS files plus the header bytes read of the weights not yet pushed
 * (what pack reads of each: a safetensors header, at most 100 MB, or a GGUF header, at most
 * 512 MiB; 64 KiB at least), whatever the size of the weights. Memory: per file in flight one
 * chunk, or `parallelRanges × partSize` for a large file.
 */
export async function importFromHub(options: ImportOptions): Promise<ImportResult> {
  const client = new HubClient(options.access, options.client);
  const ranges: RangeOptions = { ...DEFAULT_RANGE_OPTIONS, ...options.ranges };
  const ref = options.ref;
  const rev = await client.revision(ref);
  if (rev.gated && !options.access.token) throw client.gatedWithoutToken(ref);
  const at: HubReference = { repo: ref.repo, revision: rev.sha };
  const label = formatHubReference(at);
  const listed = await client.files(ref, rev.sha);
  for (const f of listed)
    if (escapes(f.path))
      throw new ModelshipError('INVALID', `${label} lists "${f.path}", which is not a path inside a repository`);

  // Its real path: pack resolves the directory, and messages naming it are relabelled below.
  const work = await realpath(await mkdtemp(join(options.workDir ?? tmpdir(), 'modelship-import-')));
  // Named after the repository, as a clone is: pack's name falls back to the directory name.
  const root = join(work, ref.repo.split('/')[1]!);
  try {
    return await relabel(root, label, () =>
      importInto(options, client, rev, at, listed, { root, heads: join(work, 'heads') }, ranges),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function importInto(
  options: ImportOptions,
  client: HubClient,
  rev: HubRevision,
  at: HubReference,
  listed: HubFile[],
  dirs: { root: string; heads: string },
  ranges: RangeOptions,
): Promise<ImportResult> {
  const { root } = dirs;
  const label = formatHubReference(at);
  const store = options.target;
  const progress = options.progress ?? NO_PROGRESS;
  const limit = pLimit(options.concurrency ?? 4);
  await mkdir(root, { recursive: true });
  await mkdir(dirs.heads);
  // An empty `.git` file ends every upward search for a repository here (ignore-files.ts,
  // git.ts): a work directory inside someone's checkout must not take that checkout's rules.
  await writeFile(join(root, '.git'), '');
  const byPath = new Map<string, HubFile>();
  for (const f of listed) {
    byPath.set(f.path, f);
    const p = join(root, f.path);
    await mkdir(dirname(p), { recursive: true });
    const fh = await open(p, 'wx');
    await fh.truncate(f.size);
    await fh.close();
  }

  const downloaded = new Map<string, number>();
  const count = (path: string, n: number): void => void downloaded.set(path, (downloaded.get(path) ?? 0) + n);
  const source = async (f: HubFile): Promise<FileSource> => ({
    client,
    ref: at,
    url: client.fileURL(at.repo, rev.sha, f.path),
    blob: await client.blob(at, rev.sha, f),
    size: f.size,
  });
  const expected = (f: HubFile): ExpectedDigest =>
    f.lfs ? { kind: 'sha256', hex: f.lfs.sha256 } : { kind: 'git-blob', hex: f.oid };

  /** sha256 of the small files downloaded into their placeholder: pack pushes them by digest (the target is asked first). */
  const local = new Map<string, string>();
  /** The whole file into its placeholder, checked against the Hub's digest before anything uses it. */
  const fetchWhole = async (f: HubFile): Promise<void> => {
    const src = await source(f);
    const hasher = new FileHasher(expected(f), f.size);
    const sha256 = createHash('sha256');
    const fh = await open(join(root, f.path), 'r+');
    let at = 0;
    try {
      for await (const b of rangeBytes(src, 0, f.size, ranges)) {
        hasher.update(b);
        sha256.update(b);
        await fh.write(b, 0, b.length, at);
        at += b.length;
        count(f.path, b.length);
      }
    } finally {
      await fh.close();
    }
    const { ok, got } = hasher.matches();
    if (!ok || at !== f.size) throw mismatchError(`${label}: ${f.path}`, expected(f), got, at);
    local.set(f.path, `sha256:${sha256.digest('hex')}`);
  };

  // What pack reads before it lists the files, then pack's own scan: the selection is pack's.
  await Promise.all(listed.filter((f) => scanInput(f.path)).map((f) => limit(() => fetchWhole(f))));
  const scanned = await scanModelDir(root, options.scan ?? {});
  const selected = scanned.files.map((m) => byPath.get(m.path)!);
  progress.setTotal(selected.reduce((a, f) => a + f.size, 0));
  let done = 0;
  const advance = (n: number): void => {
    done += n;
    progress.update(done);
  };
  await Promise.all(
    selected
      .filter((f) => !f.lfs && !local.has(f.path))
      .map((f) =>
        limit(async () => {
          await fetchWhole(f);
          advance(f.size);
        }),
      ),
  );

  const remotes = new Map<string, RemoteFile & { refused?: () => ModelshipError | undefined }>();
  const remoteFor = (m: ModelFile): RemoteFile | undefined => {
    const f = byPath.get(m.path);
    if (!f) throw new ModelshipError('INTERNAL', `${m.path} is not a file of ${label}`);
    let r = remotes.get(f.path);
    const digest = local.get(f.path);
    if (!r && digest) {
      r = { digest, size: f.size, open: () => createReadStream(m.absPath), bytes: openFileBytes(m.absPath) };
      remotes.set(f.path, r);
    } else if (!r && !f.lfs) {
      throw new ModelshipError('INTERNAL', `${m.path} of ${label} was not downloaded`);
    } else if (!r) {
      // Header bytes go beside the tree, not into the placeholder: pack checks that no file it
      // packs changes meanwhile.
      const head = join(dirs.heads, String(remotes.size));
      r = remoteFile(f, at, store, source, head, ranges, (n) => count(f.path, n), advance);
      remotes.set(f.path, r);
    }
    return r;
  };

  let packed: PackResult;
  try {
    packed = await pack({
      dir: root,
      target: store,
      ...(options.tags ? { tags: options.tags } : {}),
      ...(options.family ? { family: options.family } : {}),
      scan: options.scan ?? {},
      // What a clone's git would say, its remote and its HEAD, below what a spec file declares.
      metadata: {
        sourceURL: scanned.specMetadata.sourceURL ?? client.repoURL(at.repo),
        revision: scanned.specMetadata.revision ?? rev.sha,
      },
      cache: null,
      gitLfs: false,
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.warn ? { warn: (m: string) => options.warn!(m.replaceAll(root, label)) } : {}),
      remoteFiles: remoteFor,
    });
  } catch (e) {
    // The store reports a failed upload its own way; the refusal says what was wrong.
    for (const r of remotes.values()) if (r.refused?.()) throw r.refused();
    throw e;
  }
  packed.warnings = packed.warnings.map((w) => w.replaceAll(root, label));
  progress.finish();

  const files: ImportedFile[] = packed.layers.map((l) => {
    const f = byPath.get(l.path)!;
    return {
      path: l.path,
      size: l.descriptor.size,
      digest: l.descriptor.digest,
      lfs: f.lfs !== undefined,
      present: !l.uploaded,
      downloaded: downloaded.get(l.path) ?? 0,
    };
  });
  const card = rev.card;
  return {
    source: {
      repo: at.repo,
      revision: options.ref.revision ?? DEFAULT_REVISION,
      commit: rev.sha,
      url: client.repoURL(at.repo),
      gated: rev.gated,
      card: {
        ...(strings(card['license']) ? { license: strings(card['license']) } : {}),
        ...(strings(card['base_model']) ? { baseModels: strings(card['base_model']) } : {}),
        ...(strings(card['datasets']) ? { datasets: strings(card['datasets']) } : {}),
      },
    },
    pack: packed,
    files,
    stats: {
      hubBytes: client.traffic.fileBytes,
      hubRequests: client.traffic.apiRequests + client.traffic.fileRequests,
      uploadedBytes: files.filter((f) => !f.present).reduce((a, f) => a + f.size, 0),
      skippedBytes: files.filter((f) => f.present).reduce((a, f) => a + f.size, 0),
    },
  };
}

/**
 * An LFS file for pack: its digest (the Hub's sha256), its bytes streamed from the Hub, and its
 * header bytes for the metadata, from the target when it has the blob (nothing downloaded),
 * else by range into a file beside the tree, where the full download later takes them from (so
 * they are verified with the rest and never fetched twice).
 */
function remoteFile(
  f: HubFile,
  at: HubReference,
  store: ContentStore,
  source: (f: HubFile) => Promise<FileSource>,
  head: string,
  ranges: RangeOptions,
  count: (n: number) => void,
  advance: (n: number) => void,
): RemoteFile & { refused(): ModelshipError | undefined } {
  const digest = `sha256:${f.lfs!.sha256}`;
  const desc = { mediaType: 'application/octet-stream', digest, size: f.size };
  /** Intervals of the placeholder that hold the file's real bytes. */
  const fetched: [number, number][] = [];
  const prefix = (): number => {
    let end = 0;
    for (const [a, b] of [...fetched].sort((x, y) => x[0] - y[0])) if (a <= end) end = Math.max(end, b);
    return end;
  };
  // Bytes that did not match are final: a retry of the upload must not download them again.
  let refused: ModelshipError | undefined;
  const bytes: OpenBytes = async () =>
    (await store.exists(desc))
      ? storeBytes(store, desc)
      : hubBytes(await source(f), head, ranges, (a, b) => {
          fetched.push([a, b]);
          count(b - a);
        });
  return {
    digest,
    size: f.size,
    bytes,
    refused: () => refused,
    open: async (): Promise<Readable> => {
      if (refused) throw refused;
      const length = prefix();
      const src = await source(f);
      const what = `${formatHubReference(at)}: ${f.path}`;
      const stream = fileStream(src, { kind: 'sha256', hex: f.lfs!.sha256 }, what, ranges, {
        ...(length > 0 ? { prefix: { path: head, length } } : {}),
        onBytes: (n) => advance(n),
      });
      stream.once('error', (e) => {
        if (e instanceof ModelshipError && e.code === 'INVALID') refused = e;
      });
      // Once the whole file went by (and verified), its header bytes are no longer needed.
      stream.once('end', () => void rm(head, { force: true }));
      return stream;
    },
  };
}

/** Header reads by HTTP range, read ahead 64 KiB, each range written at its offset into `head` (sparse). */
function hubBytes(
  src: FileSource,
  head: string,
  ranges: RangeOptions,
  onFetched: (start: number, end: number) => void,
): ByteSource {
  let buf: Buffer = Buffer.alloc(0);
  let bufStart = 0;
  return {
    async read(buffer, offset, length, position) {
      if (position >= src.size) return { bytesRead: 0 };
      const want = Math.min(length, src.size - position);
      if (position < bufStart || position + want > bufStart + buf.length) {
        const end = Math.min(src.size, position + Math.max(want, READAHEAD));
        const parts: Buffer[] = [];
        for await (const b of rangeBytes(src, position, end, ranges)) parts.push(b);
        buf = Buffer.concat(parts);
        bufStart = position;
        const fh = await open(head, constants.O_RDWR | constants.O_CREAT);
        try {
          await fh.write(buf, 0, buf.length, position);
        } finally {
          await fh.close();
        }
        onFetched(position, end);
      }
      buf.copy(buffer, offset, position - bufStart, position - bufStart + want);
      return { bytesRead: want };
    },
    async close() {
      buf = Buffer.alloc(0);
    },
  };
}

/** Forward reads of a blob the target already has (content-addressed: the bytes the digest names). */
function storeBytes(store: ContentStore, desc: { mediaType: string; digest: string; size: number }): ByteSource {
  let it: AsyncIterator<Buffer> | undefined;
  let stream: Readable | undefined;
  let buf: Buffer = Buffer.alloc(0);
  let bufStart = 0;
  const reopen = async (): Promise<void> => {
    stream?.destroy();
    stream = await store.fetch(desc);
    it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    buf = Buffer.alloc(0);
    bufStart = 0;
  };
  return {
    async read(buffer, offset, length, position) {
      if (!it || position < bufStart) await reopen();
      while (bufStart + buf.length <= position) {
        const r = await it!.next();
        if (r.done) return { bytesRead: 0 };
        bufStart += buf.length;
        buf = r.value;
      }
      buf = buf.subarray(position - bufStart);
      bufStart = position;
      while (buf.length < length) {
        const r = await it!.next();
        if (r.done) break;
        buf = Buffer.concat([buf, r.value]);
      }
      const n = Math.min(length, buf.length);
      buf.copy(buffer, offset, 0, n);
      return { bytesRead: n };
    },
    async close() {
      stream?.destroy();
    },
  };
}

/** Errors and warnings name the repository at its commit, not the work directory. */
async function relabel<T>(root: string, label: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ModelshipError && (e.template.message.includes(root) || e.template.hint?.includes(root)))
      throw new ModelshipError(e.code, e.template.message.replaceAll(root, label), {
        cause: e,
        ...(e.template.hint ? { hint: e.template.hint.replaceAll(root, label) } : {}),
      });
    throw e;
  }
}
