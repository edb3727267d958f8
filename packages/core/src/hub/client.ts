import { setTimeout as sleep } from 'node:timers/promises';
import { downloadFile, HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import { ModelshipError } from '../errors.js';
import { readCapped, MAX_API_BODY } from '../streams.js';
import type { HubAccess } from './access.js';
import { DEFAULT_REVISION, formatHubReference, type HubReference } from './reference.js';

/** One file of a repository at a commit, as the Hub's tree API lists it. */
export interface HubFile {
  path: string;
  size: number;
  /** The git blob id (sha1 of `blob <size>\0<content>`); for an LFS file, of its pointer. */
  oid: string;
  /** LFS files: the sha256 of the content, which is the raw layer digest. */
  lfs?: { sha256: string };
}

/** What the Hub says about a repository at a revision. */
export interface HubRevision {
  /** The commit the revision names, resolved once: everything else is read at it. */
  sha: string;
  gated: false | 'auto' | 'manual';
  private: boolean;
  /** The model card's front matter as the Hub parsed it (`cardData`). */
  card: Record<string, unknown>;
}

export interface HubRef {
  name: string;
  kind: 'branch' | 'tag';
  commit: string;
}

export interface HubClientOptions {
  /** A response body that delivers nothing for this long is aborted (default 30 s). */
  stallMs?: number;
  /** Attempts after the first for a request that failed on the network or with 429/5xx (default 4). */
  retries?: number;
  /** First backoff; doubles per attempt (default 250 ms). */
  backoffMs?: number;
  /** Waiting for response headers (default 60 s). */
  headersTimeoutMs?: number;
}

/** A failed answer, kept for the error message: @huggingface/hub keeps the status, not the Hub's headers. */
interface HubFailure {
  status: number;
  /** `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). */
  code?: string;
  /** `X-Error-Message`. */
  message?: string;
}

const MAX_TREE_ENTRIES = 1_000_000;

/** A request as the failure records know it: the normalised URL and the Range header. */
function requestKey(url: string, range: string): string {
  return `${new URL(url).href} ${range}`;
}

/** Bytes of file content received from the Hub and its CDN, and requests made. */
export interface HubTraffic {
  apiRequests: number;
  fileRequests: number;
  fileBytes: number;
}

/**
 * The Hub, through @huggingface/hub: `modelInfo` resolves a revision to its commit, `listFiles`
 * lists the tree at that commit (following the `Link` pagination), `downloadFile` gives a Blob
 * whose `slice().stream()` is a ranged GET of `resolve/<commit>/<path>` (the Hub redirects LFS
 * files to its CDN; fetch drops the Authorization header on that cross-origin redirect). Every
 * request goes through one fetch of ours, given to the library as its `fetch`: it retries network
 * failures and 429/5xx, aborts a body that stalls, checks `X-Repo-Commit`, and remembers the
 * Hub's `X-Error-Code` so that errors say what the Hub meant.
 */
export class HubClient {
  readonly traffic: HubTraffic = { apiRequests: 0, fileRequests: 0, fileBytes: 0 };
  private readonly failures = new Map<string, HubFailure>();
  private readonly fatal = new Map<string, ModelshipError>();
  /** Sizes the listing gives for the files' URLs: an answer of another length is refused. */
  private readonly sizes = new Map<string, { size: number; what: string }>();
  private readonly stallMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly headersTimeoutMs: number;

  constructor(
    readonly access: HubAccess,
    options: HubClientOptions = {},
  ) {
    this.stallMs = options.stallMs ?? 30_000;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 250;
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
  }

  private get credentials(): { accessToken?: string } {
    return this.access.token ? { accessToken: this.access.token } : {};
  }

  /** The repository's web address on this Hub: what a git clone of it would name as its remote. */
  repoURL(repo: string): string {
    return `${this.access.endpoint}/${repo}`;
  }

  /** Resolves `ref.revision` (default main) to a commit, with the repository's gating and card. */
  async revision(ref: HubReference): Promise<HubRevision> {
    const what = formatHubReference(ref);
    try {
      const info = await modelInfo({
        name: ref.repo,
        revision: ref.revision ?? DEFAULT_REVISION,
        additionalFields: ['sha', 'cardData'],
        hubUrl: this.access.endpoint,
        fetch: this.fetch,
        ...this.credentials,
      });
      const sha = typeof info.sha === 'string' ? info.sha.toLowerCase() : '';
      if (!/^[0-9a-f]{40}$/.test(sha))
        throw new ModelshipError('NETWORK', `${this.access.endpoint} named no commit for ${what}`, {
          hint: 'HF_ENDPOINT must be a Hugging Face Hub (its /api/models route answers with the commit "sha")',
        });
      const card = info.cardData && typeof info.cardData === 'object' ? (info.cardData as Record<string, unknown>) : {};
      return { sha, gated: info.gated ?? false, private: info.private === true, card };
    } catch (e) {
      throw this.error(e, ref);
    }
  }

  /** Every file of the repository at `sha` (directories left out), in the Hub's order. */
  async files(ref: HubReference, sha: string): Promise<HubFile[]> {
    const out: HubFile[] = [];
    try {
      for await (const e of listFiles({
        repo: { type: 'model', name: ref.repo },
        revision: sha,
        recursive: true,
        hubUrl: this.access.endpoint,
        fetch: this.fetch,
        ...this.credentials,
      })) {
        if (e.type !== 'file') continue;
        if (out.length >= MAX_TREE_ENTRIES)
          throw new ModelshipError('INVALID', `${formatHubReference(ref)} lists more than ${MAX_TREE_ENTRIES} files`);
        if (typeof e.path !== 'string' || !Number.isSafeInteger(e.size) || e.size < 0 || typeof e.oid !== 'string')
          throw new ModelshipError('NETWORK', `the Hub listed a malformed entry in ${formatHubReference(ref)}`);
        const sha256 = e.lfs?.oid;
        if (e.lfs && (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256) || e.lfs.size !== e.size))
          throw new ModelshipError('NETWORK', `the Hub listed a malformed LFS entry for ${e.path}`);
        out.push({ path: e.path, size: e.size, oid: e.oid.toLowerCase(), ...(sha256 ? { lfs: { sha256 } } : {}) });
      }
    } catch (e) {
      throw this.error(e, { ...ref, revision: sha });
    }
    return out;
  }

  /** Branches and tags, from the Hub's `refs` route (huggingface_hub `list_repo_refs`). */
  async refs(ref: HubReference): Promise<HubRef[]> {
    try {
      const res = await this.fetch(`${this.access.endpoint}/api/models/${ref.repo}/refs`, {
        headers: this.access.token ? { authorization: `Bearer ${this.access.token}` } : {},
      });
      if (!res.ok) throw new HubApiError(res.url, res.status);
      const body = await readCapped(
        (res.body ?? []) as AsyncIterable<Uint8Array>,
        MAX_API_BODY,
        `the refs of ${formatHubReference(ref)}`,
      );
      const json = JSON.parse(body.toString('utf8')) as { branches?: unknown; tags?: unknown };
      const list = (v: unknown, kind: HubRef['kind']): HubRef[] =>
        (Array.isArray(v) ? v : []).flatMap((r: { name?: unknown; targetCommit?: unknown }) =>
          typeof r?.name === 'string' && typeof r.targetCommit === 'string' && /^[0-9a-f]{40}$/.test(r.targetCommit)
            ? [{ name: r.name, kind, commit: r.targetCommit }]
            : [],
        );
      return [...list(json.branches, 'branch'), ...list(json.tags, 'tag')];
    } catch (e) {
      if (e instanceof SyntaxError)
        throw new ModelshipError('NETWORK', `the Hub answered the refs of ${formatHubReference(ref)} with no JSON`);
      throw this.error(e, ref);
    }
  }

  /** `resolve/<sha>/<path>`, each path segment encoded (the library would send it as written). */
  fileURL(repo: string, sha: string, path: string): string {
    return `${this.access.endpoint}/${repo}/resolve/${sha}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  /**
   * The file as @huggingface/hub's Blob of it. The listing gave its size, so `downloadInfo`
   * saves the probe request; xet is off: the Hub serves xet-backed files over plain HTTP range
   * requests too, and every byte is verified here against the listing's digest anyway.
   */
  async blob(ref: HubReference, sha: string, file: HubFile): Promise<Blob> {
    const url = this.fileURL(ref.repo, sha, file.path);
    this.sizes.set(new URL(url).href, {
      size: file.size,
      what: `${formatHubReference({ repo: ref.repo, revision: sha })}: ${file.path}`,
    });
    const blob = await downloadFile({
      repo: { type: 'model', name: ref.repo },
      path: file.path,
      revision: sha,
      hubUrl: this.access.endpoint,
      fetch: this.fetch,
      xet: false,
      downloadInfo: { size: file.size, etag: file.lfs?.sha256 ?? file.oid, url },
      ...this.credentials,
    });
    if (!blob) throw new ModelshipError('NOT_FOUND', `${file.path} is not in ${formatHubReference(ref)}`);
    return blob;
  }

  /**
   * The ModelshipError for a failed ranged read of `url` (the Blob's stream reports only a
   * message): what our fetch saw for that request, else a network failure.
   */
  rangeError(ref: HubReference, url: string, range: string, e: unknown): ModelshipError {
    const key = requestKey(url, range);
    const fatal = this.fatal.get(key);
    if (fatal) return fatal;
    const failure = this.failures.get(key);
    if (failure) return this.failureError(failure, ref, url);
    return this.error(e, ref);
  }

  /** Whether a failed ranged read may be tried again: not when the Hub said no (4xx) or the answer was wrong. */
  retryable(url: string, range: string): boolean {
    const key = requestKey(url, range);
    if (this.fatal.has(key)) return false;
    const f = this.failures.get(key);
    return f === undefined || f.status === 429 || f.status >= 500;
  }

  /** Forget what an earlier attempt at this range left behind. */
  clearRange(url: string, range: string): void {
    this.failures.delete(requestKey(url, range));
    this.fatal.delete(requestKey(url, range));
  }

  /** The fetch given to @huggingface/hub. */
  readonly fetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const range = new Headers(init?.headers).get('range') ?? '';
    const key = requestKey(url, range);
    const isFile = /\/resolve\//.test(new URL(url).pathname);
    for (let attempt = 0; ; attempt++) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), this.headersTimeoutMs);
      if (isFile) this.traffic.fileRequests++;
      else this.traffic.apiRequests++;
      let res: Response;
      try {
        res = await fetch(input, {
          ...init,
          signal: init?.signal ? AbortSignal.any([init.signal, ac.signal]) : ac.signal,
        });
      } catch (e) {
        clearTimeout(timer);
        if (attempt < this.retries) {
          await sleep(this.backoffMs * 2 ** attempt);
          continue;
        }
        throw this.unreachable(e);
      }
      clearTimeout(timer);
      if ((res.status === 429 || res.status >= 500) && attempt < this.retries) {
        await res.body?.cancel().catch(() => undefined);
        await sleep(this.backoffMs * 2 ** attempt);
        continue;
      }
      if (!res.ok) {
        this.failures.set(key, {
          status: res.status,
          ...(res.headers.get('x-error-code') ? { code: res.headers.get('x-error-code')! } : {}),
          ...(res.headers.get('x-error-message') ? { message: res.headers.get('x-error-message')! } : {}),
        });
        if (res.url && res.url !== url) this.failures.set(requestKey(res.url, range), this.failures.get(key)!);
        return res;
      }
      const problem = this.checkAnswer(url, range, res);
      if (problem) {
        await res.body?.cancel().catch(() => undefined);
        this.fatal.set(key, problem);
        throw problem;
      }
      return this.watched(res, ac, isFile);
    }
  };

  /** An answer for another commit than the one asked for, or a range not honoured. */
  private checkAnswer(url: string, range: string, res: Response): ModelshipError | undefined {
    const asked = /\/resolve\/([0-9a-f]{40})\//.exec(new URL(url).pathname)?.[1];
    const commit = res.headers.get('x-repo-commit');
    if (asked && commit && commit.toLowerCase() !== asked)
      return new ModelshipError('INVALID', `the Hub answered ${url} from commit ${commit}, not ${asked}`, {
        hint: 'a proxy between here and the Hub serves another revision; nothing from this answer was used',
      });
    if (range && res.status !== 206)
      return new ModelshipError('NETWORK', `the Hub answered a range request for ${url} with ${res.status}, not 206`, {
        hint: 'a proxy between here and the Hub drops Range headers; HF_ENDPOINT must honour them',
      });
    const listed = this.sizes.get(new URL(url).href);
    const total = range
      ? Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1])
      : Number(res.headers.get('content-length') ?? NaN);
    if (listed && Number.isFinite(total) && total !== listed.size)
      return new ModelshipError(
        'INVALID',
        `${listed.what}: the Hub serves ${total} bytes, but its listing at this commit says ${listed.size}`,
        {
          hint: 'the file changed under its commit, or something between here and the Hub altered it; nothing was pushed for it',
        },
      );
    return undefined;
  }

  /**
   * The response with its body watched: no bytes for `stallMs` aborts the request (the reader
   * then fails, and a ranged download resumes where it stopped). Counts file bytes.
   */
  private watched(res: Response, ac: AbortController, isFile: boolean): Response {
    if (!res.body) return res;
    const reader = res.body.getReader();
    const stallMs = this.stallMs;
    const traffic = this.traffic;
    let timer: NodeJS.Timeout | undefined;
    let stalled = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        timer = setTimeout(() => {
          stalled = true;
          ac.abort();
        }, stallMs);
        try {
          const { done, value } = await reader.read();
          clearTimeout(timer);
          if (done) controller.close();
          else {
            if (isFile) traffic.fileBytes += value.byteLength;
            controller.enqueue(value);
          }
        } catch (e) {
          clearTimeout(timer);
          controller.error(stalled ? new Error(`no data for ${stallMs} ms`) : e);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    const out = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'url', { value: res.url });
    return out;
  }

  private unreachable(e: unknown): ModelshipError {
    if (e instanceof ModelshipError) return e;
    const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
    const why = cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
    return new ModelshipError('NETWORK', `cannot reach the Hub at ${this.access.endpoint}: ${why}`, {
      cause: e,
      hint: 'check HF_ENDPOINT and the network, then re-run: files the target has are not downloaded again',
    });
  }

  /** Any failure of a library call as a ModelshipError that says what to do. */
  error(e: unknown, ref: HubReference): ModelshipError {
    if (e instanceof ModelshipError) return e;
    if (e instanceof HubApiError) {
      const f = (e.url ? this.failures.get(requestKey(e.url, '')) : undefined) ?? { status: e.statusCode };
      return this.failureError(f, ref, e.url);
    }
    if (e instanceof TypeError && /must start with 'hf_'/.test(e.message))
      return new ModelshipError('USAGE', 'the Hugging Face token does not start with hf_', { cause: e });
    if (e instanceof Error && e.name === 'InvalidApiResponseFormatError')
      return new ModelshipError(
        'NETWORK',
        `the Hub at ${this.access.endpoint} answered out of protocol: ${e.message}`,
        {
          cause: e,
        },
      );
    return this.unreachable(e);
  }

  /** A gated repository and no token: said before anything is downloaded. */
  gatedWithoutToken(ref: HubReference): ModelshipError {
    return this.failureError({ status: 401, code: 'GatedRepo' }, ref, this.repoURL(ref.repo));
  }

  private failureError(f: HubFailure, ref: HubReference, url: string): ModelshipError {
    const what = formatHubReference(ref);
    const page = this.repoURL(ref.repo);
    const token = this.access.tokenSource;
    const said = f.message ? ` (the Hub: "${f.message}")` : '';
    if (f.code === 'RevisionNotFound')
      return new ModelshipError(
        'NOT_FOUND',
        `${what}: the repository has no revision "${ref.revision ?? DEFAULT_REVISION}"`,
        {
          hint: 'name a branch, a tag or a full 40-digit commit id of the repository',
        },
      );
    if (f.code === 'EntryNotFound')
      return new ModelshipError('NOT_FOUND', `${what}: ${url} is not in the repository${said}`);
    if (f.code === 'GatedRepo')
      return token
        ? new ModelshipError(
            'AUTH',
            `the token from ${token} was refused for ${what}: the repository is gated${said}`,
            {
              hint: `ask for access on ${page} with the token's account, or use a token of an account that has it`,
            },
          )
        : new ModelshipError('AUTH', `${what} is gated: downloading it needs a token of an account granted access`, {
            hint: `ask for access on ${page}, then set HF_TOKEN to a token of that account`,
          });
    if (f.status === 401 && token && f.code !== 'RepoNotFound')
      return new ModelshipError('AUTH', `the Hub refused the token from ${token}${said}`, {
        hint: 'the token is invalid, expired or revoked: create one in the Hub settings (Access Tokens) and set HF_TOKEN',
      });
    // The Hub answers 401 without a token for private, gated and missing repositories alike.
    if (f.code === 'RepoNotFound' || f.status === 401 || f.status === 404)
      return new ModelshipError('NOT_FOUND', `${what}: no such model repository on ${this.access.endpoint}`, {
        hint: token
          ? `check the name, and that the account of the token from ${token} can read it`
          : 'check the name; a private repository needs HF_TOKEN',
      });
    if (f.status === 403)
      return new ModelshipError('AUTH', `the Hub forbade reading ${what}${said}`, {
        hint: token
          ? `the token from ${token} lacks the read permission for it`
          : 'set HF_TOKEN to a token that may read it',
      });
    return new ModelshipError('NETWORK', `the Hub answered ${f.status} for ${what}${said}`, {
      hint: 're-run later: files the target has are not downloaded again',
    });
  }
}
