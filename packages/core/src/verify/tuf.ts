import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { defaultCacheDir } from '../digest-cache.js';
import { ModelshipError, opt } from '../errors.js';

/** Sigstore's public-good TUF repository; its initial root ships inside @sigstore/tuf. */
// @sigstore/tuf's DEFAULT_MIRROR_URL (a test keeps them equal); the library itself is loaded
// only when a trusted root is fetched, so commands that never verify keyless don't pay for it.
export const SIGSTORE_TUF_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';

export interface TufOptions {
  /** Base URL of the TUF repository. Default: Sigstore's public-good mirror. */
  mirrorURL?: string;
  /**
   * The initial (trust-anchor) root.json for `mirrorURL`. Needed for any mirror but the
   * public-good one; used only to seed an empty cache (a cached root is newer and verified).
   */
  rootPath?: string;
  /** Where verified metadata and targets are kept. Default: {@link defaultTufCacheDir}. */
  cachePath?: string;
  /** Use the cached metadata without contacting the mirror while it is unexpired. */
  offline?: boolean;
  /** Per-request timeout. Default 5000 ms. */
  timeoutMs?: number;
  /** Retries per request on connection errors and 5xx. Default 2. */
  retries?: number;
}

/**
 * `$MODELSHIP_TUF_CACHE`, else `tuf/` in modelship's cache directory (`$MODELSHIP_CACHE_DIR`,
 * `$XDG_CACHE_HOME/modelship` or `~/.cache/modelship`). A cache, not app data (sigstore-js's own
 * default is under XDG_DATA_HOME): deleting it only costs one refresh.
 */
export function defaultTufCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELSHIP_TUF_CACHE) return resolve(env.MODELSHIP_TUF_CACHE);
  return join(defaultCacheDir(env), 'tuf');
}

const AIR_GAP_HINT = `pin the root instead for air-gapped use: trust.trustedRoot in the policy or ${opt('trustedRoot')} FILE (a trusted_root.json, e.g. from \`cosign trusted-root create\` or a machine that can reach the mirror); ${opt('tufOffline')} uses an unexpired cache without the network`;

function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c !== undefined && c !== null && out.length < 10; c = (c as { cause?: unknown }).cause)
    out.push(c);
  return out;
}

function isNetworkError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  // minipass-fetch (under make-fetch-happen) names connection failures and timeouts FetchError.
  if (e.name === 'FetchError') return true;
  // tuf-js DownloadHTTPError: the mirror answered, with an HTTP error status.
  if (typeof (e as { statusCode?: unknown }).statusCode === 'number') return true;
  // tuf-js flattens snapshot/targets download failures into RuntimeError(`... ${error}`).
  return /\bFetchError\b|Failed to download/.test(e.message);
}

/** The innermost message: tuf-js's own words for what failed (bad signature, expired, hash mismatch). */
function rootCauseMessage(e: unknown): string {
  const chain = causes(e).filter((c): c is Error => c instanceof Error);
  return chain[chain.length - 1]?.message ?? String(e);
}

async function checkInitialRoot(path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read TUF root ${path}: ${(e as Error).message}`, {
      cause: e,
      hint: 'pass the repository’s initial root.json (e.g. 1.root.json from the mirror, obtained out of band)',
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ModelshipError('INPUT', `TUF root ${path} is not JSON`, { cause: e });
  }
  const signed = (doc as { signed?: { _type?: unknown } } | null)?.signed;
  if (!signed || signed._type !== 'root')
    throw new ModelshipError('INPUT', `TUF root ${path} is not TUF root metadata (no signed._type "root")`, {
      hint: `pass a TUF root.json, not a Sigstore trusted_root.json (that one goes to ${opt('trustedRoot')})`,
    });
}

/**
 * Sigstore's `trusted_root.json` from a TUF repository (public-good by default), verified by
 * the TUF client workflow from the embedded or given initial root, and cached on disk.
 * Unreachable mirror: NETWORK. Metadata or target that fails TUF verification (signature,
 * threshold, expiry, rollback, length or hash): INVALID.
 */
export async function fetchTrustedRoot(options: TufOptions = {}): Promise<TrustedRoot> {
  const mirrorURL = (options.mirrorURL ?? SIGSTORE_TUF_MIRROR).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(mirrorURL);
  } catch (e) {
    throw new ModelshipError('USAGE', `TUF mirror "${mirrorURL}" is not a URL`, { cause: e });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new ModelshipError('USAGE', `TUF mirror "${mirrorURL}" must be an http(s) URL`);
  if (options.rootPath) await checkInitialRoot(options.rootPath);
  const cachePath = options.cachePath ?? defaultTufCacheDir();
  // tuf-js writes the cache in place: concurrent refreshes of one cache (verifying many
  // references at once) share one fetch instead of interleaving their writes.
  const key = JSON.stringify([
    mirrorURL,
    cachePath,
    options.rootPath,
    options.offline,
    options.timeoutMs,
    options.retries,
  ]);
  let pending = inFlight.get(key);
  if (!pending) {
    pending = refresh(mirrorURL, cachePath, options).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  return pending;
}

const inFlight = new Map<string, Promise<TrustedRoot>>();

async function refresh(mirrorURL: string, cachePath: string, options: TufOptions): Promise<TrustedRoot> {
  const { getTrustedRoot, TUFError } = await import('@sigstore/tuf');
  try {
    return await getTrustedRoot({
      mirrorURL,
      cachePath,
      forceCache: options.offline ?? false,
      timeout: options.timeoutMs ?? 5000,
      retry: { retries: options.retries ?? 2 },
      ...(options.rootPath ? { rootPath: options.rootPath } : {}),
    });
  } catch (e) {
    throw tufError(e, mirrorURL, cachePath, options, TUFError);
  }
}

function tufError(
  e: unknown,
  mirrorURL: string,
  cachePath: string,
  options: TufOptions,
  TUFError: typeof import('@sigstore/tuf').TUFError,
): ModelshipError {
  if (e instanceof ModelshipError) return e;
  const chain = causes(e);
  const detail = rootCauseMessage(e);
  if (e instanceof TUFError && e.code === 'TUF_INIT_CACHE_ERROR')
    return new ModelshipError('USAGE', `no initial TUF root for mirror ${mirrorURL}`, {
      cause: e,
      hint: `only the Sigstore public-good root is built in: pass the mirror’s initial root.json with ${opt('tufRoot')} FILE (policy trust.tufRoot)`,
    });
  if (chain.some(isNetworkError))
    return new ModelshipError(
      'NETWORK',
      `cannot reach the TUF repository ${mirrorURL}${options.offline ? ' (the offline cache is empty or expired)' : ''}: ${detail}`,
      { cause: e, hint: AIR_GAP_HINT },
    );
  const fsError = chain.find(
    (c): c is NodeJS.ErrnoException =>
      c instanceof Error && typeof (c as NodeJS.ErrnoException).syscall === 'string' && !isNetworkError(c),
  );
  if (fsError)
    return new ModelshipError('INPUT', `cannot use the TUF cache ${cachePath}: ${fsError.message}`, {
      cause: e,
      hint: `set MODELSHIP_TUF_CACHE (or ${opt('tufCache')}) to a writable directory`,
    });
  if (e instanceof TUFError && e.code === 'TUF_FIND_TARGET_ERROR')
    return new ModelshipError('INVALID', `the TUF repository ${mirrorURL} has no trusted_root.json target`, {
      cause: e,
      hint: `is ${opt('tufMirror')} a Sigstore TUF repository?`,
    });
  return new ModelshipError('INVALID', `TUF metadata from ${mirrorURL} failed verification: ${detail}`, {
    cause: e,
    hint: `the mirror (or something between it and you) serves metadata the TUF root does not vouch for; do not trust it. If the cache at ${cachePath} was damaged, delete it and retry`,
  });
}
