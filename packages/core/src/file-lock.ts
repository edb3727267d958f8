import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { ModelshipError, toModelshipError } from './errors.js';

export interface FileLockOptions {
  /** Give up waiting after this long (default 60 s): code CONFLICT. */
  timeoutMs?: number;
  /** A lock not refreshed for this long is presumed abandoned (default 30 s; holders refresh it while they hold it). */
  staleMs?: number;
  /** What is locked, for messages ("OCI layout ./model-oci"). */
  what?: string;
}

interface LockInfo {
  pid: number;
  host: string;
  time: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Whether process `pid` of this host is alive (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

function parseInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.time === 'number')
      return { pid: v.pid, host: v.host, time: v.time };
  } catch {
    // a holder between create and write, or garbage: judged by age alone
  }
  return undefined;
}

/**
 * Breaks the lock when its holder is a dead process on this host or it is older than
 * `staleMs`. The lock is first renamed aside and the inode compared, so a waiter never
 * deletes a fresh lock that another waiter took in the meantime.
 */
async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  let ino: bigint;
  let info: LockInfo | undefined;
  let age: number;
  try {
    const st = await fsp.stat(lockPath, { bigint: true });
    ino = st.ino;
    age = Date.now() - Number(st.mtimeMs);
    info = parseInfo(await fsp.readFile(lockPath, 'utf8'));
  } catch (e) {
    if (errno(e) === 'ENOENT') return true;
    throw e;
  }
  const dead = info !== undefined && info.host === hostname() && info.pid !== process.pid && !pidAlive(info.pid);
  if (!dead && age <= staleMs) return false;
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await fsp.rename(lockPath, aside);
  } catch (e) {
    if (errno(e) === 'ENOENT') return true;
    throw e;
  }
  const moved = await fsp.stat(aside, { bigint: true });
  if (moved.ino !== ino) {
    // We moved someone's fresh lock: put it back unless the path was taken again.
    await fsp.link(aside, lockPath).catch(() => {});
    await fsp.rm(aside, { force: true });
    return false;
  }
  await fsp.rm(aside, { force: true });
  return true;
}

/**
 * Runs `fn` holding `lockPath` (created with O_EXCL), waiting with backoff while another
 * process holds it. Works across processes on one host and on local filesystems; it is not
 * meant for NFS.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const staleMs = options.staleMs ?? 30_000;
  const what = options.what ?? lockPath;
  const deadline = Date.now() + timeoutMs;
  const info: LockInfo = { pid: process.pid, host: hostname(), time: Date.now() };
  let delay = 2;
  let ours: bigint | undefined;
  for (;;) {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(lockPath, 'wx');
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw toModelshipError(e, 'INPUT');
    }
    if (fh) {
      try {
        ours = (await fh.stat({ bigint: true })).ino;
        await fh.writeFile(JSON.stringify(info));
        await fh.close();
      } catch (e) {
        await fh.close().catch(() => {});
        await fsp.rm(lockPath, { force: true });
        throw toModelshipError(e, 'INPUT');
      }
      break;
    }
    if (await breakIfStale(lockPath, staleMs)) continue;
    if (Date.now() > deadline) {
      const holder = parseInfo(await fsp.readFile(lockPath, 'utf8').catch(() => ''));
      throw new ModelshipError(
        'CONFLICT',
        `${what} is locked${holder ? ` by process ${holder.pid} on ${holder.host}` : ''} (waited ${Math.round(timeoutMs / 1000)} s)`,
        { hint: `if no other modelship process is using it, delete ${lockPath}` },
      );
    }
    // Jitter keeps two waiters from retrying in lockstep.
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }
  // A holder that takes longer (garbage collection marks a whole layout) keeps the lock fresh,
  // so waiters never judge it stale while it is held.
  const heartbeat = setInterval(() => {
    void fsp
      .stat(lockPath, { bigint: true })
      .then((st) => (st.ino === ours ? fsp.utimes(lockPath, new Date(), new Date()) : undefined))
      .catch(() => {});
  }, staleMs / 3);
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    // Remove only our own lock: if it was broken as stale meanwhile, the path is someone else's.
    const st = await fsp.stat(lockPath, { bigint: true }).catch(() => undefined);
    if (st && st.ino === ours) await fsp.rm(lockPath, { force: true });
  }
}
