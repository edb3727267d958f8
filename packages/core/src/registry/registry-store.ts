import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import pLimit from 'p-limit';
import { HashingStream, VerifyingStream, sha256Digest } from '../digest.js';
import { ModelshipError } from '../errors.js';
import { isManifestMediaType as isManifest, referrerEntry, summarizeManifest } from '../manifest.js';
import { DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST } from '../mediatypes.js';
import { isDigest, referrersFallbackTag, type Descriptor, type Index } from '../oci.js';
import { isValidRepository, isValidTag, parseReference, registryApiHost } from '../reference.js';
import { downloadBlob, downloadTuning, type DownloadTuning } from './download.js';
import type {
  BlobDownload,
  BlobSource,
  ContentStore,
  DownloadedBlob,
  DownloadToFileOptions,
  IngestResult,
  MountSource,
  PushOptions,
  PushResult,
  TagEntry,
} from '../store.js';
import { Authorizer, repositoryScope } from './auth.js';
import { explicitCredential, lookupDockerCredential } from './credentials.js';
import {
  HttpClient,
  createAgent,
  header,
  headerAll,
  resolveLocation,
  type HttpRequest,
  type HttpResponse,
} from './http.js';
import {
  addToFallbackIndex,
  filterByArtifactType,
  wellFormedReferrers,
  checkReferrerPages,
  nextLink,
  parseFallbackIndex,
  type FallbackIndexIO,
} from './referrers.js';
import { responseFailure } from './response-error.js';
import { FairSlots } from './fair-slots.js';
import { checkLayerSize } from './limits.js';
import { UploadSessions, defaultUploadStateDir } from './upload-session.js';
import {
  DEFAULT_CHUNK_SIZE,
  chooseStrategy,
  parseChunkSize,
  ingestFile,
  ingestMode,
  ingestStream,
  tryMount,
  uploadBlob,
  type UploadContext,
  type UploadStrategy,
} from './upload.js';
import { MAX_API_BODY, readCapped } from '../streams.js';

export interface RegistryStoreOptions {
  /** `host[:port]`; `docker.io` means Docker Hub. */
  registry: string;
  repository: string;
  /** Talk plain HTTP (test registries). Never guessed. */
  plainHttp?: boolean;
  /** Skip TLS certificate verification. */
  insecure?: boolean;
  username?: string;
  password?: string;
  /** With `username`: used as the password; alone: a bearer registry token. */
  token?: string;
  /** Path of a docker `config.json` (default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). */
  dockerConfig?: string;
  /** Told about problems that do not stop the work, e.g. a broken default docker config.json. */
  warn?: (message: string) => void;
  /** `auto` picks per host (monolithic, chunked above a threshold on Docker Hub). */
  uploadStrategy?: UploadStrategy;
  /** PATCH size for chunked uploads (default `$MODELSHIP_UPLOAD_CHUNK_SIZE`, else 100 MiB; raised to the registry's OCI-Chunk-Min-Length). */
  chunkSize?: number;
  /**
   * Directory of the records that let an interrupted chunked upload continue on the next run
   * (default `$MODELSHIP_STATE_DIR/uploads`, else `$XDG_CACHE_HOME/modelship/uploads`); false: keep none.
   */
  uploadStateDir?: string | false;
  /** Retries on 408/429/5xx/connection resets (default 4). */
  retries?: number;
  userAgent?: string;
  /** Concurrent blob uploads through this store (default 4). */
  concurrency?: number;
  /** Environment for credential lookup (DOCKER_CONFIG, HOME, PATH of credential helpers). */
  env?: NodeJS.ProcessEnv;
  /** Base retry backoff in ms (default 500). */
  backoffMs?: number;
  /** Longest wait for response headers, or between two pieces of a body, in ms (default 300 000). */
  timeoutMs?: number;
  /** Parallel `Range` GETs of big blobs (registry/download.ts; defaults there). */
  download?: DownloadTuning;
}

/** Tags asked for per page of the tags list (registries cap `n` at 100 to 1,000). */
const TAGS_PAGE_SIZE = 1000;
/** Most tags read from one repository's listing, and most pages of it: a listing that goes on is broken or hostile. */
const MAX_TAGS = 100_000;
const MAX_TAG_PAGES = 1000;

const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST].join(', ');
const MAX_MANIFEST = 4 * 1024 * 1024;

function baseMediaType(ct: string | undefined): string | undefined {
  return ct?.split(';')[0]?.trim() || undefined;
}

/** A repository on an OCI distribution v1.1 registry. */
export class RegistryStore implements ContentStore {
  /** What it is, for display: callers dispatch on capabilities (store.ts), never on this. */
  readonly kind = 'registry' as const;
  readonly location: string;
  readonly registry: string;
  readonly repository: string;
  /** Capability: a store on the same registry may cross-repo mount from this repository. */
  readonly mountSource: MountSource;

  private readonly http: HttpClient;
  private readonly auth: Authorizer;
  private readonly strategy: UploadStrategy;
  private readonly chunkSize: number;
  private readonly sessions: UploadSessions | undefined;
  private readonly warn: ((message: string) => void) | undefined;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly pull: string[];
  private readonly pushScopes: string[];
  private referrersApi: boolean | undefined;
  private hasCreds: boolean | undefined;
  private readonly tuning: Required<DownloadTuning>;
  /** Whether blob bodies over plain HTTP are received by the download's worker, blob-receiver.ts (download.ts turns it off). */
  private readonly rawReceive = { enabled: true };
  /** Range GETs in flight across every download of this store. */
  private readonly downloadSlots: FairSlots;
  /** Capability: a blob is downloaded straight into a file, resumably (download.ts). */
  readonly blobDownload: BlobDownload;

  constructor(opts: RegistryStoreOptions) {
    if (!opts.registry || /[/\s]/.test(opts.registry))
      throw new ModelshipError(
        'USAGE',
        `invalid registry "${opts.registry}": expected host[:port] such as ghcr.io or localhost:5000`,
      );
    if (!isValidRepository(opts.repository))
      throw new ModelshipError('USAGE', `invalid repository name "${opts.repository}" for ${opts.registry}`, {
        hint: 'lowercase letters and digits in /-separated components joined by . _ __ or -',
      });
    this.registry = opts.registry;
    this.repository = opts.repository;
    this.location = `${opts.registry}/${opts.repository}`;
    this.mountSource = { registry: opts.registry, repository: opts.repository };
    this.strategy = opts.uploadStrategy ?? 'auto';
    const env = opts.env ?? process.env;
    const envChunk = env['MODELSHIP_UPLOAD_CHUNK_SIZE'];
    this.chunkSize = opts.chunkSize ?? (envChunk ? parseChunkSize(envChunk) : DEFAULT_CHUNK_SIZE);
    const stateDir = opts.uploadStateDir ?? defaultUploadStateDir(env);
    this.sessions = stateDir === false ? undefined : new UploadSessions(stateDir);
    this.warn = opts.warn;
    if (!(this.chunkSize > 0)) throw new ModelshipError('USAGE', `chunkSize must be positive, got ${opts.chunkSize}`);
    this.retries = opts.retries ?? 4;
    this.backoffMs = opts.backoffMs ?? 500;
    this.limit = pLimit(opts.concurrency ?? 4);
    this.tuning = downloadTuning(opts.download);
    // As many connections as blobs would get without ranges: one big blob gets them all, four
    // blobs at once get one each. More ranges at once only interleave writes on the disk
    // (measured: docs/performance.md, "Pull") and hold more buffers.
    this.downloadSlots = new FairSlots(Math.max(this.tuning.rangeConcurrency, opts.concurrency ?? 4));
    this.blobDownload = { download: (desc, path, o) => this.downloadBlob(desc, path, o) };
    this.pull = [repositoryScope(opts.repository, 'pull')];
    this.pushScopes = [repositoryScope(opts.repository, 'pull,push')];
    const host = registryApiHost(opts.registry);
    const userAgent = opts.userAgent ?? 'modelship';
    const explicit = explicitCredential(opts);
    // One agent for registry and token service, so token calls honour --insecure too.
    const agent = createAgent(!!opts.insecure);
    this.auth = new Authorizer({
      host,
      userAgent,
      allowHttpRealm: !!opts.plainHttp,
      dispatcher: agent,
      credentials: async () =>
        explicit ??
        lookupDockerCredential(opts.registry, {
          ...(opts.dockerConfig ? { configPath: opts.dockerConfig } : {}),
          ...(opts.env ? { env: opts.env } : {}),
          ...(opts.warn ? { warn: opts.warn } : {}),
        }),
    });
    this.http = new HttpClient({
      host,
      agent,
      plainHttp: !!opts.plainHttp,
      insecure: !!opts.insecure,
      retries: this.retries,
      userAgent,
      auth: this.auth,
      backoffMs: this.backoffMs,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  // ---- plumbing -------------------------------------------------------------------------

  private async failure(res: HttpResponse, what: string, scopes: readonly string[]): Promise<ModelshipError> {
    this.hasCreds ??= await this.auth.hasCredentials().catch(() => false);
    return responseFailure(res, what, {
      location: this.location,
      host: this.registry,
      scopes,
      hasCredentials: this.hasCreds,
    });
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    return this.http.send(req);
  }

  private path(kind: 'blobs' | 'manifests' | 'referrers', ref: string): URL {
    return this.http.url(`/v2/${this.repository}/${kind}/${ref}`);
  }

  private uploadContext(): UploadContext {
    return {
      http: this.http,
      repository: this.repository,
      pushScopes: this.pushScopes,
      retries: this.retries,
      backoffMs: this.backoffMs,
      failure: (res, what, scopes) => this.failure(res, what, scopes),
      blobExists: (digest) => this.exists({ mediaType: 'application/octet-stream', digest, size: 0 }),
      ...(this.sessions ? { sessions: this.sessions } : {}),
      ...(this.warn ? { warn: this.warn } : {}),
    };
  }

  private what(desc: Descriptor, verb: string): string {
    return `${verb} ${isManifest(desc.mediaType) ? 'manifest' : 'blob'} ${desc.digest} ${verb === 'push' ? 'to' : 'from'} ${this.location}`;
  }

  // ---- reads ----------------------------------------------------------------------------

  async exists(desc: Descriptor): Promise<boolean> {
    const manifest = isManifest(desc.mediaType);
    const res = await this.send({
      method: 'HEAD',
      url: this.path(manifest ? 'manifests' : 'blobs', desc.digest),
      headers: manifest ? { accept: MANIFEST_ACCEPT } : {},
      scopes: this.pull,
      followRedirects: true,
    });
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.failure(
      res,
      `check ${manifest ? 'manifest' : 'blob'} ${desc.digest} in ${this.location}`,
      this.pull,
    );
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (!isDigest(desc.digest)) throw new ModelshipError('USAGE', `not a sha256 digest: "${desc.digest}"`);
    const manifest = isManifest(desc.mediaType);
    const what = this.what(desc, 'fetch');
    const res = await this.send({
      method: 'GET',
      url: this.path(manifest ? 'manifests' : 'blobs', desc.digest),
      headers: manifest ? { accept: MANIFEST_ACCEPT } : {},
      scopes: this.pull,
      followRedirects: true,
    });
    if (res.status !== 200) {
      const err = await this.failure(res, what, this.pull);
      if (err.code === 'NOT_FOUND')
        throw new ModelshipError(
          'NOT_FOUND',
          `${manifest ? 'manifest' : 'blob'} ${desc.digest} not found in ${this.location}`,
          {
            cause: err,
            hint: 'push it first, or check the repository name',
          },
        );
      throw err;
    }
    const verifier = new VerifyingStream(
      desc.digest,
      desc.size,
      `${manifest ? 'manifest' : 'blob'} ${desc.digest} from ${this.location}`,
    );
    // pipeline forwards a broken connection to the verifier, so readers see the error.
    pipeline(res.body, verifier, () => {});
    return verifier;
  }

  private downloadBlob(desc: Descriptor, path: string, options?: DownloadToFileOptions): Promise<DownloadedBlob> {
    if (!isDigest(desc.digest)) throw new ModelshipError('USAGE', `not a sha256 digest: "${desc.digest}"`);
    return downloadBlob(
      {
        http: this.http,
        url: this.path('blobs', desc.digest),
        scopes: this.pull,
        what: `blob ${desc.digest} from ${this.location}`,
        retries: this.retries,
        backoffMs: this.backoffMs,
        failure: (res, what) => this.failure(res, what, this.pull),
        slots: this.downloadSlots,
        tuning: this.tuning,
        raw: this.rawReceive,
      },
      desc,
      path,
      options,
    );
  }

  async fetchBytes(desc: Descriptor, maxBytes: number = MAX_MANIFEST): Promise<Buffer> {
    if (desc.size > maxBytes)
      throw new ModelshipError(
        'INVALID',
        `${this.what(desc, 'fetch')}: ${desc.size} bytes is over the ${maxBytes}-byte limit for content read into memory`,
      );
    return readCapped(await this.fetch(desc), maxBytes, `${desc.digest} from ${this.location}`);
  }

  async resolve(reference: string): Promise<Descriptor> {
    let ref = reference;
    if (ref.includes('/')) {
      const r = parseReference(ref);
      if (registryApiHost(r.registry) !== this.http.host || r.repository !== this.repository)
        throw new ModelshipError('USAGE', `reference "${reference}" is not in ${this.location}`, {
          hint: `pass a tag or digest of ${this.location}`,
        });
      ref = r.digest ?? r.tag ?? 'latest';
    }
    if (!isDigest(ref) && !isValidTag(ref))
      throw new ModelshipError('USAGE', `invalid tag or digest "${reference}"`, {
        hint: 'a tag matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}; a digest is sha256:<64 hex>',
      });
    const what = `resolve ${this.location}${isDigest(ref) ? '@' : ':'}${ref}`;
    const head = await this.send({
      method: 'HEAD',
      url: this.path('manifests', ref),
      headers: { accept: MANIFEST_ACCEPT },
      scopes: this.pull,
      followRedirects: true,
    });
    await head.body.dump();
    if (head.status === 404)
      throw new ModelshipError('NOT_FOUND', `manifest ${ref} not found in ${this.location}`, {
        hint: 'check the tag, or push it first',
      });
    if (head.status !== 200) throw await this.failure(head, what, this.pull);
    const mediaType = baseMediaType(header(head, 'content-type'));
    const digest = header(head, 'docker-content-digest');
    const size = Number(header(head, 'content-length'));
    if (isDigest(ref) && digest && digest !== ref)
      throw new ModelshipError('INVALID', `${what}: registry answered for ${digest}`);
    if (mediaType && isManifest(mediaType) && digest && isDigest(digest) && Number.isInteger(size) && size > 0)
      return { mediaType, digest, size };
    // Old registries omit headers: read the manifest and hash it ourselves.
    const res = await this.send({
      method: 'GET',
      url: this.path('manifests', ref),
      headers: { accept: MANIFEST_ACCEPT },
      scopes: this.pull,
      followRedirects: true,
    });
    if (res.status !== 200) throw await this.failure(res, what, this.pull);
    const ct = baseMediaType(header(res, 'content-type'));
    const bytes = await readCapped(res.body, MAX_MANIFEST, what);
    const got = sha256Digest(bytes);
    if (isDigest(ref) && got !== ref)
      throw new ModelshipError('INVALID', `${what}: content hashes to ${got}`, {
        hint: 'the registry returned different content than requested',
      });
    const mt = ct && isManifest(ct) ? ct : summarizeManifest(bytes)?.mediaType;
    if (!mt) throw new ModelshipError('INVALID', `${what}: cannot tell the manifest media type`);
    return { mediaType: mt, digest: got, size: bytes.length };
  }

  // ---- writes ---------------------------------------------------------------------------

  /** Capability: refuses, before any request, a layer this registry is known not to store. */
  checkLayerSize(layer: string, size: number): void {
    checkLayerSize(this.registry, `${layer} for ${this.location}`, size);
  }

  async push(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions = {}): Promise<PushResult> {
    if (!isDigest(desc.digest)) throw new ModelshipError('USAGE', `not a sha256 digest: "${desc.digest}"`);
    if (isManifest(desc.mediaType)) return this.pushManifest(desc, source);
    const title = desc.annotations?.['org.opencontainers.image.title'];
    this.checkLayerSize(title ? `layer ${title} (${desc.digest})` : `layer ${desc.digest}`, desc.size);
    const blob = (): Promise<PushResult> => this.pushBlob(desc, source, options);
    return this.limit(() => (options.timings ? options.timings.time('network', blob) : blob()));
  }

  private async pushBlob(desc: Descriptor, source: BlobSource | Buffer, options: PushOptions): Promise<PushResult> {
    if (await this.exists(desc)) return { uploaded: false };
    const ctx = this.uploadContext();
    for (const from of options.mountFrom ?? []) {
      if (from === this.repository || !isValidRepository(from)) continue;
      if (await tryMount(ctx, desc.digest, from)) return { uploaded: false, mounted: true };
    }
    const open = async (): Promise<Readable> => (Buffer.isBuffer(source) ? Readable.from([source]) : source.open());
    return uploadBlob(ctx, desc, open, {
      strategy: this.strategy,
      chunkSize: this.chunkSize,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }

  private async manifestBytes(desc: Descriptor, source: BlobSource | Buffer): Promise<Buffer> {
    const what = `manifest ${desc.digest}`;
    if (desc.size > MAX_MANIFEST)
      throw new ModelshipError('INVALID', `${what} is ${desc.size} bytes; registries accept at most 4 MiB`, {
        hint: 'split the content into layers',
      });
    const bytes = Buffer.isBuffer(source) ? source : await readCapped(await source.open(), MAX_MANIFEST, what);
    const got = sha256Digest(bytes);
    if (got !== desc.digest || bytes.length !== desc.size)
      throw new ModelshipError(
        'INVALID',
        `${what}: the bytes given hash to ${got} (${bytes.length} bytes), not the descriptor's ${desc.digest} (${desc.size} bytes)`,
      );
    return bytes;
  }

  /** PUT exact bytes; returns the response's OCI-Subject header. */
  private async putManifest(
    ref: string,
    bytes: Buffer,
    mediaType: string,
    expectDigest: string,
  ): Promise<string | undefined> {
    const what = `push manifest ${expectDigest} to ${this.location}${ref === expectDigest ? '' : `:${ref}`}`;
    const res = await this.send({
      method: 'PUT',
      url: this.path('manifests', ref),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      scopes: this.pushScopes,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202)
      throw await this.failure(res, what, this.pushScopes);
    await res.body.dump();
    const d = header(res, 'docker-content-digest');
    if (d && d !== expectDigest)
      throw new ModelshipError('INVALID', `${what}: registry stored it as ${d}`, {
        hint: 'the registry rewrote the manifest; it does not keep exact bytes',
      });
    const subject = header(res, 'oci-subject');
    if (subject) this.referrersApi = true;
    return subject;
  }

  private async pushManifest(desc: Descriptor, source: BlobSource | Buffer): Promise<PushResult> {
    const bytes = await this.manifestBytes(desc, source);
    const summary = summarizeManifest(bytes);
    const subject = summary?.subject;
    const existed = await this.exists(desc);
    let ociSubject: string | undefined;
    if (!existed) ociSubject = await this.putManifest(desc.digest, bytes, desc.mediaType, desc.digest);
    if (summary && subject && ociSubject !== subject.digest) {
      // Already there: the index may still lack it (an earlier run died in between). Without
      // the referrers API the fallback index is ours to keep complete.
      const needFallback = existed ? !(await this.hasReferrersApi()) : true;
      if (needFallback) await addToFallbackIndex(this.fallbackIO(), subject.digest, referrerEntry(desc, summary));
    }
    return { uploaded: !existed };
  }

  private fallbackIO(): FallbackIndexIO {
    return {
      location: this.location,
      get: async (tag) => {
        const res = await this.send({
          method: 'GET',
          url: this.path('manifests', tag),
          headers: { accept: MANIFEST_ACCEPT },
          scopes: this.pushScopes,
        });
        if (res.status === 404) {
          await res.body.dump();
          return undefined;
        }
        if (res.status !== 200)
          throw await this.failure(res, `read referrers index ${this.location}:${tag}`, this.pushScopes);
        return readCapped(res.body, MAX_MANIFEST, `${this.location}:${tag}`);
      },
      put: async (tag, bytes, mediaType) => {
        await this.putManifest(tag, bytes, mediaType, sha256Digest(bytes));
      },
    };
  }

  async ingest(mediaType: string, stream: Readable, options: PushOptions = {}): Promise<IngestResult> {
    if (isManifest(mediaType)) {
      const bytes = await readCapped(stream, MAX_MANIFEST, `manifest (${mediaType})`);
      const descriptor: Descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
      return { descriptor, ...(await this.pushManifest(descriptor, bytes)) };
    }
    const { path, size } = options;
    // A local file of a size that goes up chunked is uploaded resumable, hashed as it is sent.
    if (
      path !== undefined &&
      size !== undefined &&
      this.strategy !== 'stream' &&
      chooseStrategy(this.http.host, this.strategy, size, this.chunkSize) === 'chunked'
    )
      return this.limit(async () => {
        const end = options.timings?.begin('network');
        // Over plain HTTP a worker reads, hashes and sends the file itself (file-sender.ts)
        // when the caller needs nothing from the stream but its bytes.
        const fileRead = options.fileRead;
        const worker = fileRead !== undefined && this.http.baseUrl.protocol === 'http:';
        if (worker) stream.destroy();
        let read = 0;
        const onProgress = worker
          ? (n: number): void => {
              fileRead(n - read);
              read = n;
              options.onProgress?.(n);
            }
          : options.onProgress;
        const sent = await ingestFile(
          this.uploadContext(),
          worker ? undefined : stream,
          { path, size, chunkSize: this.chunkSize, onProgress },
          `push a ${mediaType} blob to ${this.location}`,
        ).finally(end);
        return { descriptor: { mediaType, digest: sent.digest, size: sent.size }, uploaded: true };
      });
    if (ingestMode(this.http.host, this.strategy) === 'spool') return this.ingestSpooled(mediaType, stream, options);
    return this.limit(async () => {
      const end = options.timings?.begin('network');
      const sent = await ingestStream(
        this.uploadContext(),
        stream,
        options.onProgress,
        `push a ${mediaType} blob to ${this.location}`,
        options.size,
      ).finally(end);
      return { descriptor: { mediaType, digest: sent.digest, size: sent.size }, uploaded: true };
    });
  }

  /** Monolithic-only registries need the digest before the PUT: spool to disk while hashing. */
  private async ingestSpooled(mediaType: string, stream: Readable, options: PushOptions): Promise<IngestResult> {
    const dir = await mkdtemp(join(tmpdir(), 'modelship-spool-'));
    try {
      const file = join(dir, 'blob');
      const hasher = new HashingStream();
      await pipelineAsync(stream, hasher, createWriteStream(file));
      const descriptor: Descriptor = { mediaType, digest: hasher.digest(), size: hasher.bytes };
      const result = await this.push(descriptor, { open: () => createReadStream(file), path: file }, options);
      return { descriptor, ...result };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async tag(desc: Descriptor, tag: string): Promise<void> {
    if (!isValidTag(tag))
      throw new ModelshipError('USAGE', `invalid tag "${tag}"`, {
        hint: 'a tag matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}',
      });
    if (!isManifest(desc.mediaType))
      throw new ModelshipError('USAGE', `cannot tag ${desc.digest}: ${desc.mediaType} is not a manifest type`);
    const bytes = await this.fetchBytes(desc);
    await this.putManifest(tag, bytes, desc.mediaType, desc.digest);
  }

  // ---- tags -----------------------------------------------------------------------------

  /**
   * Every tag of the repository, from the tags list API page by page (`n` per page, the next
   * page from the `Link` header, distribution-spec "Listing Tags"). What the registry sends is
   * untrusted: a name that is not a valid tag is dropped (it would end up in a request path),
   * and a listing that goes on past MAX_TAGS tags or MAX_TAG_PAGES pages is refused.
   */
  async listTags(options: { pageSize?: number } = {}): Promise<TagEntry[]> {
    const where = `the tags list of ${this.location}`;
    let url: URL | undefined = this.http.url(`/v2/${this.repository}/tags/list`);
    url.searchParams.set('n', String(options.pageSize ?? TAGS_PAGE_SIZE));
    const out: TagEntry[] = [];
    const seen = new Set<string>();
    let listed = 0;
    for (let page = 1; url; page++) {
      if (page > MAX_TAG_PAGES)
        throw new ModelshipError('INVALID', `${where} goes on for more than ${MAX_TAG_PAGES} pages`, {
          hint: 'the registry keeps linking to further pages; list the tags with the registry’s own tools',
        });
      const res: HttpResponse = await this.send({ method: 'GET', url, scopes: this.pull, followRedirects: true });
      if (res.status === 404) {
        const err = await this.failure(res, `list the tags of ${this.location}`, this.pull);
        throw new ModelshipError('NOT_FOUND', `repository ${this.location} not found`, {
          cause: err,
          hint: 'check the repository name (push to it first to create it)',
        });
      }
      if (res.status !== 200) throw await this.failure(res, `list the tags of ${this.location}`, this.pull);
      const body = await readCapped(res.body, MAX_MANIFEST, where);
      let tags: unknown;
      try {
        tags = (JSON.parse(body.toString('utf8')) as { tags?: unknown } | null)?.tags;
      } catch (e) {
        throw new ModelshipError('INVALID', `${where} is not JSON`, { cause: e });
      }
      // `tags` is null for a repository without tags.
      const list = Array.isArray(tags) ? tags : [];
      listed += list.length;
      if (listed > MAX_TAGS)
        throw new ModelshipError('INVALID', `${where} lists more than ${MAX_TAGS} tags`, {
          hint: 'list the tags with the registry’s own tools',
        });
      for (const t of list)
        if (typeof t === 'string' && isValidTag(t) && !seen.has(t)) {
          seen.add(t);
          out.push({ tag: t });
        }
      const next = nextLink(headerAll(res, 'link'));
      url = next ? resolveLocation(next, res.url, `${where}: page ${page} links`) : undefined;
    }
    return out;
  }

  // ---- referrers ------------------------------------------------------------------------

  /** Probes the referrers API once per store (a plain-text 404 means "not implemented"). */
  private async hasReferrersApi(): Promise<boolean> {
    if (this.referrersApi !== undefined) return this.referrersApi;
    const res = await this.send({
      method: 'GET',
      url: this.path('referrers', `sha256:${'0'.repeat(64)}`),
      headers: { accept: OCI_INDEX },
      scopes: this.pull,
    });
    const ct = baseMediaType(header(res, 'content-type'));
    await res.body.dump();
    if (res.status === 200 && ct === OCI_INDEX) this.referrersApi = true;
    else if (res.status === 404 || res.status === 400 || res.status === 405 || res.status === 200)
      this.referrersApi = false;
    else throw await this.failure(res, `probe the referrers API of ${this.location}`, this.pull);
    return this.referrersApi;
  }

  async referrers(desc: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    if (!isDigest(desc.digest)) throw new ModelshipError('USAGE', `not a sha256 digest: "${desc.digest}"`);
    if (this.referrersApi !== false) {
      const fromApi = await this.referrersFromApi(desc.digest, artifactType);
      if (fromApi) return fromApi;
    }
    const tag = referrersFallbackTag(desc.digest);
    const bytes = await this.fallbackIO().get(tag);
    if (!bytes) return [];
    let index: Index;
    try {
      index = parseFallbackIndex(bytes, desc.digest, `${this.location}:${tag}`);
    } catch {
      return []; // spec: a tag that isn't a valid index means no referrers
    }
    return filterByArtifactType(
      wellFormedReferrers(index.manifests, `the referrers index ${this.location}:${tag}`),
      artifactType,
    );
  }

  /** undefined when the registry has no referrers API (then the tag schema applies). */
  private async referrersFromApi(digest: string, artifactType: string | undefined): Promise<Descriptor[] | undefined> {
    let url: URL | undefined = this.path('referrers', digest);
    if (artifactType) url.searchParams.set('artifactType', artifactType);
    const out: Descriptor[] = [];
    const where = `the referrers list of ${digest} from ${this.location}`;
    let listed = 0; // entries of all pages so far, malformed ones too: the cap is on what was sent
    for (let page = 0; url; page++) {
      checkReferrerPages(page + 1, where);
      const res: HttpResponse = await this.send({
        method: 'GET',
        url,
        headers: { accept: OCI_INDEX },
        scopes: this.pull,
        followRedirects: true,
      });
      const ct = baseMediaType(header(res, 'content-type'));
      if (res.status === 404 || (res.status === 200 && ct !== OCI_INDEX && page === 0)) {
        const body =
          res.status === 404
            ? (await readCapped(res.body, MAX_API_BODY, `referrers answer of ${this.location}`))
                .toString('utf8')
                .slice(0, 4096)
            : (await res.body.dump(), '');
        // NAME_UNKNOWN: the repository is missing, which says nothing about the API.
        if (/NAME_UNKNOWN/.test(body)) return [];
        this.referrersApi = false;
        return undefined;
      }
      if (res.status !== 200)
        throw await this.failure(res, `list referrers of ${digest} in ${this.location}`, this.pull);
      this.referrersApi = true;
      const body = await readCapped(res.body, MAX_MANIFEST, `referrers of ${digest}`);
      let index: Partial<Index> | null;
      try {
        index = JSON.parse(body.toString('utf8')) as Partial<Index> | null;
      } catch (e) {
        throw new ModelshipError('INVALID', `${where} is not JSON`, {
          cause: e,
        });
      }
      const filtered = (header(res, 'oci-filters-applied') ?? '')
        .split(',')
        .map((s) => s.trim())
        .includes('artifactType');
      const list = wellFormedReferrers(index?.manifests, where, listed);
      if (Array.isArray(index?.manifests)) listed += index.manifests.length;
      out.push(...(filtered ? list : filterByArtifactType(list, artifactType)));
      const next = nextLink(headerAll(res, 'link'));
      url = next ? resolveLocation(next, res.url, `${where}: page ${page + 1} links`) : undefined;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
