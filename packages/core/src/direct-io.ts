import { constants } from 'node:fs';

/** Files smaller than this go through the page cache: a few buffers, nothing to save. */
const DIRECT_MIN = 16 * 1024 * 1024;

/**
 * The `O_DIRECT` open flag for a download worker's writes (registry/blob-receiver.ts) of a blob
 * of `size` bytes, or 0: none on this platform, a small blob, or `MODELSHIP_DIRECT_IO=0`.
 * Bypassing the page cache takes the kernel's copy (a third of a loopback pull's CPU on this
 * project's 2-core machine, docs/performance.md) off the cores; a filesystem without direct I/O
 * refuses the open (tmpfs: EINVAL) and the worker writes buffered.
 */
export function directIoFlag(size: number): number {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  return flag && size >= DIRECT_MIN && process.env['MODELSHIP_DIRECT_IO'] !== '0' ? flag : 0;
}
