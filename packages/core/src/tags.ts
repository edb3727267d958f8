import pLimit from 'p-limit';
import { ModelshipError, isModelshipError } from './errors.js';
import type { Descriptor } from './oci.js';
import { settableTag } from './request/copy-tags.js';
import type { ContentStore, ReadOnlyStore } from './store.js';

/** One tag of a store and the manifest it names (`ls`). */
export interface ListedTag {
  tag: string;
  digest: string;
  mediaType: string;
  size: number;
}

/**
 * Every tag of `store` with its manifest, in the store's order. Tags the listing names
 * without a manifest (a registry's tags list) are resolved, `concurrency` at a time (default
 * 8); a tag deleted between the listing and its lookup is left out.
 */
export async function listTags(store: ReadOnlyStore, options: { concurrency?: number } = {}): Promise<ListedTag[]> {
  if (!store.listTags) throw new ModelshipError('USAGE', `${store.location} cannot list its tags`);
  const entries = await store.listTags();
  const limit = pLimit(options.concurrency ?? 8);
  const resolved = await Promise.all(
    entries.map((e) =>
      limit(async (): Promise<ListedTag | undefined> => {
        let d: Descriptor;
        try {
          d = e.descriptor ?? (await store.resolve(e.tag));
        } catch (err) {
          if (isModelshipError(err) && err.code === 'NOT_FOUND') return undefined;
          throw err;
        }
        return { tag: e.tag, digest: d.digest, mediaType: d.mediaType, size: d.size };
      }),
    ),
  );
  return resolved.filter((t): t is ListedTag => t !== undefined);
}

/**
 * Points each of `tags` at the manifest `reference` names, without copying anything: a
 * registry gets the manifest's exact bytes PUT under the new tag, a layout a new index.json
 * entry. Returns the manifest.
 */
export async function tagArtifact(
  store: ContentStore,
  reference: string,
  tags: readonly string[],
  label = 'tag',
): Promise<Descriptor> {
  for (const t of tags) settableTag(t, label);
  const desc = await store.resolve(reference);
  for (const t of tags) await store.tag(desc, t);
  return desc;
}
