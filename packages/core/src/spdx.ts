import parseSpdx from 'spdx-expression-parse';
import SPDX_EXCEPTIONS from 'spdx-exceptions/index.json' with { type: 'json' };
import SPDX_IDS from 'spdx-license-ids/index.json' with { type: 'json' };
import SPDX_DEPRECATED from 'spdx-license-ids/deprecated.json' with { type: 'json' };
import SPDX_RANGES from 'spdx-ranges/index.json' with { type: 'json' };

/**
 * SPDX licence expressions, normalised so that two spellings of the same licence compare
 * equal: ids matched case-insensitively (as the SPDX spec, Annex "SPDX License Expressions",
 * asks), deprecated ids replaced by their current form (`GPL-3.0` → `GPL-3.0-only`,
 * `GPL-3.0+` → `GPL-3.0-or-later`), and `-only` / `-or-later` / `+` turned into a base licence
 * plus "or any later version". Parsing is spdx-expression-parse's; the lists are
 * spdx-license-ids, spdx-exceptions and spdx-ranges (the version order of licence families).
 */

/** One licence term: a licence id (or `LicenseRef-…`), optionally "or later", optionally with an exception. */
export interface SpdxTerm {
  /** Canonical id as listed by SPDX (`GPL-3.0-or-later`, `Apache-2.0`), or `[DocumentRef-…:]LicenseRef-…` as written. */
  license: string;
  /** `+` on an id that has no `-or-later` form (`Apache-2.0+`). */
  plus?: true;
  exception?: string;
}

export type SpdxNode = SpdxTerm | { conjunction: 'and' | 'or'; left: SpdxNode; right: SpdxNode };

export type SpdxParse = { ok: true; node: SpdxNode } | { ok: false; reason: string };

const LICENSE_IDS = new Set<string>([...SPDX_IDS, ...SPDX_DEPRECATED]);
const EXCEPTION_IDS = new Set<string>(SPDX_EXCEPTIONS);
/** Lower-cased id → the SPDX spelling, for licences and exceptions alike (no id differs from another only in case). */
const CANONICAL = new Map<string, string>([...LICENSE_IDS, ...EXCEPTION_IDS].map((id) => [id.toLowerCase(), id]));

/**
 * Deprecated ids → the expression SPDX says to use instead (the "deprecated" notes of the
 * SPDX License List). The list of deprecated ids is spdx-license-ids'; it carries no
 * replacements, and spdx-correct's table comes with fuzzy guessing that would turn an unknown
 * id into a pass, so the few replacements are written here. A bare GNU id was ambiguous
 * between "only" and "or later"; it becomes `-only`, which matches the same base licence
 * either way. Deprecated ids not listed (Net-SNMP) have no one replacement and stay as they are.
 */
const DEPRECATED_REPLACEMENT: Record<string, SpdxTerm> = {
  'AGPL-1.0': { license: 'AGPL-1.0-only' },
  'AGPL-3.0': { license: 'AGPL-3.0-only' },
  'BSD-2-Clause-FreeBSD': { license: 'BSD-2-Clause-Views' },
  'BSD-2-Clause-NetBSD': { license: 'BSD-2-Clause' },
  'GFDL-1.1': { license: 'GFDL-1.1-only' },
  'GFDL-1.2': { license: 'GFDL-1.2-only' },
  'GFDL-1.3': { license: 'GFDL-1.3-only' },
  'GPL-1.0': { license: 'GPL-1.0-only' },
  'GPL-2.0': { license: 'GPL-2.0-only' },
  'GPL-3.0': { license: 'GPL-3.0-only' },
  'GPL-2.0-with-GCC-exception': { license: 'GPL-2.0-only', exception: 'GCC-exception-2.0' },
  'GPL-2.0-with-autoconf-exception': { license: 'GPL-2.0-only', exception: 'Autoconf-exception-2.0' },
  'GPL-2.0-with-bison-exception': { license: 'GPL-2.0-only', exception: 'Bison-exception-2.2' },
  'GPL-2.0-with-classpath-exception': { license: 'GPL-2.0-only', exception: 'Classpath-exception-2.0' },
  'GPL-2.0-with-font-exception': { license: 'GPL-2.0-only', exception: 'Font-exception-2.0' },
  'GPL-3.0-with-GCC-exception': { license: 'GPL-3.0-only', exception: 'GCC-exception-3.1' },
  'GPL-3.0-with-autoconf-exception': { license: 'GPL-3.0-only', exception: 'Autoconf-exception-3.0' },
  'LGPL-2.0': { license: 'LGPL-2.0-only' },
  'LGPL-2.1': { license: 'LGPL-2.1-only' },
  'LGPL-3.0': { license: 'LGPL-3.0-only' },
  Nunit: { license: 'zlib-acknowledgement' },
  'StandardML-NJ': { license: 'SMLNJ' },
  'bzip2-1.0.5': { license: 'bzip2-1.0.6' },
  'eCos-2.0': { license: 'GPL-2.0-or-later', exception: 'eCos-exception-2.0' },
  wxWindows: { license: 'LGPL-2.0-or-later', exception: 'WxWindows-exception-3.1' },
};

const REF = /^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/;

function isLicenseRef(license: string): boolean {
  return REF.test(license);
}

/** `GPL-3.0-only` / `GPL-3.0-or-later` → `GPL-3.0` when SPDX lists that pair; other ids are their own base. */
function splitVersionSuffix(license: string): { base: string; orLater: boolean } {
  const m = /^(.+)-(only|or-later)$/.exec(license);
  if (m && LICENSE_IDS.has(`${m[1]}-only`) && LICENSE_IDS.has(`${m[1]}-or-later`))
    return { base: m[1]!, orLater: m[2] === 'or-later' };
  return { base: license, orLater: false };
}

/**
 * Base licence → the later versions of its family, from spdx-ranges. Its GNU ranges group
 * aliases and "or later" ids into buckets (`["GPL-1.0-or-later", "GPL-2.0-or-later", "GPL-3.0", …]`),
 * so every entry is reduced to its base and the order of first appearance is the version order.
 */
const LATER: Map<string, Set<string>> = (() => {
  const later = new Map<string, Set<string>>();
  for (const range of SPDX_RANGES as (string | string[])[][]) {
    const order: string[] = [];
    for (const entry of range)
      for (const id of Array.isArray(entry) ? entry : [entry]) {
        const base = splitVersionSuffix(id).base;
        if (!order.includes(base)) order.push(base);
      }
    order.forEach((base, i) => {
      const set = later.get(base) ?? new Set<string>();
      for (const l of order.slice(i + 1)) set.add(l);
      later.set(base, set);
    });
  }
  return later;
})();

/**
 * What a term can be used under, as lower-cased base licences: its own base (`GPL-3.0` for
 * `GPL-3.0-only`), plus every later version of the family when it says "or later"
 * (`GPL-2.0-or-later` → GPL-2.0, GPL-3.0). Exceptions only add permissions, so they do not
 * change the set. `LicenseRef-…` is itself, compared case-insensitively.
 */
export function licenseBases(term: SpdxTerm): Set<string> {
  if (isLicenseRef(term.license)) return new Set([term.license.toLowerCase()]);
  const { base, orLater } = splitVersionSuffix(term.license);
  const out = new Set([base.toLowerCase()]);
  if (orLater || term.plus) for (const l of LATER.get(base) ?? []) out.add(l.toLowerCase());
  return out;
}

export function formatSpdxTerm(term: SpdxTerm): string {
  return `${term.license}${term.plus ? '+' : ''}${term.exception ? ` WITH ${term.exception}` : ''}`;
}

export function formatSpdx(node: SpdxNode): string {
  if ('conjunction' in node) {
    const side = (n: SpdxNode): string =>
      'conjunction' in n && n.conjunction !== node.conjunction ? `(${formatSpdx(n)})` : formatSpdx(n);
    return `${side(node.left)} ${node.conjunction.toUpperCase()} ${side(node.right)}`;
  }
  return formatSpdxTerm(node);
}

/** Every term of an expression, left to right. */
export function spdxTerms(node: SpdxNode): SpdxTerm[] {
  return 'conjunction' in node ? [...spdxTerms(node.left), ...spdxTerms(node.right)] : [node];
}

const TOKEN = /(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+|[A-Za-z0-9.-]+/gi;
const OPERATOR = /^(?:AND|OR|WITH)$/i;

function normalizeTerm(leaf: parseSpdx.LicenseInfo): SpdxTerm {
  if (isLicenseRef(leaf.license))
    return { license: leaf.license, ...(leaf.exception ? { exception: leaf.exception } : {}) };
  const replaced = DEPRECATED_REPLACEMENT[leaf.license];
  let license = replaced?.license ?? leaf.license;
  // `GPL-3.0-with-GCC-exception WITH X` would carry two exceptions: keep the written one,
  // both only add permissions and neither changes which licence the term is.
  const exception = leaf.exception ?? replaced?.exception;
  let plus = leaf.plus === true;
  if (plus) {
    const { base } = splitVersionSuffix(license);
    if (LICENSE_IDS.has(`${base}-or-later`)) {
      license = `${base}-or-later`;
      plus = false;
    }
  }
  return { license, ...(plus ? { plus: true as const } : {}), ...(exception ? { exception } : {}) };
}

function normalizeNode(node: parseSpdx.Info): SpdxNode {
  if ('conjunction' in node)
    return { conjunction: node.conjunction, left: normalizeNode(node.left), right: normalizeNode(node.right) };
  return normalizeTerm(node);
}

/**
 * Parses and normalises one SPDX licence expression. Never throws: an unknown id, an
 * exception where a licence belongs, or a malformed expression is `{ ok: false, reason }`.
 */
export function parseSpdxExpression(expression: string): SpdxParse {
  if (expression.trim() === '') return { ok: false, reason: 'it is empty' };
  const unknown: string[] = [];
  let misplaced: string | undefined;
  let previous = '';
  const canonical = expression.replace(TOKEN, (tok) => {
    const after = previous;
    previous = tok;
    if (/licenseref-/i.test(tok))
      return tok.replace(/^documentref-/i, 'DocumentRef-').replace(/licenseref-/i, 'LicenseRef-');
    if (OPERATOR.test(tok)) return tok;
    const id = CANONICAL.get(tok.toLowerCase());
    if (id === undefined) unknown.push(tok);
    else if (EXCEPTION_IDS.has(id) && !/^with$/i.test(after)) misplaced ??= id;
    return id ?? tok;
  });
  if (unknown.length)
    return {
      ok: false,
      reason: `${[...new Set(unknown)].map((u) => `"${u}"`).join(', ')} ${unknown.length === 1 ? 'is not an SPDX licence id' : 'are not SPDX licence ids'} (see https://spdx.org/licenses/; write LicenseRef-<name> for a licence SPDX does not list)`,
    };
  if (misplaced)
    return { ok: false, reason: `"${misplaced}" is a licence exception: it belongs after "<licence> WITH"` };
  try {
    return { ok: true, node: normalizeNode(parseSpdx(canonical)) };
  } catch (e) {
    // spdx-expression-parse says what it expected (an exception after WITH, a closing
    // parenthesis, …); a TypeError is its way of reaching the end too early.
    const why = e instanceof TypeError ? 'it ends where a licence is expected' : (e as Error).message;
    return { ok: false, reason: `not a valid SPDX expression: ${why || 'syntax error'}` };
  }
}
