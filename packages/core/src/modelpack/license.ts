import { formatSpdx, parseSpdxExpression } from '../spdx.js';

/**
 * License ids → SPDX. `descriptor.licenses` holds SPDX expressions; Hugging Face model cards
 * use their own lowercase ids (`apache-2.0`, `llama3.1`, `other`), GGUF and Kitfiles hold
 * whatever the author typed.
 */
const HF_TO_SPDX: Record<string, string> = {
  'apache-2.0': 'Apache-2.0',
  mit: 'MIT',
  'afl-3.0': 'AFL-3.0',
  'artistic-2.0': 'Artistic-2.0',
  'bsl-1.0': 'BSL-1.0',
  'bsd-2-clause': 'BSD-2-Clause',
  'bsd-3-clause': 'BSD-3-Clause',
  'bsd-3-clause-clear': 'BSD-3-Clause-Clear',
  'c-uda': 'C-UDA-1.0',
  cc0: 'CC0-1.0',
  'cc0-1.0': 'CC0-1.0',
  'cc-by-2.0': 'CC-BY-2.0',
  'cc-by-2.5': 'CC-BY-2.5',
  'cc-by-3.0': 'CC-BY-3.0',
  'cc-by-4.0': 'CC-BY-4.0',
  'cc-by-sa-3.0': 'CC-BY-SA-3.0',
  'cc-by-sa-4.0': 'CC-BY-SA-4.0',
  'cc-by-nc-2.0': 'CC-BY-NC-2.0',
  'cc-by-nc-3.0': 'CC-BY-NC-3.0',
  'cc-by-nc-4.0': 'CC-BY-NC-4.0',
  'cc-by-nd-4.0': 'CC-BY-ND-4.0',
  'cc-by-nc-nd-3.0': 'CC-BY-NC-ND-3.0',
  'cc-by-nc-nd-4.0': 'CC-BY-NC-ND-4.0',
  'cc-by-nc-sa-2.0': 'CC-BY-NC-SA-2.0',
  'cc-by-nc-sa-3.0': 'CC-BY-NC-SA-3.0',
  'cc-by-nc-sa-4.0': 'CC-BY-NC-SA-4.0',
  'cdla-sharing-1.0': 'CDLA-Sharing-1.0',
  'cdla-permissive-1.0': 'CDLA-Permissive-1.0',
  'cdla-permissive-2.0': 'CDLA-Permissive-2.0',
  'ecl-2.0': 'ECL-2.0',
  'epl-1.0': 'EPL-1.0',
  'epl-2.0': 'EPL-2.0',
  'eupl-1.1': 'EUPL-1.1',
  'eupl-1.2': 'EUPL-1.2',
  'agpl-3.0': 'AGPL-3.0-only',
  gfdl: 'GFDL-1.3-only',
  'gpl-2.0': 'GPL-2.0-only',
  'gpl-3.0': 'GPL-3.0-only',
  'lgpl-2.1': 'LGPL-2.1-only',
  'lgpl-3.0': 'LGPL-3.0-only',
  isc: 'ISC',
  'lppl-1.3c': 'LPPL-1.3c',
  'ms-pl': 'MS-PL',
  'mpl-2.0': 'MPL-2.0',
  ncsa: 'NCSA',
  odbl: 'ODbL-1.0',
  'odc-by': 'ODC-By-1.0',
  'ofl-1.1': 'OFL-1.1',
  'osl-3.0': 'OSL-3.0',
  pddl: 'PDDL-1.0',
  postgresql: 'PostgreSQL',
  unlicense: 'Unlicense',
  wtfpl: 'WTFPL',
  zlib: 'Zlib',
};

/** HF ids that mean "no information". */
const NO_LICENSE = new Set(['', 'unknown', 'none', 'noassertion', 'other']);

/** `LicenseRef-` idstrings allow letters, digits, `.` and `-` only. */
function licenseRef(id: string): string {
  const clean = id
    .replace(/\+/g, '-plus')
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `LicenseRef-${clean || 'unknown'}`;
}

/**
 * One license id → SPDX. Known HF ids map to their SPDX form; SPDX expressions and
 * `LicenseRef-…` pass through in their canonical case (`bsd-4-clause` → `BSD-4-Clause`);
 * any other id from a card or a file (`llama3.1`, `openrail`, `Apache2`) becomes
 * `LicenseRef-<id>`, so that what pack writes parses. `other` with a `license_name` uses the name.
 */
export function toSpdx(id: string, licenseName?: string, asGiven = false): string | undefined {
  const v = id.trim();
  const lower = v.toLowerCase();
  if (lower === 'other' && licenseName && licenseName.trim() !== '') return licenseRef(licenseName.trim());
  if (NO_LICENSE.has(lower)) return undefined;
  const known = HF_TO_SPDX[lower];
  if (known) return known;
  // What a user typed (--license, a spec file) that looks like SPDX is kept as typed: verify's
  // licence rules then name it, where a silent LicenseRef would hide a typo.
  if (asGiven && (/^LicenseRef-/i.test(v) || /[()]|\s(AND|OR|WITH)\s/.test(v) || /[A-Z]/.test(v))) return v;
  const parsed = parseSpdxExpression(v);
  if (parsed.ok) return formatSpdx(parsed.node);
  // Not SPDX as written: an expression keeps its operators and valid terms, and each term SPDX
  // does not list becomes a LicenseRef, so what pack writes always parses (verify's licence
  // rules refuse an artifact whose licences do not).
  if (/[()]|\s(AND|OR|WITH)\s/i.test(v)) {
    let afterWith = false;
    const fixed = v.replace(/[A-Za-z0-9.+:-]+/g, (tok) => {
      const wasWith = afterWith;
      afterWith = /^with$/i.test(tok);
      if (/^(and|or|with)$/i.test(tok)) return tok.toUpperCase();
      if (wasWith || /^(DocumentRef-[^:]+:)?LicenseRef-/i.test(tok)) return tok;
      const term = parseSpdxExpression(tok);
      return term.ok ? formatSpdx(term.node) : licenseRef(tok);
    });
    const again = parseSpdxExpression(fixed);
    if (again.ok) return formatSpdx(again.node);
  }
  return licenseRef(v);
}

/** `asGiven`: the ids were written by the user (see toSpdx), not read from a card or a file. */
export function licensesToSpdx(ids: readonly string[], licenseName?: string, asGiven = false): string[] {
  const out: string[] = [];
  for (const id of ids) {
    const s = toSpdx(id, licenseName, asGiven);
    if (s !== undefined && !out.includes(s)) out.push(s);
  }
  return out;
}

/** Recognises the few license texts that can be told apart reliably from their wording. */
export function detectLicenseText(text: string): string | undefined {
  const t = text.replace(/\s+/g, ' ');
  if (/Apache License/i.test(t) && /Version 2\.0/i.test(t)) return 'Apache-2.0';
  if (/Permission is hereby granted, free of charge, to any person obtaining a copy/i.test(t)) return 'MIT';
  if (/Redistribution and use in source and binary forms/i.test(t)) {
    return /Neither the name/i.test(t) ? 'BSD-3-Clause' : 'BSD-2-Clause';
  }
  return undefined;
}
