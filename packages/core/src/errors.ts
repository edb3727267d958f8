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

/**
 * The settings a core message may tell the user to change, each with the plain words that
 * stand for it where no front end names it. Core never writes a CLI flag or an action input:
 * it writes `opt('tsaUrl')`, and each front end renders the key in its own words from one
 * table (packages/cli/src/option-names.ts: the flag; actions/common/src/input-names.ts: the
 * input). A test checks both tables know every key here, so a rename cannot drift.
 */
export const OPTION_WORDS = {
  cert: 'the certificate chain',
  exclude: 'the exclude patterns',
  expiry: 'the signature expiry',
  fulcioUrl: 'the Fulcio URL',
  identityToken: 'the identity token',
  include: 'the include patterns',
  insecure: 'the insecure (skip TLS verification) setting',
  key: 'a signing key',
  modelDir: 'the model directory',
  noTlog: 'the no-transparency-log setting',
  outputKeyPrefix: 'the key file prefix',
  force: 'the force setting',
  password: 'the registry password',
  keyPassword: 'the signing key password',
  signatureFormat: 'the signature format',
  plainHttp: 'the plain HTTP setting',
  predicate: 'the predicate file',
  predicateType: 'the predicate type',
  rekorUrl: 'the Rekor URL',
  sbomFormat: 'the SBOM format',
  scanReport: 'the scan report file',
  securityScan: 'the security scan setting',
  trustedRoot: 'the trusted root file',
  tsaUrl: 'the timestamp authority URL',
  tufCache: 'the TUF cache directory',
  tufMirror: 'the TUF mirror',
  tufOffline: 'the TUF offline setting',
  tufRoot: 'the TUF root file',
  type: 'the attestation types',
  username: 'the registry username',
} as const;

export type OptionKey = keyof typeof OPTION_WORDS;

/** How a front end names a setting; `undefined` for one it has not got (plain words then). */
export type OptionNamer = (key: OptionKey) => string | undefined;

const OPTION_MARK = /\{opt:([A-Za-z]+)\}/g;

/** A setting named in a message or hint, rendered by the front end that prints it. */
export function opt(key: OptionKey): string {
  return `{opt:${key}}`;
}

/** `text` with each `opt(key)` rendered by `name`, falling back to the key's plain words. */
export function renderOptions(text: string, name: OptionNamer = () => undefined): string {
  return text.replace(OPTION_MARK, (mark, key: string) =>
    Object.hasOwn(OPTION_WORDS, key) ? (name(key as OptionKey) ?? OPTION_WORDS[key as OptionKey]) : mark,
  );
}

export interface ModelshipErrorOptions {
  /** What the user can do about it; printed on its own line. */
  hint?: string;
  cause?: unknown;
}

export class ModelshipError extends Error {
  readonly code: ErrorCode;
  /** The hint in plain words; a front end prints `render(itsNames).hint` instead. */
  readonly hint: string | undefined;
  /** Message and hint as written, with their `opt(key)` marks: what a wrapping error builds on. */
  readonly template: { readonly message: string; readonly hint: string | undefined };

  constructor(code: ErrorCode, message: string, options: ModelshipErrorOptions = {}) {
    // `message` and `hint` read in plain words, so a caller that prints them without a front
    // end's names (a library user, a wrapping message) never shows a raw mark.
    super(renderOptions(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelshipError';
    this.code = code;
    this.template = { message, hint: options.hint };
    this.hint = options.hint === undefined ? undefined : renderOptions(options.hint);
  }

  /** Message and hint with each setting named the way the printing front end names it. */
  render(name: OptionNamer): { message: string; hint: string | undefined } {
    return {
      message: renderOptions(this.template.message, name),
      hint: this.template.hint === undefined ? undefined : renderOptions(this.template.hint, name),
    };
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
