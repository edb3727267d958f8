import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Flush the data before the rename so a crash leaves the old file or the new one, never a torn one. */
  fsync?: boolean;
  /** File mode of the new file (default 0666 less the umask); set before any byte is written. */
  mode?: number;
}

/** A unique sibling name for a temp file; dot-prefixed so directory listings skip it. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeTemp(tmp: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<void> {
  const fh = await fsp.open(tmp, 'wx', options.mode);
  try {
    // The umask may have narrowed the mode at open; a secret file must not be wider either.
    if (options.mode !== undefined) await fh.chmod(options.mode);
    await fh.writeFile(data);
    if (options.fsync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `path` with `data` via a temp file in the same directory and a rename, so readers
 * (other processes included) see either the old content or the new, never a mix.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempSibling(path);
  try {
    await writeTemp(tmp, data, options);
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/**
 * Creates `path` with `data` only if it does not exist, all at once: `link` fails with EEXIST
 * instead of replacing, so of two racing creators exactly one wins and nobody sees a partial
 * file. Returns false when the file was already there.
 */
export async function createFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<boolean> {
  const tmp = tempSibling(path);
  try {
    await writeTemp(tmp, data, options);
    try {
      await fsp.link(tmp, path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
}
