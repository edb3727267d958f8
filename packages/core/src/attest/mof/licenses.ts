import parseSpdx from 'spdx-expression-parse';
import type { MofContentType } from './components.js';

/**
 * MOT's licence rule (its LicenseHandler and ModelEvaluator; docs/predicates.md, "Sources"):
 * a licence is open when the SPDX list flags it OSI-approved or FSF-libre, or it is in MOT's
 * open-data list, or it is OpenMDW-1.0; it is type-appropriate when mof-licenses.json gives
 * it the component's content type. We copy MOT's lists and quirks on purpose so a modelship
 * evaluation equals the one on mot.isitopen.ai for the same YAML; each quirk is noted where
 * it lives.
 */
export const MOF_LICENSE_LISTS = ['licenses.json d8abdb0', 'mof-licenses.json cca0be7'] as const;

/**
 * SPDX ids flagged isOsiApproved or isFsfLibre in MOT's licenses.json (as exported in MOT's
 * valid-licenses.yml test data; docs/predicates.md, "Sources"). Deprecated bare ids (GPL-2.0, LGPL-2.1, ...)
 * stay open because MOT's list still flags them. Matching is exact and case-sensitive, as in
 * MOT (quirk kept: callers normalise Hugging Face spellings first, see toSpdx).
 */
const OSI_OR_FSF = new Set(
  `0BSD AAL AFL-1.1 AFL-1.2 AFL-2.0 AFL-2.1 AFL-3.0 AGPL-1.0 AGPL-3.0 AGPL-3.0-only AGPL-3.0-or-later
  Apache-1.0 Apache-1.1 Apache-2.0 APL-1.0 APSL-1.0 APSL-1.1 APSL-1.2 APSL-2.0 Artistic-1.0
  Artistic-1.0-cl8 Artistic-1.0-Perl Artistic-2.0 BitTorrent-1.1 BlueOak-1.0.0 BSD-1-Clause BSD-2-Clause
  BSD-2-Clause-FreeBSD BSD-2-Clause-NetBSD BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-Clear
  BSD-3-Clause-LBNL BSD-4-Clause BSL-1.0 CAL-1.0 CAL-1.0-Combined-Work-Exception CATOSL-1.1 CC-BY-4.0
  CC-BY-SA-4.0 CC0-1.0 CDDL-1.0 CECILL-2.0 CECILL-2.1 CECILL-B CECILL-C CERN-OHL-P-2.0 CERN-OHL-S-2.0
  CERN-OHL-W-2.0 ClArtistic CNRI-Python Condor-1.1 CPAL-1.0 CPL-1.0 CUA-OPL-1.0 ECL-1.0 ECL-2.0 eCos-2.0
  EFL-1.0 EFL-2.0 Entessa EPL-1.0 EPL-2.0 EUDatagrid EUPL-1.1 EUPL-1.2 Fair Frameworx-1.0 FSFAP FTL
  GFDL-1.1 GFDL-1.1-only GFDL-1.1-or-later GFDL-1.2 GFDL-1.2-only GFDL-1.2-or-later GFDL-1.3 GFDL-1.3-only
  GFDL-1.3-or-later gnuplot GPL-2.0 GPL-2.0+ GPL-2.0-only GPL-2.0-or-later GPL-3.0 GPL-3.0+ GPL-3.0-only
  GPL-3.0-or-later GPL-3.0-with-GCC-exception HPND ICU IJG iMatix Imlib2 Intel IPA IPL-1.0 ISC Jam
  LGPL-2.0 LGPL-2.0+ LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1 LGPL-2.1+ LGPL-2.1-only LGPL-2.1-or-later
  LGPL-3.0 LGPL-3.0+ LGPL-3.0-only LGPL-3.0-or-later LiLiQ-P-1.1 LiLiQ-R-1.1 LiLiQ-Rplus-1.1 LPL-1.0
  LPL-1.02 LPPL-1.2 LPPL-1.3a LPPL-1.3c MirOS MIT MIT-0 MIT-Modern-Variant Motosoto MPL-1.0 MPL-1.1
  MPL-2.0 MPL-2.0-no-copyleft-exception MS-PL MS-RL MulanPSL-2.0 Multics NASA-1.3 Naumen NCSA NGPL Nokia
  NOSL NPL-1.0 NPL-1.1 NPOSL-3.0 NTP Nunit OCLC-2.0 ODbL-1.0 OFL-1.0 OFL-1.1 OFL-1.1-no-RFN OFL-1.1-RFN
  OGTSL OLDAP-2.3 OLDAP-2.7 OLDAP-2.8 OLFL-1.3 OpenSSL OSET-PL-2.1 OSL-1.0 OSL-1.1 OSL-2.0 OSL-2.1 OSL-3.0
  PHP-3.0 PHP-3.01 PostgreSQL Python-2.0 QPL-1.0 RPL-1.1 RPL-1.5 RPSL-1.0 RSCPL Ruby SGI-B-2.0 SimPL-2.0
  SISSL Sleepycat SMLNJ SPL-1.0 StandardML-NJ UCL-1.0 Unicode-3.0 Unicode-DFS-2016 Unlicense UPL-1.0 Vim
  VSL-1.0 W3C Watcom-1.0 WTFPL wxWindows X11 XFree86-1.1 xinetd Xnet YPL-1.1 Zend-2.0 Zimbra-1.3 Zlib
  ZPL-2.0 ZPL-2.1`.split(/\s+/),
);

/**
 * LicenseHandler::OPEN_DATA_LICENSES. Quirk kept: it spells `ODC-PDDL-1.0`, not the SPDX id
 * `PDDL-1.0`, so PDDL-1.0 is not open in MOT and not here.
 */
const OPEN_DATA = new Set(
  `CC0-1.0 CC-BY-1.0 CC-BY-2.0 CC-BY-2.5 CC-BY-2.5-AU CC-BY-3.0 CC-BY-3.0-AT CC-BY-3.0-AU CC-BY-3.0-DE
  CC-BY-3.0-IGO CC-BY-3.0-NL CC-BY-3.0-US CC-BY-4.0 CC-BY-SA-1.0 CC-BY-SA-2.0 CC-BY-SA-2.0-UK
  CC-BY-SA-2.1-JP CC-BY-SA-2.5 CC-BY-SA-3.0 CC-BY-SA-3.0-AT CC-BY-SA-4.0 CDLA-Permissive-1.0
  CDLA-Permissive-2.0 CDLA-Sharing-1.0 ODC-PDDL-1.0 ODC-By-1.0 ODbL-1.0 GFDL-1.3 OGL-Canada-2.0 OGL-UK-2.0
  OGL-UK-3.0`.split(/\s+/),
);

/** LicenseHandler::OPEN_LICENSES. Quirk kept: OpenMDW-1.1 is unknown to MOT, so not open. */
const OPEN_ANY = new Set(['OpenMDW-1.0']);

const CODE = 'code' as const;
const DATA = 'data' as const;
const DOC = 'document' as const;

/**
 * mof-licenses.json ContentType overlay. Quirks kept, all from MOT's load order (later
 * entries overwrite earlier ones) or its short lists:
 * - CC0-1.0 and CC-PDDC are listed under data, then document: document only, so CC0 on a
 *   data component is open but not type-appropriate (a warning).
 * - PDDL-1.0, C-UDA-1.0 (data), CC-PDDC, FreeBSD-DOC (document) and MulanPSL-1.0 (code) are
 *   type-appropriate but not open (neither OSI/FSF nor open-data), so they are invalid.
 * - Only 18 code licences: BSD-2/3-Clause, MPL-2.0 and the GPL family are open, not
 *   type-appropriate.
 * - Apache-2.0 is code and document, never data: Apache-2.0 weights pass with a warning.
 */
const TYPE_APPROPRIATE: Record<string, readonly MofContentType[]> = {
  '0BSD': [CODE],
  'AFL-1.1': [CODE],
  'AFL-1.2': [CODE],
  'AFL-2.0': [CODE],
  'AFL-2.1': [CODE],
  'AFL-3.0': [CODE],
  'Apache-1.0': [CODE],
  'Apache-1.1': [CODE],
  'Apache-2.0': [CODE, DOC],
  'ECL-1.0': [CODE],
  'ECL-2.0': [CODE],
  ISC: [CODE],
  MIT: [CODE],
  'MIT-0': [CODE],
  'MulanPSL-1.0': [CODE],
  'MulanPSL-2.0': [CODE],
  NCSA: [CODE],
  'UPL-1.0': [CODE],
  'CDLA-Permissive-1.0': [DATA],
  'CDLA-Permissive-2.0': [DATA],
  'C-UDA-1.0': [DATA],
  'PDDL-1.0': [DATA],
  'CC-BY-4.0': [DOC],
  'CC-BY-SA-3.0': [DOC],
  'CC-BY-SA-4.0': [DOC],
  'FreeBSD-DOC': [DOC],
  'CC-PDDC': [DOC],
  'CC0-1.0': [DOC],
  'OpenMDW-1.0': [CODE, DATA, DOC],
};

export function isOpenLicenseId(id: string): boolean {
  return OSI_OR_FSF.has(id) || OPEN_DATA.has(id) || OPEN_ANY.has(id);
}

export function isTypeAppropriateId(id: string, type: MofContentType): boolean {
  return TYPE_APPROPRIATE[id]?.includes(type) ?? false;
}

/** MOT's literal for an included component without a licence. */
export const UNLICENSED = 'unlicensed';

export type LicenseVerdict = 'open-type-appropriate' | 'open' | 'not-open' | 'unlicensed';

const RANK: Record<Exclude<LicenseVerdict, 'unlicensed'>, number> = {
  'not-open': 0,
  open: 1,
  'open-type-appropriate': 2,
};
const BY_RANK = ['not-open', 'open', 'open-type-appropriate'] as const;

function leafVerdict(id: string, type: MofContentType): Exclude<LicenseVerdict, 'unlicensed'> {
  if (!isOpenLicenseId(id)) return 'not-open';
  return isTypeAppropriateId(id, type) ? 'open-type-appropriate' : 'open';
}

function exprVerdict(node: parseSpdx.Info, type: MofContentType): Exclude<LicenseVerdict, 'unlicensed'> {
  if ('conjunction' in node) {
    const l = RANK[exprVerdict(node.left, type)];
    const r = RANK[exprVerdict(node.right, type)];
    // OR: the recipient may pick the better branch. AND: every term binds, the worst wins.
    return BY_RANK[node.conjunction === 'or' ? Math.max(l, r) : Math.min(l, r)]!;
  }
  // `GPL-2.0+` is itself an id in MOT's list; an exception only adds permissions.
  if (node.plus && isOpenLicenseId(`${node.license}+`)) return leafVerdict(`${node.license}+`, type);
  return leafVerdict(node.license, type);
}

/**
 * Judges one component's licence. MOT only ever sees single ids; we also accept SPDX
 * expressions (OR = best branch, AND = worst term, WITH = the base licence), which MOT would
 * call invalid. Strings that are not SPDX expressions are matched as-is, like MOT does.
 */
export function judgeLicense(license: string | undefined, type: MofContentType): LicenseVerdict {
  if (license === undefined || license.trim() === '' || license === UNLICENSED) return 'unlicensed';
  let tree: parseSpdx.Info;
  try {
    tree = parseSpdx(license);
  } catch {
    return leafVerdict(license, type);
  }
  return exprVerdict(tree, type);
}

/** Throws the parser's message when `expr` is not a valid SPDX expression. */
export function checkSpdxExpression(expr: string): void {
  parseSpdx(expr);
}
