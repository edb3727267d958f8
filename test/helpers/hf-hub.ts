/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1, for tests and the bench: not the Hub, but
 * built from the HTTP protocol the Hub speaks to @huggingface/hub and huggingface_hub
 * (huggingface_hub `utils/_http.py` `hf_raise_for_status` and `file_download.py`,
 * @huggingface/hub `lib/model-info.ts`, `lib/list-files.ts`, `lib/file-download-info.ts`,
 * `utils/WebBlob.ts`):
 *
 *  - `GET /api/models/ORG/NAME/revision/REV?expand=…`: model info with the commit `sha`;
 *  - `GET /api/models/ORG/NAME/tree/REV?recursive=true`: the tree, paginated with a
 *    `Link: <…&cursor=…>; rel="next"` header; files carry the git blob `oid` and, for LFS files,
 *    `lfs: { oid: <sha256>, size, pointerSize }`;
 *  - `GET /api/models/ORG/NAME/refs`: branches and tags;
 *  - `GET|HEAD /ORG/NAME/resolve/REV/PATH`: a small file itself (200, or 206 for a Range) with
 *    `ETag` = its git blob id and `X-Repo-Commit`; an LFS file as a 302 to a second origin, the
 *    "CDN", with `X-Linked-Etag` (the sha256), `X-Linked-Size` and `X-Repo-Commit`;
 *  - the CDN: signed, expiring URLs, Range honoured (206 + Content-Range);
 *  - errors as the Hub sends them: `X-Error-Code` RepoNotFound / RevisionNotFound /
 *    EntryNotFound / GatedRepo and `X-Error-Message`; 401 without a token for missing, private
 *    and gated repositories, 404 for a missing one with a token, 403 for a gated one whose
 *    account was not granted access, 401 "Invalid credentials in Authorization header" for an
 *    unknown token.
 *
 * Only node: modules are imported, so bench/run.mjs can transpile and load this file as is.
 * Scripted misbehaviour (tampered bytes, stalls, holds) is explicit in the API below.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StandInFile =
  | {
      path: string;
      data: Buffer;
      /** Stored in Git LFS (default: weights by extension, and anything of 1 MiB or more). */
      lfs?: boolean;
    }
  /** An LFS file served from disk (the bench's gigabytes), with its sha256 computed by the caller. */
  | { path: string; file: string; size: number; sha256: string };

/** An LFS object's bytes: in memory, or a file on disk. */
type LfsObject = Buffer | { file: string; size: number };

interface StoredFile {
  path: string;
  size: number;
  /** Git blob id: of the content, or for an LFS file of its pointer. */
  oid: string;
  lfs?: { sha256: string; pointerSize: number };
  /** The content of a small file (LFS content is in `objects`). */
  data?: Buffer;
}

interface Repo {
  id: string;
  gated: false | 'auto' | 'manual';
  private: boolean;
  /** Tokens whose account may read it (gated or private). */
  granted: Set<string>;
  commits: Map<string, { files: StoredFile[]; card: Record<string, unknown> }>;
  branches: Map<string, string>;
  tags: Map<string, string>;
}

export interface HubStats {
  /** Requests to /api/… */
  api: number;
  /** Requests to …/resolve/… */
  resolve: number;
  /** Body bytes the Hub origin sent for small (non-LFS) files. */
  resolveBytes: number;
  cdnRequests: number;
  /** Body bytes the CDN sent, in total and per LFS object (sha256). */
  cdnBytes: number;
  cdnBytesByObject: Map<string, number>;
  /** Range headers the CDN was sent, in order. */
  cdnRanges: string[];
  /** CDN requests that carried an Authorization header (fetch must drop it on the cross-origin redirect). */
  cdnAuthorized: number;
  /** Most CDN responses in flight at once. */
  cdnMaxInFlight: number;
  /** Tokens seen by the Hub origin. */
  tokensSeen: Set<string>;
}

export interface HubStandIn {
  /** The Hub origin, e.g. http://127.0.0.1:PORT: what HF_ENDPOINT names. */
  url: string;
  /** The CDN origin the Hub redirects LFS downloads to. */
  cdnUrl: string;
  /** Valid user access tokens. */
  tokens: Set<string>;
  /** Time the CDN takes before it answers (default 0): a far CDN, where ranges in flight overlap. */
  cdnDelayMs: number;
  /** Answer resolve/ with this `X-Repo-Commit` instead of the commit asked for (a proxy serving another revision). */
  answerCommit: string | undefined;
  stats: HubStats;
  resetStats(): void;
  addRepo(id: string, options?: { gated?: 'auto' | 'manual'; private?: boolean; grant?: string[] }): void;
  /** A commit with these files (the whole tree) on `branch` (default main); returns its sha. */
  commit(
    id: string,
    files: StandInFile[],
    options?: { branch?: string; tag?: string; sha?: string; card?: Record<string, unknown> },
  ): string;
  /** The LFS sha256 the listing gives for a file of the commit. */
  sha256(id: string, sha: string, path: string): string;
  /**
   * Serve other bytes than the listing names (a file changed under its commit): `key` is an
   * LFS object's sha256 (the CDN serves them) or a small file's git blob id (the Hub does).
   */
  tamper(key: string, data: Buffer): void;
  /** The git blob id the listing gives for a small file of the commit. */
  blobId(id: string, sha: string, path: string): string;
  /**
   * The next `times` CDN answers for the object that start at or after byte `from` send
   * `afterBytes` bytes, then nothing more (a stall).
   */
  stall(sha256: string, afterBytes: number, times?: number, from?: number): void;
  /** CDN answers for the object send `afterBytes` bytes, then wait; `reached` settles when one does. */
  hold(sha256: string, afterBytes: number): { reached: Promise<void>; release(): void };
  close(): Promise<void>;
}

const LFS_EXT = /\.(safetensors|gguf|bin|pt|pth|onnx|h5|msgpack|ckpt)$/i;

function gitBlobId(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function pointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function hubError(res: ServerResponse, status: number, code: string | undefined, message: string): void {
  json(res, status, { error: message }, { ...(code ? { 'x-error-code': code } : {}), 'x-error-message': message });
}

/** One `bytes=a-b` / `bytes=a-` range over `size`, or 'bad', or undefined for none. */
function parseRange(header: string | undefined, size: number): [number, number] | 'bad' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return 'bad';
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'bad';
  return [start, end];
}

/**
 * Answers the head of a GET/HEAD for `size` bytes, honouring one Range (206 + Content-Range;
 * 416 for a range outside the content). Returns the byte range [a, b] to send, or undefined when
 * nothing more is to be sent (a HEAD, a 416).
 */
function answerBytes(
  req: IncomingMessage,
  res: ServerResponse,
  size: number,
  headers: Record<string, string>,
): { range: [number, number] | undefined; a: number; b: number } | undefined {
  const range = parseRange(req.headers.range, size);
  if (range === 'bad') {
    res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' }).end();
    return undefined;
  }
  const [a, b] = range ?? [0, size - 1];
  res.writeHead(range ? 206 : 200, {
    ...headers,
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
    'content-length': String(size === 0 ? 0 : b - a + 1),
    ...(range ? { 'content-range': `bytes ${a}-${b}/${size}` } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return undefined;
  }
  return { range, a, b };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startHubStandIn(options: { pageSize?: number } = {}): Promise<HubStandIn> {
  const pageSize = options.pageSize ?? 3;
  const secret = randomBytes(16);
  const repos = new Map<string, Repo>();
  const objects = new Map<string, LfsObject>();
  const tampered = new Map<string, Buffer>();
  const stalls = new Map<string, { afterBytes: number; times: number; from: number }>();
  const holds = new Map<string, { afterBytes: number; reached: () => void; released: Promise<void> }>();
  const freshStats = (): HubStats => ({
    api: 0,
    resolve: 0,
    resolveBytes: 0,
    cdnRequests: 0,
    cdnBytes: 0,
    cdnBytesByObject: new Map(),
    cdnRanges: [],
    cdnAuthorized: 0,
    cdnMaxInFlight: 0,
    tokensSeen: new Set(),
  });
  const hub: HubStandIn = {
    url: '',
    cdnUrl: '',
    tokens: new Set(),
    cdnDelayMs: 0,
    answerCommit: undefined,
    stats: freshStats(),
    resetStats: () => void (hub.stats = freshStats()),
    addRepo: (id, o = {}) =>
      void repos.set(id, {
        id,
        gated: o.gated ?? false,
        private: o.private ?? false,
        granted: new Set(o.grant ?? []),
        commits: new Map(),
        branches: new Map(),
        tags: new Map(),
      }),
    commit: (id, files, o = {}) => {
      const repo = repos.get(id);
      if (!repo) throw new Error(`stand-in: no repo ${id}`);
      const sha = o.sha ?? randomBytes(20).toString('hex');
      const stored = files.map((f): StoredFile => {
        const lfsFile = (sha256: string, size: number): StoredFile => {
          const ptr = Buffer.from(pointer(sha256, size));
          return { path: f.path, size, oid: gitBlobId(ptr), lfs: { sha256, pointerSize: ptr.length } };
        };
        if ('file' in f) {
          objects.set(f.sha256, { file: f.file, size: f.size });
          return lfsFile(f.sha256, f.size);
        }
        const lfs = f.lfs ?? (LFS_EXT.test(f.path) || f.data.length >= 1024 * 1024);
        if (!lfs) return { path: f.path, size: f.data.length, oid: gitBlobId(f.data), data: f.data };
        const sha256 = createHash('sha256').update(f.data).digest('hex');
        objects.set(sha256, f.data);
        return lfsFile(sha256, f.data.length);
      });
      repo.commits.set(sha, { files: stored, card: o.card ?? {} });
      repo.branches.set(o.branch ?? 'main', sha);
      if (o.tag) repo.tags.set(o.tag, sha);
      return sha;
    },
    sha256: (id, sha, path) => {
      const f = repos
        .get(id)
        ?.commits.get(sha)
        ?.files.find((x) => x.path === path);
      if (!f?.lfs) throw new Error(`stand-in: ${path} is not an LFS file of ${id}@${sha}`);
      return f.lfs.sha256;
    },
    blobId: (id, sha, path) => {
      const f = repos
        .get(id)
        ?.commits.get(sha)
        ?.files.find((x) => x.path === path);
      if (!f || f.lfs) throw new Error(`stand-in: ${path} is not a small file of ${id}@${sha}`);
      return f.oid;
    },
    tamper: (key, data) => void tampered.set(key, data),
    stall: (sha256, afterBytes, times = 1, from = 0) => void stalls.set(sha256, { afterBytes, times, from }),
    hold: (sha256, afterBytes) => {
      let reached!: () => void;
      let release!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      const released = new Promise<void>((r) => (release = r));
      holds.set(sha256, { afterBytes, reached, released });
      return {
        reached: reachedP,
        release: () => {
          holds.delete(sha256);
          release();
        },
      };
    },
    close: async () => undefined,
  };

  /** The token of the request: undefined without one, null for an unknown one (answered here). */
  const authenticate = (req: IncomingMessage, res: ServerResponse): string | undefined | null => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    hub.stats.tokensSeen.add(m[1]!);
    if (!hub.tokens.has(m[1]!)) {
      hubError(res, 401, undefined, 'Invalid credentials in Authorization header');
      return null;
    }
    return m[1]!;
  };

  /** The repository if the caller may see it; otherwise answered (as the Hub: 401 without a token). */
  const visibleRepo = (id: string, token: string | undefined, res: ServerResponse): Repo | undefined => {
    const repo = repos.get(id);
    if (!repo || (repo.private && !(token && repo.granted.has(token)))) {
      hubError(res, token ? 404 : 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    return repo;
  };

  const commitOf = (repo: Repo, rev: string, res: ServerResponse): string | undefined => {
    const sha = repo.branches.get(rev) ?? repo.tags.get(rev) ?? (repo.commits.has(rev) ? rev : undefined);
    if (!sha) hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return sha;
  };

  const api = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    hub.stats.api++;
    const token = authenticate(req, res);
    if (token === null) return;
    const m = /^\/api\/models\/([^/]+\/[^/]+)(?:\/(revision|tree)\/([^/]+)(\/.*)?|\/(refs))?$/.exec(url.pathname);
    if (!m) return hubError(res, 404, undefined, 'Sorry, we can\u2019t find the page you are looking for.');
    const repo = visibleRepo(m[1]!, token, res);
    if (!repo) return;
    if (m[5] === 'refs') {
      const refs = (map: Map<string, string>, kind: string): unknown[] =>
        [...map].map(([name, sha]) => ({ name, ref: `refs/${kind}/${name}`, targetCommit: sha }));
      return json(res, 200, { branches: refs(repo.branches, 'heads'), tags: refs(repo.tags, 'tags'), converts: [] });
    }
    const sha = commitOf(repo, decodeURIComponent(m[3] ?? 'main'), res);
    if (!sha) return;
    const commit = repo.commits.get(sha)!;
    if (m[2] === 'tree') {
      const under = m[4] ? decodeURIComponent(m[4].slice(1)) + '/' : '';
      const dirs = new Set<string>();
      for (const f of commit.files) {
        const parts = f.path.split('/');
        for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      }
      const entries = [
        ...[...dirs].map((d) => ({ type: 'directory', oid: gitBlobId(Buffer.from(d)), size: 0, path: d })),
        ...commit.files.map((f) => ({
          type: 'file',
          oid: f.oid,
          size: f.size,
          path: f.path,
          ...(f.lfs ? { lfs: { oid: f.lfs.sha256, size: f.size, pointerSize: f.lfs.pointerSize } } : {}),
        })),
      ]
        .filter((e) => e.path.startsWith(under))
        .filter((e) => url.searchParams.get('recursive') === 'true' || !e.path.slice(under.length).includes('/'))
        .sort((a, b) => (a.path < b.path ? -1 : 1));
      const from = Number(url.searchParams.get('cursor') ?? '0');
      const page = entries.slice(from, from + pageSize);
      const headers: Record<string, string> = {};
      if (from + pageSize < entries.length) {
        const next = new URL(url.href);
        next.searchParams.set('cursor', String(from + pageSize));
        headers['link'] = `<${hub.url}${next.pathname}${next.search}>; rel="next"`;
      }
      return json(res, 200, page, headers);
    }
    // model info: `_id` and `id` always, the rest as `expand` asks (the Hub's behaviour).
    const all: Record<string, unknown> = {
      sha,
      private: repo.private,
      gated: repo.gated,
      pipeline_tag: 'text-generation',
      downloads: 0,
      likes: 0,
      lastModified: new Date(0).toISOString(),
      cardData: commit.card,
      siblings: commit.files.map((f) => ({ rfilename: f.path })),
    };
    const expand = url.searchParams.getAll('expand');
    const body: Record<string, unknown> = { _id: repo.id.replace('/', '-'), id: repo.id };
    for (const k of expand.length ? expand : Object.keys(all)) if (k in all) body[k] = all[k];
    return json(res, 200, body);
  };

  const sign = (sha256: string, exp: number): string =>
    createHmac('sha256', secret).update(`${sha256}:${exp}`).digest('hex');

  const resolve = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    hub.stats.resolve++;
    const token = authenticate(req, res);
    if (token === null) return;
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return hubError(res, 404, undefined, 'not found');
    const repo = visibleRepo(m[1]!, token, res);
    if (!repo) return;
    if (repo.gated && !(token && repo.granted.has(token)))
      return token
        ? hubError(
            res,
            403,
            'GatedRepo',
            `Access to model ${repo.id} is restricted and you are not in the authorized list. Visit ${hub.url}/${repo.id} to ask for access.`,
          )
        : hubError(
            res,
            401,
            'GatedRepo',
            `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
          );
    const sha = commitOf(repo, decodeURIComponent(m[2]!), res);
    if (!sha) return;
    const path = m[3]!.split('/').map(decodeURIComponent).join('/');
    const f = repo.commits.get(sha)!.files.find((x) => x.path === path);
    if (!f) return hubError(res, 404, 'EntryNotFound', `${path} does not exist on "${m[2]}"`);
    if (f.lfs) {
      const exp = Date.now() + 3600_000;
      const location = `${hub.cdnUrl}/repos/${f.lfs.sha256}?exp=${exp}&sig=${sign(f.lfs.sha256, exp)}`;
      res.writeHead(302, {
        location,
        etag: `"${f.oid}"`,
        'x-linked-etag': `"${f.lfs.sha256}"`,
        'x-linked-size': String(f.size),
        'x-repo-commit': hub.answerCommit ?? sha,
        'content-length': '0',
      });
      return void res.end();
    }
    const data = tampered.get(f.oid) ?? f.data!;
    const sending = answerBytes(req, res, data.length, {
      etag: `"${f.oid}"`,
      'x-repo-commit': hub.answerCommit ?? sha,
    });
    if (!sending) return;
    const body = data.subarray(sending.a, sending.b + 1);
    hub.stats.resolveBytes += body.length;
    res.end(body);
  };

  const cdn = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    hub.stats.cdnRequests++;
    if (req.headers.authorization) hub.stats.cdnAuthorized++;
    const m = /^\/repos\/([0-9a-f]{64})$/.exec(url.pathname);
    const exp = Number(url.searchParams.get('exp'));
    if (!m || !(exp > Date.now()) || url.searchParams.get('sig') !== sign(m[1]!, exp)) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      return void res.end('<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
    }
    const sha256 = m[1]!;
    if (hub.cdnDelayMs) await new Promise((r) => setTimeout(r, hub.cdnDelayMs));
    const object = objects.get(sha256)!;
    const data = tampered.get(sha256) ?? object;
    if (!Buffer.isBuffer(data)) return serveFile(req, res, sha256, data);
    hub.stats.cdnRanges.push(req.headers.range ?? '');
    const sending = answerBytes(req, res, data.length, { etag: `"${sha256}"` });
    if (!sending) return;
    const { range } = sending;
    const body = data.subarray(sending.a, sending.b + 1);
    const sent = (n: number): void => {
      hub.stats.cdnBytes += n;
      hub.stats.cdnBytesByObject.set(sha256, (hub.stats.cdnBytesByObject.get(sha256) ?? 0) + n);
    };
    const stall =
      range && stalls.get(sha256)?.from !== undefined && range[0] < stalls.get(sha256)!.from
        ? undefined
        : stalls.get(sha256);
    const hold = holds.get(sha256);
    const cutAt = hold ? hold.afterBytes : stall && stall.times > 0 ? stall.afterBytes : undefined;
    if (cutAt === undefined || cutAt >= body.length) {
      sent(body.length);
      return void res.end(body);
    }
    if (stall && !hold) stall.times--;
    res.write(body.subarray(0, cutAt));
    sent(cutAt);
    if (hold) {
      hold.reached();
      await hold.released;
      if (res.destroyed) return;
      res.write(body.subarray(cutAt));
      sent(body.length - cutAt);
      return void res.end();
    }
    // A stall: nothing more until the client gives up and closes the connection.
  };

  /** An object on disk: Range honoured, streamed (no faults scripted for these). */
  const serveFile = (
    req: IncomingMessage,
    res: ServerResponse,
    sha256: string,
    o: { file: string; size: number },
  ): void => {
    const sending = answerBytes(req, res, o.size, { etag: `"${sha256}"` });
    if (!sending) return;
    const body = createReadStream(o.file, { start: sending.a, end: sending.b });
    body.on('data', (c: Buffer | string) => {
      hub.stats.cdnBytes += c.length;
      hub.stats.cdnBytesByObject.set(sha256, (hub.stats.cdnBytesByObject.get(sha256) ?? 0) + c.length);
    });
    body.pipe(res);
  };

  const hubServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    if (url.pathname.startsWith('/api/')) return api(req, res, url);
    if (/^\/[^/]+\/[^/]+\/resolve\//.test(url.pathname)) return resolve(req, res, url);
    hubError(res, 404, undefined, 'not found');
  });
  let inFlight = 0;
  const cdnServer = createServer((req, res) => {
    inFlight++;
    hub.stats.cdnMaxInFlight = Math.max(hub.stats.cdnMaxInFlight, inFlight);
    res.once('close', () => inFlight--);
    void cdn(req, res, new URL(req.url ?? '/', 'http://cdn')).catch(() => res.destroy());
  });
  hub.url = await listen(hubServer);
  hub.cdnUrl = await listen(cdnServer);
  hub.close = async () => {
    for (const s of [hubServer, cdnServer]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  };
  return hub;
}
