import { ModelshipError } from './errors.js';
import type { GcOptions, GcResult } from './layout/gc.js';
import type { ContentStore, RemovedReference, StoreDeletion } from './store.js';

/** The store's deletion capability, or a USAGE error naming what can delete. */
function deletionOf(store: ContentStore, what: string): StoreDeletion {
  if (!store.deletion)
    throw new ModelshipError('USAGE', `${what} works on OCI layouts, and ${store.location} is a registry repository`, {
      hint: 'name a layout, oci:DIR[:TAG|@DIGEST]; delete from a registry with its own tools or API',
    });
  return store.deletion;
}

/**
 * Removes a tag, or a manifest (by digest) with all its tags, from a store that can delete.
 * Nothing is freed yet: blobs go with the next garbage collection.
 */
export async function removeReference(store: ContentStore, reference: string): Promise<RemovedReference> {
  return deletionOf(store, 'removing tags and manifests').remove(reference);
}

/** Deletes what no tag of the store reaches (layout/gc.ts says what is kept). */
export async function collectGarbage(store: ContentStore, options: GcOptions = {}): Promise<GcResult> {
  return deletionOf(store, 'garbage collection').collectGarbage(options);
}
