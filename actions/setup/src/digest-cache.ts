import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as cache from '@actions/cache';

/** Cache keys are `<prefix><sha256 of digests.json>`: a save happens only when the content changed. */
export function cacheKeyPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return `modelship-digests-${env.RUNNER_OS || process.platform}-${env.RUNNER_ARCH || process.arch}-`;
}

export async function contentHash(dir: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await readFile(join(dir, 'digests.json')))
      .digest('hex')
      .slice(0, 32);
  } catch {
    return undefined;
  }
}

export type CacheOutcome =
  { status: 'restored'; key: string } | { status: 'miss' } | { status: 'unavailable'; why: string };

/** Restores the newest saved digest cache for this OS and architecture into `dir`. */
export async function restoreDigestCache(dir: string): Promise<CacheOutcome> {
  if (!cache.isFeatureAvailable())
    return { status: 'unavailable', why: 'the Actions cache service is not available here' };
  try {
    const prefix = cacheKeyPrefix();
    const key = await cache.restoreCache([dir], prefix, [prefix]);
    return key ? { status: 'restored', key } : { status: 'miss' };
  } catch (e) {
    return { status: 'unavailable', why: (e as Error).message };
  }
}

export type SaveOutcome =
  | { status: 'saved'; key: string }
  | { status: 'unchanged' }
  | { status: 'empty' }
  | { status: 'unavailable'; why: string };

/** Saves `dir` under a key naming its content, unless that content is what was restored. */
export async function saveDigestCache(dir: string, restoredKey: string): Promise<SaveOutcome> {
  const hash = await contentHash(dir);
  if (!hash) return { status: 'empty' };
  const key = `${cacheKeyPrefix()}${hash}`;
  if (key === restoredKey) return { status: 'unchanged' };
  if (!cache.isFeatureAvailable())
    return { status: 'unavailable', why: 'the Actions cache service is not available here' };
  try {
    await cache.saveCache([dir], key);
    return { status: 'saved', key };
  } catch (e) {
    // Another job saving the same content first is a ReserveCacheError: nothing is lost.
    if (e instanceof cache.ReserveCacheError) return { status: 'unchanged' };
    return { status: 'unavailable', why: (e as Error).message };
  }
}
