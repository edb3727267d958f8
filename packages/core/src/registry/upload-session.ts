import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { isDigest } from '../oci.js';

/**
 * Where an interrupted chunked upload stands, kept on disk so the next run continues it
 * (docs/cli.md, "Resumable pushes and registry limits"). The Location may carry the registry's signed
 * `_state` token: it is written to a 0600 file in a 0700 directory and never logged. No
 * credential is ever part of a record.
 */
export interface UploadRecord {
  version: 1;
  /** API host[:port] of the registry. */
  registry: string;
  repository: string;
  digest: string;
  size: number;
  /** The Location the registry handed out with its last acknowledgement (absolute URL). */
  location: string;
  /** Bytes the registry acknowledged. */
  offset: number;
  updatedAt: string;
}

export type UploadKey = Pick<UploadRecord, 'registry' | 'repository' | 'digest'>;

/** What tells a local file from a changed one: a record for another identity is stale. */
export interface FileIdentity {
  /** The resolved path (realpath). */
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
}

/**
 * Where an interrupted upload of a local file whose digest is not known yet stands (a
 * cold-cache `pack --push`): keyed by the file, not the digest, since the run that was killed
 * never finished hashing it. The hash state itself cannot be saved; the next run hashes the
 * first `offset` bytes again from the file and checks them against `prefixDigest`.
 */
export interface FileUploadRecord {
  version: 1;
  registry: string;
  repository: string;
  file: FileIdentity;
  location: string;
  offset: number;
  /** sha256 of the file's first `offset` bytes. */
  prefixDigest: string;
  updatedAt: string;
}

export interface FileUploadKey {
  registry: string;
  repository: string;
  /** The resolved path of the file. */
  path: string;
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.dev === b.dev;
}

/** `$MODELSHIP_STATE_DIR/uploads`, else `$XDG_CACHE_HOME/modelship/uploads`, else `~/.cache/modelship/uploads`. */
export function defaultUploadStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['MODELSHIP_STATE_DIR']) return join(resolve(env['MODELSHIP_STATE_DIR']), 'uploads');
  const cache = env['XDG_CACHE_HOME'] ? resolve(env['XDG_CACHE_HOME']) : join(homedir(), '.cache');
  return join(cache, 'modelship', 'uploads');
}

function wellFormed(r: unknown, key: UploadKey): r is UploadRecord {
  if (!r || typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  return (
    o['version'] === 1 &&
    o['registry'] === key.registry &&
    o['repository'] === key.repository &&
    o['digest'] === key.digest &&
    typeof o['size'] === 'number' &&
    Number.isSafeInteger(o['size']) &&
    typeof o['offset'] === 'number' &&
    Number.isSafeInteger(o['offset']) &&
    o['offset'] >= 0 &&
    o['offset'] <= o['size'] &&
    typeof o['location'] === 'string' &&
    /^https?:\/\//.test(o['location'])
  );
}

function wellFormedFile(r: unknown, key: FileUploadKey): r is FileUploadRecord {
  if (!r || typeof r !== 'object') return false;
  const o = r as Record<string, unknown>;
  const f = o['file'] as Record<string, unknown> | null | undefined;
  const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  return (
    o['version'] === 1 &&
    o['registry'] === key.registry &&
    o['repository'] === key.repository &&
    !!f &&
    typeof f === 'object' &&
    f['path'] === key.path &&
    int(f['size']) &&
    typeof f['mtimeMs'] === 'number' &&
    int(f['ino']) &&
    int(f['dev']) &&
    int(o['offset']) &&
    o['offset'] <= f['size'] &&
    typeof o['prefixDigest'] === 'string' &&
    isDigest(o['prefixDigest']) &&
    typeof o['location'] === 'string' &&
    /^https?:\/\//.test(o['location'])
  );
}

/**
 * One JSON file per (registry, repository, digest) or (registry, repository, local file), named by a hash of the three so nothing
 * the registry or the user chose becomes a path. Every failure to read or write a record is
 * swallowed: losing a record costs a re-upload, never the push.
 */
export class UploadSessions {
  private dirReady: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  private file(key: UploadKey | FileUploadKey): string {
    const id = 'digest' in key ? key.digest : `file:${key.path}`;
    const h = createHash('sha256').update(`${key.registry}\n${key.repository}\n${id}`).digest('hex');
    return join(this.dir, `${h.slice(0, 40)}.json`);
  }

  async load(key: UploadKey): Promise<UploadRecord | undefined> {
    if (!isDigest(key.digest)) return undefined;
    try {
      const r: unknown = JSON.parse(await fsp.readFile(this.file(key), 'utf8'));
      return wellFormed(r, key) ? r : undefined;
    } catch {
      return undefined;
    }
  }

  /** The record kept for this file whatever its identity now (the caller compares: a changed file's record is stale). */
  async loadFile(key: FileUploadKey): Promise<FileUploadRecord | undefined> {
    try {
      const r: unknown = JSON.parse(await fsp.readFile(this.file(key), 'utf8'));
      return wellFormedFile(r, key) ? r : undefined;
    } catch {
      return undefined;
    }
  }

  async save(record: Omit<UploadRecord, 'version' | 'updatedAt'>): Promise<void> {
    await this.write(this.file(record), record);
  }

  async saveFile(record: Omit<FileUploadRecord, 'version' | 'updatedAt'>): Promise<void> {
    const key = { registry: record.registry, repository: record.repository, path: record.file.path };
    await this.write(this.file(key), record);
  }

  private async write(file: string, record: object): Promise<void> {
    try {
      this.dirReady ??= fsp.mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
      await this.dirReady;
      const full = { version: 1, ...record, updatedAt: new Date().toISOString() };
      await writeFileAtomic(file, JSON.stringify(full) + '\n', { mode: 0o600 });
    } catch {
      this.dirReady = undefined;
    }
  }

  async remove(key: UploadKey | FileUploadKey): Promise<void> {
    await fsp.rm(this.file(key), { force: true }).catch(() => undefined);
  }
}
