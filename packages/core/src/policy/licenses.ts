import { ModelshipError } from '../errors.js';
import {
  formatSpdx,
  formatSpdxTerm,
  licenseBases,
  parseSpdxExpression,
  spdxTerms,
  type SpdxNode,
  type SpdxTerm,
} from '../spdx.js';
import type { LicenseRequirement } from './types.js';

/**
 * `require.licenses` (docs/policy.md, "Licences"). Both lists hold single licence ids; every
 * comparison is between normalised SPDX terms (src/spdx.ts), by base licence:
 * - deny is conservative: an expression fails when any of its terms, anywhere (either side
 *   of an OR too), can be used under a denied licence;
 * - allow: the expression must be satisfiable with allowed licences only (OR: one side,
 *   AND: both sides); every declared expression must be.
 * "Can be used under" is licenseBases(): `GPL-2.0-or-later` can be used under GPL-2.0 and
 * GPL-3.0; `GPL-3.0-only`, `GPL-3.0` and `gpl-3.0` only under GPL-3.0. An exception (WITH)
 * stays with its licence and does not change the licence it is judged as. An expression that
 * does not parse, or names an id SPDX does not list, is a finding, never a pass.
 */

/** A policy entry (one id, `+` allowed) → its normalised term, or why it is not one. */
export function parsePolicyLicense(entry: string): { ok: true; term: SpdxTerm } | { ok: false; reason: string } {
  const p = parseSpdxExpression(entry);
  if (!p.ok) return p;
  if ('conjunction' in p.node || p.node.exception)
    return { ok: false, reason: 'must be one licence id, not an expression' };
  return { ok: true, term: p.node };
}

function basesOf(entries: readonly string[], list: 'allow' | 'deny'): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    const p = parsePolicyLicense(e);
    // parsePolicy refuses these with a line number; a Policy built by hand can still hold one.
    if (!p.ok) throw new ModelshipError('INPUT', `require.licenses.${list} entry "${e}" ${p.reason}`);
    for (const b of licenseBases(p.term)) out.add(b);
  }
  return out;
}

function meets(term: SpdxTerm, bases: Set<string>): boolean {
  for (const b of licenseBases(term)) if (bases.has(b)) return true;
  return false;
}

/** Whether the expression can be met with allowed terms only; `missing` collects the terms that are not. */
function satisfiable(node: SpdxNode, allowed: Set<string>, missing: SpdxTerm[]): boolean {
  if (!('conjunction' in node)) {
    if (meets(node, allowed)) return true;
    missing.push(node);
    return false;
  }
  const l = satisfiable(node.left, allowed, missing);
  const r = satisfiable(node.right, allowed, missing);
  return node.conjunction === 'or' ? l || r : l && r;
}

export interface LicenseCheck {
  ok: boolean;
  detail: string;
}

/**
 * Judges the artifact's declared licences (`descriptor.licenses` of its config, as found:
 * anything that is not a list of SPDX expression strings is a finding) against the policy.
 */
export function evaluateLicenses(declared: unknown, req: LicenseRequirement): LicenseCheck {
  const deny = basesOf(req.deny, 'deny');
  const allow = basesOf(req.allow, 'allow');
  if (declared !== undefined && !Array.isArray(declared))
    return { ok: false, detail: 'invalid licences: descriptor.licenses is not a list of SPDX expressions' };
  const invalid: string[] = [];
  const denied: string[] = [];
  const notAllowed: string[] = [];
  const shown: string[] = [];
  for (const raw of (declared ?? []) as unknown[]) {
    if (typeof raw !== 'string') {
      invalid.push(`invalid licence entry ${JSON.stringify(raw) ?? String(raw)}: not a string`);
      continue;
    }
    const p = parseSpdxExpression(raw);
    if (!p.ok) {
      invalid.push(`invalid licence expression "${raw}": ${p.reason}`);
      continue;
    }
    const norm = formatSpdx(p.node);
    // Show what the comparison saw next to what the artifact says, when they differ.
    const written = norm === raw ? '' : ` (declared "${raw}")`;
    shown.push(`${norm}${written}`);
    for (const t of spdxTerms(p.node)) if (meets(t, deny)) denied.push(`${formatSpdxTerm(t)}${written}`);
    if (allow.size) {
      const missing: SpdxTerm[] = [];
      if (!satisfiable(p.node, allow, missing))
        notAllowed.push(...missing.map((t) => `${formatSpdxTerm(t)}${written}`));
    }
  }
  const none = allow.size > 0 && shown.length === 0 && invalid.length === 0;
  const ok = invalid.length === 0 && denied.length === 0 && notAllowed.length === 0 && !none;
  if (ok) return { ok, detail: `licences ${shown.join(', ') || '(none)'} allowed` };
  const uniq = (xs: string[]): string => [...new Set(xs)].join(', ');
  return {
    ok,
    detail: [
      ...invalid,
      denied.length ? `denied: ${uniq(denied)}` : '',
      notAllowed.length ? `not in allow list: ${uniq(notAllowed)}` : '',
      none ? 'the artifact declares no licence' : '',
    ]
      .filter(Boolean)
      .join('; '),
  };
}
