import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ModelshipError } from '../errors.js';

/** huggingface_hub's `ENDPOINT` default. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** Which Hub to talk to and with what token, read from the environment as huggingface_hub reads it. */
export interface HubAccess {
  /** Base URL without a trailing slash (`HF_ENDPOINT`, else https://huggingface.co). */
  endpoint: string;
  /** A user access token; never printed. */
  token?: string;
  /** Where the token came from, for messages: `HF_TOKEN`, or the token file's path. */
  tokenSource?: string;
}

/**
 * `HF_ENDPOINT` (a self-hosted Hub or a mirror) and the token, in the order the Hub's own
 * Python client reads them (docs/cli.md, "Importing from the Hugging Face Hub"): `HF_TOKEN`, then the token file
 * `hf auth login` writes (`HF_TOKEN_PATH`, else `$HF_HOME/token`, `HF_HOME` defaulting to
 * `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`).
 */
export async function hubAccessFromEnv(env: NodeJS.ProcessEnv): Promise<HubAccess> {
  const raw = (env.HF_ENDPOINT ?? '').trim() || DEFAULT_HUB_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search)
    throw new ModelshipError('USAGE', `HF_ENDPOINT "${raw}" is not an http(s) URL of a Hub`, {
      hint: 'set HF_ENDPOINT to the Hub base URL, e.g. https://huggingface.co, or unset it',
    });
  const endpoint = url.href.replace(/\/+$/, '');
  const fromEnv = env.HF_TOKEN?.trim();
  if (fromEnv) return { endpoint, ...checked(fromEnv, 'HF_TOKEN') };
  const home = env.HF_HOME?.trim() || join(env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache'), 'huggingface');
  const path = env.HF_TOKEN_PATH?.trim() || join(home, 'token');
  const fromFile = (await readFile(path, 'utf8').catch(() => '')).trim();
  return fromFile ? { endpoint, ...checked(fromFile, path) } : { endpoint };
}

/** @huggingface/hub refuses tokens that do not start with `hf_` (a TypeError there): say so first. */
function checked(token: string, source: string): { token: string; tokenSource: string } {
  if (!token.startsWith('hf_'))
    throw new ModelshipError('USAGE', `the Hugging Face token in ${source} does not start with hf_`, {
      hint: 'use a user access token from the Hub settings (Access Tokens); they start with hf_',
    });
  return { token, tokenSource: source };
}
