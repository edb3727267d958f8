/**
 * The `notation` policy signer and Notation's distinguished-name rules. Sources: notation-go
 * (notaryproject/notation-go at a48f228) internal/pkix/pkix.go (ParseDistinguishedName,
 * IsSubsetDN), verifier/trustpolicy/trustpolicy.go (validateTrustedIdentities, overlapping
 * DNs), and go-ldap v3.4.11 dn.go (ParseDN), which notation-go pins.
 */
import { describe, expect, it } from '@jest/globals';
import { ModelshipError } from '../src/errors.js';
import { isSubsetDN, parseDistinguishedName, parseTrustedIdentities } from '../src/notation/dn.js';
import { parsePolicy } from '../src/policy/parse.js';
import type { NotationPolicySigner } from '../src/policy/types.js';

const map = (dn: string) => Object.fromEntries(parseDistinguishedName(dn));

describe('Notation distinguished names', () => {
  it('read as go-ldap ParseDN does: spaces around types and values dropped, escapes decoded, S is ST', () => {
    expect(map(' C=US, ST=WA, O=acme, CN=release')).toEqual({ C: 'US', ST: 'WA', O: 'acme', CN: 'release' });
    expect(map('C=US;S=WA;O=acme')).toEqual({ C: 'US', ST: 'WA', O: 'acme' });
    expect(map('C=US, ST=WA, O=acme\\, Inc., OU=a\\+b, CN=\\#1 \\\\ x\\20y')).toEqual({
      C: 'US',
      ST: 'WA',
      O: 'acme, Inc.',
      OU: 'a+b',
      CN: '#1 \\ x y',
    });
    // A trailing space survives only escaped.
    expect(map('C=US, ST=WA, O=acme\\ ')).toMatchObject({ O: 'acme ' });
    expect(map('C=US, ST=WA, O=acme ')).toMatchObject({ O: 'acme' });
    // Non-ASCII values, and escaped UTF-8 bytes.
    expect(map('C=DE, ST=Bayern, O=M\\C3\\BCnchen GmbH, CN=Zoë')).toMatchObject({ O: 'München GmbH', CN: 'Zoë' });
  });

  it('refuses what Notation refuses, saying why', () => {
    const why = (dn: string) => {
      try {
        parseDistinguishedName(dn);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(why('C=US, O=acme')).toBe('"C=US, O=acme" has no ST: it must contain C, ST (or S) and O at least');
    expect(why('C=US, ST=WA, O=acme, O=other')).toBe(
      '"C=US, ST=WA, O=acme, O=other" has O twice; each attribute may appear once',
    );
    expect(why('C=US, ST=WA, S=OR, O=acme')).toMatch(/has ST twice/);
    expect(why('C=US+ST=WA, O=acme')).toMatch(/has a multi-valued RDN \(C\+ST\), which Notation does not support/);
    expect(why('C=US, ST=WA, O=#0403616263')).toMatch(/hex-encoded \(=#\) value/);
    expect(why('C=US, ST=WA, O')).toMatch(
      /not an RFC 4514 distinguished name: the DN ends with an incomplete type=value pair/,
    );
    expect(why('C=US, ST=WA, O=a\\zz')).toMatch(/invalid escape/);
    // Types are compared as written: c is not C.
    expect(why('c=US, ST=WA, O=acme')).toMatch(/has no C:/);
  });

  it('an identity matches when each of its attributes is in the subject with the same value', () => {
    const subject = parseDistinguishedName('C=US, ST=WA, L=Seattle, O=acme, OU=ml, CN=release');
    expect(isSubsetDN(parseDistinguishedName('C=US, ST=WA, O=acme'), subject)).toBe(true);
    expect(isSubsetDN(parseDistinguishedName('C=US, S=WA, O=acme, CN=release'), subject)).toBe(true);
    expect(isSubsetDN(parseDistinguishedName('C=US, ST=WA, O=Acme'), subject)).toBe(false);
    expect(isSubsetDN(parseDistinguishedName('C=US, ST=WA, O=acme, CN=build'), subject)).toBe(false);
  });

  it('trusted identities: * alone, x509.subject entries only, no two overlapping', () => {
    expect(parseTrustedIdentities(['*']).problems).toEqual([]);
    expect(parseTrustedIdentities(['*', 'x509.subject: C=US, ST=WA, O=acme']).problems).toEqual([
      { index: 0, message: 'the wildcard "*" cannot be combined with other identities' },
    ]);
    expect(parseTrustedIdentities(['C=US, ST=WA, O=acme', 'x509.issuer: C=US']).problems.map((p) => p.index)).toEqual([
      0, 1,
    ]);
    const overlap = parseTrustedIdentities([
      'x509.subject: C=US, ST=WA, O=acme, OU=ml',
      'x509.subject: C=US, ST=WA, O=acme',
    ]);
    expect(overlap.problems).toEqual([
      {
        index: 1,
        message:
          '"x509.subject: C=US, ST=WA, O=acme" overlaps with "x509.subject: C=US, ST=WA, O=acme, OU=ml" (every certificate the second matches, the first matches too), which Notation refuses',
      },
    ]);
    const disjoint = parseTrustedIdentities([
      'x509.subject: C=US, ST=WA, O=acme, CN=a',
      'x509.subject: C=US, ST=WA, O=acme, CN=b',
    ]);
    expect(disjoint.problems).toEqual([]);
    expect(disjoint.identities.map((i) => i.raw)).toEqual([
      'x509.subject: C=US, ST=WA, O=acme, CN=a',
      'x509.subject: C=US, ST=WA, O=acme, CN=b',
    ]);
  });
});

describe('parsePolicy: notation signers', () => {
  const errorOf = (text: string): string => {
    try {
      parsePolicy(text, 'policy.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(ModelshipError);
      expect((e as ModelshipError).code).toBe('INPUT');
      return (e as ModelshipError).message;
    }
    throw new Error('expected parsePolicy to throw');
  };

  it('keeps the trust store (resolved against baseDir) and the parsed identities, with the line', () => {
    const p = parsePolicy(
      `version: 1
signers:
  - key: { path: k.pub }
  - notation:
      trustStore: truststore/acme-ca.pem
      identities: ["x509.subject: C=US, ST=WA, O=acme, CN=release", "x509.subject: C=US, ST=WA, O=acme, CN=nightly"]
minSignatures: 2
`,
      'policy.yaml',
      { baseDir: '/etc/modelship' },
    );
    const s = p.signers[1] as NotationPolicySigner;
    expect(s).toMatchObject({ type: 'notation', trustStore: '/etc/modelship/truststore/acme-ca.pem', line: 4 });
    expect(s.identities.map((i) => (i.wildcard ? '*' : Object.fromEntries(i.dn)))).toEqual([
      { C: 'US', ST: 'WA', O: 'acme', CN: 'release' },
      { C: 'US', ST: 'WA', O: 'acme', CN: 'nightly' },
    ]);
  });

  it('refuses unknown keys and missing fields, and lists every problem with its line', () => {
    expect(
      errorOf('version: 1\nsigners:\n  - notation: { trustStore: ca.pem, identities: ["*"], level: permissive }\n'),
    ).toBe('policy.yaml:3: unknown key "level" in signers[0].notation (allowed: trustStore, identities)');
    expect(errorOf('version: 1\nsigners:\n  - notation: { trustStore: ca.pem }\n')).toBe(
      'policy.yaml:3: signers[0].notation: missing required key "identities"',
    );
    expect(errorOf('version: 1\nsigners:\n  - notation: { trustStore: ca.pem, identities: [] }\n')).toBe(
      'policy.yaml:3: signers[0].notation.identities must NOT have fewer than 1 items',
    );
    const many = errorOf(`version: 1
signers:
  - notation:
      trustStore: ca.pem
      identities:
        - "x509.subject: C=US, O=acme"
        - "CN=release"
  - notation:
      trustStore: other.pem
      identities: ["*", "x509.subject: C=US, ST=WA, O=acme"]
`);
    expect(many).toBe(
      [
        'invalid policy (3 problems):',
        '  policy.yaml:6: signers[0].notation.identities[0]: "C=US, O=acme" has no ST: it must contain C, ST (or S) and O at least',
        '  policy.yaml:7: signers[0].notation.identities[1]: "CN=release" must be "*" or "x509.subject: C=…, ST=…, O=…" (the only identity type Notation verifies itself)',
        '  policy.yaml:10: signers[1].notation.identities[0]: the wildcard "*" cannot be combined with other identities',
      ].join('\n'),
    );
  });
});
