import { X509Certificate as NodeX509, createHash, type KeyObject } from 'node:crypto';
import { ASN1Obj } from '@sigstore/core';
import type { NotationAlgorithm } from './types.js';

/**
 * X.509 as the Notary Project reads it. Node's X509Certificate checks signatures; the
 * extensions (criticality, key-usage bits, path length) and the subject's attributes are read
 * from the DER with @sigstore/core's ASN.1 parser, since Node exposes neither.
 */
export interface NotationCertificate {
  der: Buffer;
  /** For signature checks and the public key. */
  x509: NodeX509;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** DER of the subject and issuer Names, compared bytewise as Go's RawSubject / RawIssuer. */
  rawSubject: Buffer;
  rawIssuer: Buffer;
  /** The subject's RDNs in certificate order; `value` is undefined for a non-string value. */
  subject: { oid: string; value: string | undefined }[][];
  signatureAlgorithmOid: string;
  basicConstraints?: { critical: boolean; ca: boolean; pathLen?: number };
  keyUsage?: { critical: boolean; bits: Set<number> };
  /** OIDs of the extended key usage extension, when present. */
  extKeyUsage?: string[];
  /** Hex SHA-256 of the DER: the value of the thumbprint annotation. */
  thumbprint: string;
}

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
};

/** Extended key usages a code-signing leaf must not carry (the spec's list plus OCSP signing, as notation-core-go). */
const EXCLUDED_EKUS: Record<string, string> = {
  '2.5.29.37.0': 'anyExtendedKeyUsage',
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
};
const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** Signature algorithms the spec forbids anywhere in the chain (SHA-1) and MD5/MD2, which Go refuses too. */
const WEAK_SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10040.4.3': 'dsa-with-SHA1',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
};

// Key-usage bit positions (RFC 5280 section 4.2.1.3).
const KU = {
  digitalSignature: 0,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

function decodeString(obj: ASN1Obj): string | undefined {
  if (obj.tag.class !== 0) return undefined;
  switch (obj.tag.number) {
    case 12: // UTF8String
      return obj.value.toString('utf8');
    case 18: // NumericString
    case 19: // PrintableString
    case 22: // IA5String
      return obj.value.toString('latin1');
    case 20: // T61String: Go takes the bytes as they are
      return obj.value.toString('latin1');
    case 30: {
      // BMPString, UTF-16BE
      const b = Buffer.from(obj.value);
      b.swap16();
      return b.toString('utf16le');
    }
    default:
      return undefined;
  }
}

function parseName(name: ASN1Obj): { oid: string; value: string | undefined }[][] {
  return name.subs.map((rdn) =>
    rdn.subs.map((atv) => ({ oid: atv.subs[0]!.toOID(), value: decodeString(atv.subs[1]!) })),
  );
}

function bitPositions(bits: number[]): Set<number> {
  const out = new Set<number>();
  bits.forEach((b, i) => {
    if (b === 1) out.add(i);
  });
  return out;
}

/** Parses one DER certificate; throws on anything that is not one. */
export function parseCertificate(der: Buffer): NotationCertificate {
  const x509 = new NodeX509(der);
  const root = ASN1Obj.parseBuffer(der as Buffer<ArrayBuffer>);
  const tbs = root.subs[0]!;
  const off = tbs.subs[0]!.tag.isContextSpecific(0) ? 1 : 0;
  const issuer = tbs.subs[off + 2]!;
  const validity = tbs.subs[off + 3]!;
  const subject = tbs.subs[off + 4]!;
  const cert: NotationCertificate = {
    der,
    x509,
    publicKey: x509.publicKey,
    notBefore: validity.subs[0]!.toDate(),
    notAfter: validity.subs[1]!.toDate(),
    rawSubject: subject.toDER(),
    rawIssuer: issuer.toDER(),
    subject: parseName(subject),
    signatureAlgorithmOid: root.subs[1]!.subs[0]!.toOID(),
    thumbprint: createHash('sha256').update(der).digest('hex'),
  };
  const extWrapper = tbs.subs.slice(off + 6).find((s) => s.tag.isContextSpecific(3));
  for (const ext of extWrapper?.subs[0]?.subs ?? []) {
    const oid = ext.subs[0]!.toOID();
    const critical = ext.subs.length === 3 ? ext.subs[1]!.toBoolean() : false;
    const value = ASN1Obj.parseBuffer(ext.subs[ext.subs.length - 1]!.value as Buffer<ArrayBuffer>);
    if (oid === OID.basicConstraints) {
      const ca = value.subs[0]?.tag.isBoolean() ? value.subs[0].toBoolean() : false;
      const len = value.subs.find((s) => s.tag.isInteger());
      cert.basicConstraints = { critical, ca, ...(len ? { pathLen: Number(len.toInteger()) } : {}) };
    } else if (oid === OID.keyUsage) {
      cert.keyUsage = { critical, bits: bitPositions(value.toBitString()) };
    } else if (oid === OID.extKeyUsage) {
      cert.extKeyUsage = value.subs.map((s) => s.toOID());
    }
  }
  return cert;
}

/** The JWS algorithm the spec ties to a key (signature-specification.md, "Algorithm Selection"), or why none. */
export function keyAlgorithm(key: KeyObject): { alg: NotationAlgorithm } | { problem: string } {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    // Go sizes an RSA key by its modulus in whole bytes (rsa.PublicKey.Size() << 3).
    const bits = Math.ceil((details.modulusLength ?? 0) / 8) * 8;
    const alg = ({ 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' } as const)[bits as 2048 | 3072 | 4096];
    return alg ? { alg } : { problem: `RSA key size ${bits} bits is not supported (2048, 3072 or 4096)` };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? '';
    const alg = ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as const)[
      curve as 'prime256v1' | 'secp384r1' | 'secp521r1'
    ];
    return alg ? { alg } : { problem: `ECDSA curve ${curve || 'unknown'} is not supported (P-256, P-384 or P-521)` };
  }
  return { problem: `${key.asymmetricKeyType ?? 'unknown'} keys are not supported (RSA or ECDSA)` };
}

/** The hash an algorithm signs with. */
export function algorithmHash(alg: NotationAlgorithm): 'sha256' | 'sha384' | 'sha512' {
  return `sha${alg.slice(2)}` as 'sha256' | 'sha384' | 'sha512';
}

/** A certificate's name in messages: its subject, as the policy writes identities. */
export function describe(cert: NotationCertificate): string {
  return formatSubject(cert) || `(empty subject, SHA-256 ${cert.thumbprint.slice(0, 16)}…)`;
}

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.17': 'POSTALCODE',
};

/** The attribute types Go's pkix.Name renders by name (crypto/x509/pkix attributeTypeNames); others it renders as `OID=#hex`. */
export function shortName(oid: string): string | undefined {
  return SHORT_NAMES[oid];
}

/** RFC 4514 escaping of one value, as Go's RDNSequence.String writes it. */
function escapeDnValue(v: string): string {
  const chars = [...v];
  return chars
    .map((c, i) => {
      if (',+"\\<>;'.includes(c)) return `\\${c}`;
      if (c === ' ' && (i === 0 || i === chars.length - 1)) return `\\${c}`;
      if (c === '#' && i === 0) return `\\${c}`;
      return c;
    })
    .join('');
}

/** `C=US, ST=WA, O=acme, CN=release`: the subject in certificate order, in the form trust policies write. */
export function formatSubject(cert: NotationCertificate): string {
  return cert.subject
    .map((rdn) =>
      rdn.map((a) => `${shortName(a.oid) ?? a.oid}=${a.value === undefined ? '#…' : escapeDnValue(a.value)}`).join('+'),
    )
    .join(', ');
}

function isIssuedBy(child: NotationCertificate, parent: NotationCertificate): boolean {
  try {
    return child.rawIssuer.equals(parent.rawSubject) && child.x509.verify(parent.publicKey);
  } catch {
    return false;
  }
}

function validAt(cert: NotationCertificate, time: Date, what: string): string | undefined {
  if (time < cert.notBefore || time > cert.notAfter)
    return `certificate "${describe(cert)}" was not valid at ${what} ${rfc3339(time)}: it is valid from ${rfc3339(cert.notBefore)} to ${rfc3339(cert.notAfter)}`;
  return undefined;
}

/** RFC 3339 to the second in UTC, as notation-core-go truncates signing time and expiry (and as certificates keep time). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function keyUsageProblem(cert: NotationCertificate): string | undefined {
  if (!cert.keyUsage) return `certificate "${describe(cert)}": the key usage extension must be present`;
  if (!cert.keyUsage.critical)
    return `certificate "${describe(cert)}": the key usage extension must be marked critical`;
  return undefined;
}

function leafProblem(cert: NotationCertificate): string | undefined {
  const name = describe(cert);
  if (cert.basicConstraints?.ca)
    return `leaf certificate "${name}": basic constraints say it is a CA; a signing certificate must have cA false`;
  const ku = keyUsageProblem(cert);
  if (ku) return ku;
  const bits = cert.keyUsage!.bits;
  if (!bits.has(KU.digitalSignature)) return `leaf certificate "${name}": the key usage must include digitalSignature`;
  const extra = (Object.entries(KU) as [string, number][])
    .filter(([n, b]) => n !== 'digitalSignature' && bits.has(b))
    .map(([n]) => n);
  if (extra.length)
    return `leaf certificate "${name}": the key usage must be digitalSignature only, but it also has ${extra.join(', ')}`;
  const excluded = (cert.extKeyUsage ?? []).filter((o) => EXCLUDED_EKUS[o]).map((o) => EXCLUDED_EKUS[o]!);
  if (excluded.length)
    return (
      `leaf certificate "${name}" is not a code-signing certificate: its extended key usage has ${excluded.join(', ')}` +
      ` (${cert.extKeyUsage!.includes(EKU_CODE_SIGNING) ? 'besides' : 'and not'} codeSigning), which the Notary Project specification forbids`
    );
  const alg = keyAlgorithm(cert.publicKey);
  if ('problem' in alg) return `leaf certificate "${name}": ${alg.problem}`;
  return undefined;
}

function caProblem(cert: NotationCertificate, depthBelow: number): string | undefined {
  const name = describe(cert);
  const bc = cert.basicConstraints;
  if (!bc || !bc.ca || !bc.critical)
    return `CA certificate "${name}": basic constraints must be present, critical and have cA true`;
  if (bc.pathLen !== undefined && bc.pathLen < depthBelow)
    return `CA certificate "${name}": its path length constraint ${bc.pathLen} is shorter than the ${depthBelow} CA certificate(s) below it`;
  const ku = keyUsageProblem(cert);
  if (ku) return ku;
  if (!cert.keyUsage!.bits.has(KU.keyCertSign))
    return `CA certificate "${name}": the key usage must include keyCertSign`;
  return undefined;
}

/**
 * The certificate requirements of signature-specification.md ("Certificate Requirements"), in
 * the order notation-core-go's ValidateCodeSigningCertChain checks them (docs/signing.md,
 * "Notation: sources"): leaf first, then each CA, the chain ending in a self-signed
 * root, each certificate issued by the next. Where the spec says MUST and notation-core-go
 * does not check (a critical basicConstraints on CAs, anyExtendedKeyUsage on the leaf), the
 * spec is followed. With `signingTime`, every certificate must be valid then. Returns the
 * first problem, or undefined.
 */
export function codeSigningChainProblem(chain: NotationCertificate[], signingTime?: Date): string | undefined {
  if (chain.length === 0) return 'the certificate chain is empty';
  for (const cert of chain) {
    const weak = WEAK_SIGNATURE_ALGORITHMS[cert.signatureAlgorithmOid];
    if (weak) return `certificate "${describe(cert)}" is signed with ${weak}, which the Notary Project does not accept`;
  }
  if (chain.length === 1) {
    const cert = chain[0]!;
    if (!isIssuedBy(cert, cert))
      return `certificate "${describe(cert)}" is alone in the chain but not self-signed: the chain must go on to its root`;
    if (signingTime) {
      const t = validAt(cert, signingTime, 'signing time');
      if (t) return t;
    }
    return leafProblem(cert);
  }
  for (const [i, cert] of chain.entries()) {
    if (signingTime) {
      const t = validAt(cert, signingTime, 'signing time');
      if (t) return t;
    }
    const last = i === chain.length - 1;
    if (last) {
      if (!isIssuedBy(cert, cert))
        return `the chain ends with "${describe(cert)}", which is not a self-signed root: the chain must end with its root certificate`;
    } else {
      if (isIssuedBy(cert, cert))
        return `${i === 0 ? 'leaf' : 'intermediate'} certificate "${describe(cert)}" is self-signed: only the last certificate of the chain may be`;
      const parent = chain[i + 1]!;
      if (!isIssuedBy(cert, parent))
        return `certificate "${describe(cert)}" is not issued by the next one in the chain, "${describe(parent)}": order the chain leaf, intermediates, root`;
    }
    const problem = i === 0 ? leafProblem(cert) : caProblem(cert, i - 1);
    if (problem) return problem;
  }
  return undefined;
}
