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

/** A secret input, masked in the log before anything else can print it. */
export function secretInput(name: string): string {
  const v = core.getInput(name);
  if (v) {
    core.setSecret(v);
    // Multi-line secrets (PEM keys) are masked line by line too: the runner masks per line.
    const lines = v.split(/\r?\n/).map((l) => l.trim());
    if (lines.length > 1) for (const line of lines) if (line.length >= 8) core.setSecret(line);
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

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** Runs an action body; any failure becomes `setFailed("CODE: message\nhint: ...")`. */
export async function runAction(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const err = isModelshipError(e) ? e : toModelshipError(e);
    core.setFailed(`${err.code}: ${err.message}${err.hint ? `\nhint: ${err.hint}` : ''}`);
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
