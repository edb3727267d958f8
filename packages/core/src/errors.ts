/**
 * The one error class. `code` is stable and documented (docs/errors.md); the CLI maps codes
 * to exit codes so scripts can branch on them, the actions put `code: message` in setFailed.
 */
export const ERROR_CODES = {
  USAGE: 2, // bad flags/arguments, malformed reference
  INPUT: 3, // model dir / file missing, unreadable, escaping symlink, bad spec/YAML
  INVALID: 4, // content fails validation (schema, digest mismatch, bad manifest)
  AUTH: 5, // credentials missing or rejected
  NOT_FOUND: 6, // manifest, tag or blob absent in the store
  NETWORK: 7, // registry unreachable, retries exhausted, protocol violation
  CONFLICT: 8, // concurrent update lost, layout locked
  POLICY: 9, // verification ran and the artifact does not meet the policy
  INTERNAL: 70,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ModelshipErrorOptions {
  /** What the user can do about it; printed on its own line. */
  hint?: string;
  cause?: unknown;
}

export class ModelshipError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: ModelshipErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelshipError';
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code];
  }
}

export function isModelshipError(e: unknown): e is ModelshipError {
  return e instanceof ModelshipError;
}

/** Wraps anything thrown into a ModelshipError, keeping the original as `cause`. */
export function toModelshipError(e: unknown, code: ErrorCode = 'INTERNAL'): ModelshipError {
  if (e instanceof ModelshipError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    if (err.code === 'ENOENT') return new ModelshipError('INPUT', `${err.message}`, { cause: e });
    if (err.code === 'EACCES' || err.code === 'EPERM')
      return new ModelshipError('INPUT', `permission denied: ${err.message}`, { cause: e });
    if (err.code === 'ENOSPC')
      return new ModelshipError('INPUT', `disk full: ${err.message}`, {
        cause: e,
        hint: 'free space on the target disk and re-run; finished blobs are kept',
      });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ModelshipError(code, message, { cause: e });
}
