import { ModelshipError } from '../errors.js';

/** A model repository on a Hugging Face Hub, and the revision asked for (a branch, tag or commit). */
export interface HubReference {
  /** `ORG/NAME`, as the Hub spells it in its URLs. */
  repo: string;
  /** As written after `@`; absent means `main`, as huggingface_hub defaults. */
  revision?: string;
}

/** The Hub's default branch (huggingface_hub `DEFAULT_REVISION`). */
export const DEFAULT_REVISION = 'main';

// Repo ids as huggingface_hub's validate_repo_id accepts them: [\w.-], no `--` or `..`, no
// leading or trailing `-`/`.`, at most 96 characters for the name.
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?$/;
// Branch and tag names (git check-ref-format, less what a URL path cannot carry unencoded).
const REVISION = /^[A-Za-z0-9_.][A-Za-z0-9_./+-]{0,254}$/;

function badPart(p: string): boolean {
  return !PART.test(p) || p.includes('--') || p.includes('..');
}

/**
 * `hf://ORG/NAME[@REVISION]` as typed on the command line (or in a mirror file). `label` names
 * where it came from.
 */
export function parseHubReference(text: string, label: string): HubReference {
  const m = /^hf:\/\/([^@]*)(?:@(.*))?$/.exec(text.trim());
  const hint = 'write hf://ORG/NAME, or hf://ORG/NAME@REVISION for a branch, tag or commit';
  if (!m) throw new ModelshipError('USAGE', `${label} "${text}" is not a Hugging Face model reference`, { hint });
  const parts = m[1]!.split('/');
  if (parts.length !== 2 || parts.some(badPart))
    throw new ModelshipError('USAGE', `${label} "${text}": "${m[1]}" is not a model repository id (ORG/NAME)`, {
      hint,
    });
  const revision = m[2];
  if (revision !== undefined && (!REVISION.test(revision) || revision.includes('..') || revision.endsWith('/')))
    throw new ModelshipError('USAGE', `${label} "${text}": "${revision}" is not a revision name`, { hint });
  return { repo: parts.join('/'), ...(revision !== undefined ? { revision } : {}) };
}

/** `hf://ORG/NAME@REVISION`, for messages. */
export function formatHubReference(ref: HubReference): string {
  return `hf://${ref.repo}${ref.revision !== undefined ? `@${ref.revision}` : ''}`;
}

/** A full commit id: the Hub names commits by 40 hex digits. */
export function isCommitId(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}
