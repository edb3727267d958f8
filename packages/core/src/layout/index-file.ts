import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { ModelshipError } from '../errors.js';
import { withFileLock } from '../file-lock.js';
import { asDescriptor } from '../manifest.js';
import { OCI_INDEX } from '../mediatypes.js';
import { isDigest, type Index } from '../oci.js';
import { errno, wrapFs, wrapWrite } from './errors.js';

/**
 * A layout's `index.json`: read leniently (unknown and malformed entries are no error), and
 * rewritten atomically under `index.json.lock`, so concurrent writers (processes or
 * instances) never lose each other's entries.
 */
export class LayoutIndexFile {
  readonly path: string;
  /** Serializes this instance's updates so it does not contend with itself on the lock file. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    root: string,
    /** The layout as the user named it, for messages. */
    private readonly location: string,
    private readonly fsync: boolean,
    private readonly lockTimeoutMs: number,
  ) {
    this.path = join(root, 'index.json');
  }

  /** The current index.json; a missing one reads as empty (it is created on first write). */
  async read(): Promise<Index> {
    let text: string;
    try {
      text = await fsp.readFile(this.path, 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
      throw wrapFs(e, `cannot read ${this.location}/index.json`);
    }
    let index: Index;
    try {
      index = JSON.parse(text) as Index;
    } catch (e) {
      throw new ModelshipError('INVALID', `${this.location}/index.json is not valid JSON`, {
        cause: e,
        hint: 'restore it from a backup, or re-pack / re-pull into a new layout',
      });
    }
    if (!index || typeof index !== 'object' || !Array.isArray(index.manifests))
      throw new ModelshipError(
        'INVALID',
        `${this.location}/index.json is not an OCI image index (no manifests array)`,
        {
          hint: 'restore it from a backup, or re-pack / re-pull into a new layout',
        },
      );
    // Unknown media types must not cause errors (image-layout.md); malformed entries are skipped.
    index.manifests = index.manifests.filter((d) => asDescriptor(d) !== undefined && isDigest(d.digest));
    return index;
  }

  /**
   * Read-modify-write of index.json under `index.json.lock`; `change` returns false when it
   * changed nothing, which skips the write.
   */
  update(change: (index: Index) => boolean): Promise<void> {
    return this.locked(async (index, write) => {
      if (change(index)) await write(index);
    });
  }

  /**
   * Runs `fn` holding `index.json.lock` with the current index and a function that rewrites it
   * atomically; no other writer's update lands until `fn` settles. Garbage collection needs
   * this: it rewrites the index and only then deletes blobs, with no tag set in between.
   */
  locked<T>(fn: (index: Index, write: (index: Index) => Promise<void>) => Promise<T>): Promise<T> {
    const write = async (index: Index): Promise<void> => {
      index.schemaVersion = 2;
      index.mediaType = OCI_INDEX;
      try {
        await writeFileAtomic(this.path, `${JSON.stringify(index, null, 2)}\n`, { fsync: this.fsync });
      } catch (e) {
        throw wrapWrite(e, `${this.location}/index.json`, this.location);
      }
    };
    const run = (): Promise<T> =>
      withFileLock(`${this.path}.lock`, async () => fn(await this.read(), write), {
        what: `OCI layout ${this.location}`,
        timeoutMs: this.lockTimeoutMs,
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Waits for this instance's pending updates. */
  async settle(): Promise<void> {
    await this.queue;
  }
}
