import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { tempSibling } from '../atomic-file.js';
import { ModelshipError, opt } from '../errors.js';

export interface KeyPairPaths {
  privateKeyPath: string;
  publicKeyPath: string;
}

/**
 * Writes `<prefix>.key` (0600) and `<prefix>.pub` (0644), the names `cosign generate-key-pair`
 * uses. Each file appears whole or not at all (temp file + link/rename); without `force` an
 * existing file is never replaced, even one created by a racing process after our check.
 */
export async function writeKeyPair(
  prefix: string,
  pair: { privateKeyPem: string; publicKeyPem: string },
  options: { force?: boolean } = {},
): Promise<KeyPairPaths> {
  const privateKeyPath = `${prefix}.key`;
  const publicKeyPath = `${prefix}.pub`;
  const force = options.force ?? false;
  if (!force) {
    for (const path of [privateKeyPath, publicKeyPath]) if (await exists(path)) throw refuseOverwrite(path);
  }
  try {
    await fsp.mkdir(dirname(privateKeyPath), { recursive: true });
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot create directory ${dirname(privateKeyPath)}: ${errCode(e)}`, {
      cause: e,
    });
  }
  await writeOne(privateKeyPath, pair.privateKeyPem, 0o600, force);
  try {
    await writeOne(publicKeyPath, pair.publicKeyPem, 0o644, force);
  } catch (e) {
    // A .key without its .pub is a key nobody can verify against: take it back.
    await fsp.rm(privateKeyPath, { force: true }).catch(() => {});
    throw e;
  }
  return { privateKeyPath, publicKeyPath };
}

async function writeOne(path: string, data: string, mode: number, force: boolean): Promise<void> {
  const tmp = tempSibling(path);
  try {
    // Created with the final mode so the private key is never readable by others, even briefly;
    // chmod as well because the umask may have narrowed the .pub.
    const fh = await fsp.open(tmp, 'wx', mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) await fsp.rename(tmp, path);
    else await fsp.link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST' && !force) throw refuseOverwrite(path);
    throw new ModelshipError('INPUT', `cannot write ${path}: ${errCode(e)}`, { cause: e });
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function refuseOverwrite(path: string): ModelshipError {
  return new ModelshipError('INPUT', `${path} already exists; not overwriting a key`, {
    hint: `pick another ${opt('outputKeyPrefix')}, or pass ${opt('force')} to replace it (the old key is lost)`,
  });
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}
