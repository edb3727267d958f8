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
 * A layout may come from anyone (a pulled tarball, a shared directory): its index is read up to
 * this size, about 200,000 entries, so a hostile one cannot exhaust memory.
 */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** `path` as UTF-8, refusing it when it holds more than `max` bytes (read through one handle, so a growing file is caught too). */
async function readCapped(path: string, max: number, label: string): Promise<string> {
  const fh = await fsp.open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(Math.min(1024 * 1024, max + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max)
        throw new ModelshipError('INVALID', `${label} is larger than ${max} bytes: not an index modelship reads`, {
          hint: 'an OCI layout index this large is damaged or hostile; re-pack / re-pull into a new layout',
        });
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await fh.close();
  }
}

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
      text = await readCapped(this.path, MAX_INDEX_BYTES, `${this.location}/index.json`);
    } catch (e) {
      if (e instanceof ModelshipError) throw e;
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
