import { shortName, type NotationCertificate } from './x509.js';

/**
 * Distinguished names the way Notation compares them (notation-go's ParseDistinguishedName,
 * IsSubsetDN and verifyX509TrustedIdentities; docs/signing.md, "Notation: sources"): a DN is read into a map
 * of attribute type to value, `S` is `ST`, each type at most once, multi-valued RDNs and
 * `=#` (hex-encoded) values refused, and C, ST and O required. An identity matches a leaf
 * when every pair of the identity is in the leaf's subject, compared exactly (case matters,
 * for types and values). The string syntax is RFC 4514 as go-ldap v3.4.11 ParseDN reads it
 * (the version notation-go pins): `,` or `;` between RDNs, `+` inside one, `\` escapes,
 * spaces around types and values dropped.
 */
export type DnMap = Map<string, string>;

const X509_SUBJECT_PREFIX = 'x509.subject';
const MANDATORY = ['C', 'ST', 'O'];

function stripSpaces(s: string): string {
  const trimmed = s.replace(/^ +| +$/g, '');
  // go-ldap v3.4.11: a trailing space survives only when escaped ("\ ").
  if (trimmed.endsWith('\\') && s.endsWith(' ')) return trimmed + ' ';
  return trimmed;
}

function unescape(raw: string): string {
  const s = [...stripSpaces(raw)];
  const bytes: number[] = [];
  const push = (text: string) => bytes.push(...Buffer.from(text, 'utf8'));
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      push(c);
      continue;
    }
    if (i + 1 >= s.length) throw new Error(`corrupted escape at the end of "${s.join('')}"`);
    const next = s[i + 1]!;
    if (' "#+,;<=>\\'.includes(next)) {
      push(next);
      i++;
      continue;
    }
    const hex = s.slice(i + 1, i + 3).join('');
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`invalid escape "\\${hex}"`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

/** go-ldap's ParseDN: RDNs of type=value pairs. */
function parseRdns(str: string): { type: string; value: string }[][] {
  const rdns: { type: string; value: string }[][] = [];
  if (str.trim() === '') return rdns;
  let rdn: { type: string; value: string }[] = [];
  let type = '';
  let start = 0;
  let escaping = false;
  for (let i = 0; i < str.length; i++) {
    const c = str[i];
    if (escaping) escaping = false;
    else if (c === '\\') escaping = true;
    else if (c === '=' && type === '') {
      type = unescape(str.slice(start, i));
      if (type === '') throw new Error('an attribute type is empty');
      start = i + 1;
    } else if (c === ',' || c === '+' || c === ';') {
      if (type === '') throw new Error('incomplete type=value pair');
      rdn.push({ type, value: unescape(str.slice(start, i)) });
      type = '';
      start = i + 1;
      if (c !== '+') {
        rdns.push(rdn);
        rdn = [];
      }
    }
  }
  if (type === '') throw new Error('the DN ends with an incomplete type=value pair');
  rdn.push({ type, value: unescape(str.slice(start)) });
  rdns.push(rdn);
  return rdns;
}

/** Notation's checks on parsed RDNs (ParseDistinguishedName). */
function toMap(rdns: { type: string; value: string }[][], what: string): DnMap {
  const map: DnMap = new Map();
  for (const rdn of rdns) {
    if (rdn.length > 1)
      throw new Error(
        `${what} has a multi-valued RDN (${rdn.map((a) => a.type).join('+')}), which Notation does not support`,
      );
    const a = rdn[0]!;
    const type = a.type === 'S' ? 'ST' : a.type;
    if (map.get(type)) throw new Error(`${what} has ${type} twice; each attribute may appear once`);
    map.set(type, a.value);
  }
  const missing = MANDATORY.filter((t) => !map.get(t));
  if (missing.length)
    throw new Error(`${what} has no ${missing.join(', ')}: it must contain C, ST (or S) and O at least`);
  return map;
}

/** Parses the DN of an `x509.subject:` identity; throws an Error saying what is wrong. */
export function parseDistinguishedName(dn: string): DnMap {
  if (dn.includes('=#'))
    throw new Error(`"${dn.trim()}" has a hex-encoded (=#) value, which Notation does not support`);
  let rdns: { type: string; value: string }[][];
  try {
    rdns = parseRdns(dn);
  } catch (e) {
    throw new Error(`"${dn.trim()}" is not an RFC 4514 distinguished name: ${(e as Error).message}`);
  }
  return toMap(rdns, `"${dn.trim()}"`);
}

/**
 * The leaf's subject as Notation compares it: Go renders the certificate subject
 * (pkix.Name.String) and Notation parses that string back. Go gathers all values of one
 * standard attribute into one RDN (so two OUs are a multi-valued RDN), keeps the last CN and
 * serialNumber only, and writes any other attribute (emailAddress, say) as `OID=#hex`, which
 * Notation refuses; a value containing `=#` is refused the same way. Throws an Error.
 */
export function leafSubjectMap(cert: NotationCertificate): DnMap {
  const grouped = new Map<string, string[]>();
  for (const rdn of cert.subject)
    for (const a of rdn) {
      const name = shortName(a.oid);
      if (!name)
        throw new Error(
          `the certificate subject has attribute ${a.oid}, which Notation renders hex-encoded (=#) and cannot compare`,
        );
      if (a.value === undefined) continue; // Go drops non-string values of the standard attributes
      if (a.value.includes('=#'))
        throw new Error(`the certificate subject value "${a.value}" contains "=#", which Notation cannot compare`);
      const values = grouped.get(name) ?? [];
      if (name === 'CN' || name === 'SERIALNUMBER') values.splice(0, values.length, a.value);
      else values.push(a.value);
      grouped.set(name, values);
    }
  const rdns = [...grouped].map(([type, values]) => values.map((value) => ({ type, value })));
  return toMap(rdns, 'the certificate subject');
}

/** Whether every attribute of `identity` is in `subject` with the same value (pkix.IsSubsetDN). */
export function isSubsetDN(identity: DnMap, subject: DnMap): boolean {
  for (const [k, v] of identity) if (subject.get(k) !== v) return false;
  return true;
}

/** A trust-policy identity, parsed: `*` or an `x509.subject:` DN. */
export type TrustedIdentity = { wildcard: true; raw: '*' } | { wildcard: false; raw: string; dn: DnMap };

/**
 * Parses the `identities` of a notation signer with the rules of notation-go's
 * validateTrustedIdentities: `*` alone, or `x509.subject: <DN>` entries that are valid and do
 * not overlap (one a subset of another). Returns the parsed list and the problems, by index.
 */
export function parseTrustedIdentities(list: readonly string[]): {
  identities: TrustedIdentity[];
  problems: { index: number; message: string }[];
} {
  const problems: { index: number; message: string }[] = [];
  const identities: TrustedIdentity[] = [];
  if (list.length > 1 && list.includes('*'))
    problems.push({ index: list.indexOf('*'), message: 'the wildcard "*" cannot be combined with other identities' });
  list.forEach((raw, index) => {
    if (raw === '*') {
      identities.push({ wildcard: true, raw });
      return;
    }
    const colon = raw.indexOf(':');
    const prefix = colon < 0 ? raw : raw.slice(0, colon);
    if (colon < 0 || prefix !== X509_SUBJECT_PREFIX) {
      problems.push({
        index,
        message: `"${raw}" must be "*" or "${X509_SUBJECT_PREFIX}: C=…, ST=…, O=…" (the only identity type Notation verifies itself)`,
      });
      return;
    }
    try {
      identities.push({ wildcard: false, raw, dn: parseDistinguishedName(raw.slice(colon + 1)) });
    } catch (e) {
      problems.push({ index, message: (e as Error).message });
    }
  });
  const dns = identities.flatMap((t, i) => (t.wildcard ? [] : [{ t, i }]));
  for (const a of dns)
    for (const b of dns)
      if (a !== b && isSubsetDN(a.t.dn, b.t.dn))
        problems.push({
          index: list.indexOf(a.t.raw),
          message: `"${a.t.raw}" overlaps with "${b.t.raw}" (every certificate the second matches, the first matches too), which Notation refuses`,
        });
  return { identities, problems };
}
