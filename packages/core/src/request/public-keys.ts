import { readFile } from 'node:fs/promises';
import { ModelshipError } from '../errors.js';

/** A public key trusted for verification, named by where it came from. */
export interface PublicKeyFile {
  pem: string;
  name: string;
}

/** Reads the PEM files named by a front end (each a few hundred bytes, read whole). */
export async function readPublicKeys(paths: readonly string[] | undefined): Promise<PublicKeyFile[]> {
  const keys: PublicKeyFile[] = [];
  for (const path of paths ?? []) {
    try {
      keys.push({ pem: await readFile(path, 'utf8'), name: path });
    } catch (e) {
      throw new ModelshipError('INPUT', `cannot read public key ${path}`, { cause: e });
    }
  }
  return keys;
}
