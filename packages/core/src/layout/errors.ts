import { ModelshipError, toModelshipError } from '../errors.js';

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

export function wrapFs(e: unknown, context: string): ModelshipError {
  if (e instanceof ModelshipError) return e;
  const err = toModelshipError(e, 'INPUT');
  return new ModelshipError(err.code, `${context}: ${err.message}`, { cause: e, hint: err.hint });
}

/** Write-side failures: ENOSPC is the one users can act on, so it gets its own message. */
export function wrapWrite(e: unknown, what: string, layout: string): ModelshipError {
  if (e instanceof ModelshipError) return e;
  if (errno(e) === 'ENOSPC')
    return new ModelshipError('INPUT', `disk full while writing ${what}`, {
      cause: e,
      hint: `free space on the disk holding ${layout} and re-run; blobs already written are kept and skipped`,
    });
  return wrapFs(e, `cannot write ${what}`);
}
