import * as core from '@actions/core';
import {
  ModelshipError,
  createProgress,
  keySourceFrom,
  type SigningOptions,
  isModelshipError,
  toModelshipError,
  type Progress,
  type RegistryAccess,
  type TufOptions,
  untrustedLines,
  untrustedText,
} from '@modelship/core';

/** Multi-line or comma-separated list input; empty entries dropped. */
export function listInput(name: string): string[] {
  return core
    .getInput(name)
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** One entry per line (values may contain commas). */
export function linesInput(name: string): string[] {
  return core
    .getInput(name)
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function choiceInput<T extends string>(name: string, allowed: readonly T[]): T {
  const v = core.getInput(name);
  if (!(allowed as readonly string[]).includes(v))
    throw new ModelshipError('USAGE', `input ${name} "${v}" is not one of ${allowed.join(', ')}`);
  return v as T;
}

/** `key=value` lines (annotations); a line without `=` is a usage error naming the input. */
export function keyValueInput(name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of linesInput(name)) {
    const i = line.indexOf('=');
    if (i <= 0) throw new ModelshipError('USAGE', `input ${name}: "${line}" is not key=value`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/**
 * Every input of a modelship action that holds a secret. `runAction` masks them all before
 * the action reads any input, so a parse error, a warning or a crash in between cannot print
 * one unmasked (setup's `logins` is masked by setup itself, field by field, see
 * actions/setup/src/logins.ts). An input the action does not have reads as empty.
 */
export const SECRET_INPUTS = [
  'password',
  'source-password',
  'destination-password',
  'key',
  'key-password',
  'identity-token',
  'github-token',
] as const;

const masked = new Set<string>();

/** Masks a value once (runAction masks every secret input up front; readers ask again). */
export function maskSecret(value: string): void {
  if (!value || masked.has(value)) return;
  masked.add(value);
  core.setSecret(value);
}

/** A secret input, masked in the log before anything else can print it. */
export function secretInput(name: string): string {
  const v = core.getInput(name);
  if (v) {
    maskSecret(v);
    // Multi-line secrets (PEM keys) are masked line by line too: the runner masks per line.
    const lines = v.split(/\r?\n/).map((l) => l.trim());
    if (lines.length > 1) for (const line of lines) if (line.length >= 8) maskSecret(line);
  }
  return v;
}

/** The registry inputs every action shares: username, password (masked), plain-http, insecure. */
export function registryInputs(): RegistryAccess {
  const access: RegistryAccess = {};
  const password = secretInput('password');
  const username = core.getInput('username');
  if (core.getBooleanInput('plain-http')) access.plainHttp = true;
  if (core.getBooleanInput('insecure')) access.insecure = true;
  if (password && !username)
    throw new ModelshipError('USAGE', 'input password is set but username is empty', { hint: 'set username too' });
  if (username) {
    access.username = username;
    if (password) access.password = password;
  }
  return access;
}

/** Periodic progress lines in the job log. */
export function logProgress(label: string): Progress {
  return createProgress(label, { mode: 'lines', write: (t) => core.info(t.trimEnd()) });
}

/**
 * A warning annotation about untrusted text (a file name, a registry's answer). @actions/core
 * escapes the line breaks of an annotation message itself; this also makes control characters
 * (terminal escapes) visible, as everywhere else (packages/core/src/untrusted-text.ts).
 */
export function untrustedWarning(message: string): void {
  core.warning(untrustedText(message));
}

/**
 * Runs an action body: every secret input is masked first, then any failure becomes
 * `setFailed("CODE: message\nhint: ...")`, each line neutralised because messages quote
 * registry bodies, tags and file names.
 */
export async function runAction(body: () => Promise<void>): Promise<void> {
  try {
    for (const name of SECRET_INPUTS) secretInput(name);
    await body();
  } catch (e) {
    const err = isModelshipError(e) ? e : toModelshipError(e);
    core.setFailed(
      `${err.code}: ${untrustedLines(err.message)}${err.hint ? `\nhint: ${untrustedLines(err.hint)}` : ''}`,
    );
  }
}

function tlogInput(): boolean | undefined {
  const v = core.getInput('tlog').trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ModelshipError('USAGE', `input tlog "${v}" must be true, false or empty`);
}

/** The signing inputs shared by sign, attest and the release action; secrets masked first. */
export function signingInputs(): SigningOptions {
  const key = secretInput('key');
  const keyPassword = secretInput('key-password');
  const identityToken = secretInput('identity-token');
  const entryType = core.getInput('rekor-entry-type');
  if (entryType && entryType !== 'dsse' && entryType !== 'intoto')
    throw new ModelshipError('USAGE', `input rekor-entry-type "${entryType}" is not dsse or intoto`);
  const tlog = tlogInput();
  const fulcioURL = core.getInput('fulcio-url');
  const rekorURL = core.getInput('rekor-url');
  const tsaURL = core.getInput('tsa-url');
  return {
    ...(key ? { key: keySourceFrom(key) } : {}),
    ...(keyPassword ? { keyPassword } : {}),
    ...(identityToken ? { identityToken } : {}),
    ...(fulcioURL ? { fulcioURL } : {}),
    ...(rekorURL ? { rekorURL } : {}),
    ...(tsaURL ? { tsaURL } : {}),
    ...(tlog !== undefined ? { tlog } : {}),
    ...(entryType ? { rekorEntryType: entryType as 'dsse' | 'intoto' } : {}),
  };
}

// Input parsing, outputs and summaries shared by pack/attest/sign and the release action.
export * from './pack.js';
export * from './attest.js';
export * from './sign.js';

/** The `tuf-*` inputs of verify and promote: where the Sigstore trusted root comes from. */
export function tufInputs(): TufOptions {
  const mirrorURL = core.getInput('tuf-mirror');
  const rootPath = core.getInput('tuf-root');
  const cachePath = core.getInput('tuf-cache');
  return {
    ...(mirrorURL ? { mirrorURL } : {}),
    ...(rootPath ? { rootPath } : {}),
    ...(cachePath ? { cachePath } : {}),
    ...(core.getInput('tuf-offline') && core.getBooleanInput('tuf-offline') ? { offline: true } : {}),
  };
}
