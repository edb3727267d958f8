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

/**
 * One JSON file per (registry, repository, digest), named by a hash of the three so nothing
 * the registry or the user chose becomes a path. Every failure to read or write a record is
 * swallowed: losing a record costs a re-upload, never the push.
 */
export class UploadSessions {
  private dirReady: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  private file(key: UploadKey): string {
    const h = createHash('sha256').update(`${key.registry}\n${key.repository}\n${key.digest}`).digest('hex');
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

  async save(record: Omit<UploadRecord, 'version' | 'updatedAt'>): Promise<void> {
    try {
      this.dirReady ??= fsp.mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined);
      await this.dirReady;
      const full: UploadRecord = { version: 1, ...record, updatedAt: new Date().toISOString() };
      await writeFileAtomic(this.file(record), JSON.stringify(full) + '\n', { mode: 0o600 });
    } catch {
      this.dirReady = undefined;
    }
  }

  async remove(key: UploadKey): Promise<void> {
    await fsp.rm(this.file(key), { force: true }).catch(() => undefined);
  }
}
