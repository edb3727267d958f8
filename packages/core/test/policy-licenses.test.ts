import { describe, expect, it } from '@jest/globals';
import { ModelshipError } from '../src/errors.js';
import { parsePolicy } from '../src/policy/parse.js';
import { evaluateLicenses } from '../src/policy/licenses.js';
import { formatSpdx, parseSpdxExpression } from '../src/spdx.js';

const MIN = `version: 1
signers:
  - key: { path: release.pub }
`;

function normalised(expr: string): string {
  const p = parseSpdxExpression(expr);
  if (!p.ok) throw new Error(`${expr}: ${p.reason}`);
  return formatSpdx(p.node);
}

function policyError(text: string): ModelshipError {
  try {
    parsePolicy(text, 'policy.yaml');
  } catch (e) {
    expect((e as ModelshipError).code).toBe('INPUT');
    return e as ModelshipError;
  }
  throw new Error('expected parsePolicy to throw');
}

describe('SPDX normalisation', () => {
  it('matches ids case-insensitively and replaces deprecated and + forms', () => {
    expect(normalised('Gpl-3.0-Only')).toBe('GPL-3.0-only');
    expect(normalised('GPL-3.0')).toBe('GPL-3.0-only');
    expect(normalised('GPL-3.0+')).toBe('GPL-3.0-or-later');
    expect(normalised('gpl-2.0-only+')).toBe('GPL-2.0-or-later');
    expect(normalised('mit or apache-2.0')).toBe('MIT OR Apache-2.0');
    expect(normalised('GPL-3.0-with-GCC-exception')).toBe('GPL-3.0-only WITH GCC-exception-3.1');
    expect(normalised('eCos-2.0')).toBe('GPL-2.0-or-later WITH eCos-exception-2.0');
    expect(normalised('Apache-2.0 with llvm-exception')).toBe('Apache-2.0 WITH LLVM-exception');
    expect(normalised('MIT OR (GPL-2.0 AND BSD-3-Clause)')).toBe('MIT OR (GPL-2.0-only AND BSD-3-Clause)');
    expect(normalised('licenseref-Acme-1')).toBe('LicenseRef-Acme-1');
  });

  it('says why an expression is not valid', () => {
    const reason = (e: string): string => {
      const p = parseSpdxExpression(e);
      if (p.ok) throw new Error(`${e} parsed`);
      return p.reason;
    };
    expect(reason('GPL-3.1-only')).toMatch(/^"GPL-3\.1-only" is not an SPDX licence id/);
    expect(reason('Classpath-exception-2.0')).toMatch(/is a licence exception/);
    expect(reason('MIT AND')).toMatch(/not a valid SPDX expression/);
    expect(reason('MIT WITH Apache-2.0')).toMatch(/exception after `WITH`/);
    expect(reason('(MIT')).toMatch(/not a valid SPDX expression/);
    expect(reason('   ')).toBe('it is empty');
  });
});

describe('require.licenses deny', () => {
  const deny = (declared: unknown, list = ['GPL-3.0-only']) => evaluateLicenses(declared, { allow: [], deny: list });

  it('catches every spelling of a denied licence, anywhere in the expression', () => {
    for (const l of [
      'GPL-3.0-only',
      'Gpl-3.0-Only',
      'gpl-3.0',
      'GPL-3.0',
      'GPL-3.0+',
      'GPL-3.0-or-later',
      'MIT OR GPL-3.0',
      '(MIT AND (Apache-2.0 OR gpl-3.0-only))',
      'GPL-3.0-with-GCC-exception',
      'GPL-3.0-only WITH Classpath-exception-2.0',
      // or later: may be used under GPL-3.0
      'GPL-2.0-or-later',
      'GPL-1.0+',
    ]) {
      const c = deny([l]);
      expect([l, c.ok]).toEqual([l, false]);
      expect(c.detail).toMatch(/^denied: GPL-/);
    }
    // The same holds for an or-later deny entry, which also covers later versions.
    expect(deny(['GPL-3.0'], ['GPL-3.0-or-later']).ok).toBe(false);
    expect(deny(['GPL-3.0-only'], ['GPL-2.0+']).ok).toBe(false);
    expect(deny(['eCos-2.0'], ['GPL-2.0-only']).ok).toBe(false);
  });

  it('lets other licences through, names what was declared', () => {
    expect(deny(['GPL-2.0-only'])).toEqual({ ok: true, detail: 'licences GPL-2.0-only allowed' });
    expect(deny(['LGPL-3.0-only', 'MIT']).ok).toBe(true);
    expect(deny(['gpl-2.0']).detail).toBe('licences GPL-2.0-only (declared "gpl-2.0") allowed');
    expect(deny(undefined)).toEqual({ ok: true, detail: 'licences (none) allowed' });
    expect(deny(['Gpl-3.0-Only']).detail).toBe('denied: GPL-3.0-only (declared "Gpl-3.0-Only")');
  });

  it('LicenseRef ids compare case-insensitively as they are', () => {
    expect(deny(['licenseref-acme-eula'], ['LicenseRef-Acme-EULA']).ok).toBe(false);
    expect(deny(['LicenseRef-Acme-EULA-2'], ['LicenseRef-Acme-EULA']).ok).toBe(true);
  });

  it('an invalid licence in the artifact is a finding, not a pass', () => {
    const c = deny(['MIT OR Gpl-3.1']);
    expect(c.ok).toBe(false);
    expect(c.detail).toMatch(/^invalid licence expression "MIT OR Gpl-3\.1": "Gpl-3\.1" is not an SPDX licence id/);
    expect(deny(['MIT AND']).ok).toBe(false);
    expect(deny(['']).ok).toBe(false);
    expect(deny([42]).detail).toBe('invalid licence entry 42: not a string');
    expect(deny('GPL-3.0-only').detail).toMatch(/not a list/);
  });
});

describe('require.licenses allow', () => {
  const allow = (declared: unknown, list = ['MIT', 'Apache-2.0', 'GPL-3.0-only', 'LicenseRef-Acme']) =>
    evaluateLicenses(declared, { allow: list, deny: [] });

  it('needs the expression to be satisfiable with allowed licences only', () => {
    expect(allow(['mit']).ok).toBe(true);
    expect(allow(['MIT OR CC-BY-NC-4.0']).ok).toBe(true);
    expect(allow(['MIT AND CC-BY-NC-4.0'])).toEqual({ ok: false, detail: 'not in allow list: CC-BY-NC-4.0' });
    expect(allow(['CC-BY-NC-4.0 OR BSD-3-Clause']).detail).toBe('not in allow list: CC-BY-NC-4.0, BSD-3-Clause');
    // Every declared expression must be satisfiable.
    expect(allow(['MIT', 'BSD-3-Clause']).ok).toBe(false);
    // An exception stays with its licence.
    expect(allow(['Apache-2.0 WITH LLVM-exception']).ok).toBe(true);
    // GPL-3.0 in any spelling; GPL-2.0-or-later may be used under GPL-3.0, GPL-2.0-only may not.
    for (const l of ['GPL-3.0', 'gpl-3.0+', 'GPL-2.0-or-later']) expect([l, allow([l]).ok]).toEqual([l, true]);
    expect(allow(['GPL-2.0-only']).ok).toBe(false);
    expect(allow(['licenseref-acme']).ok).toBe(true);
  });

  it('an artifact without a licence fails an allow list; an invalid one fails too', () => {
    expect(allow([])).toEqual({ ok: false, detail: 'the artifact declares no licence' });
    expect(allow(undefined).ok).toBe(false);
    expect(allow(['MIT OR Foo-1.0']).ok).toBe(false);
  });

  it('deny wins over allow', () => {
    expect(evaluateLicenses(['GPL-3.0+'], { allow: ['GPL-3.0-or-later'], deny: ['GPL-3.0-only'] }).ok).toBe(false);
  });
});

describe('require.licenses in the policy file', () => {
  it('an unknown licence id is an INPUT error with its line', () => {
    expect(policyError(`${MIN}require:\n  licenses:\n    deny: [GPL-3.0-only, GPL-3.1]\n`).message).toBe(
      'policy.yaml:6: require.licenses.deny[1] "GPL-3.1": "GPL-3.1" is not an SPDX licence id (see https://spdx.org/licenses/; write LicenseRef-<name> for a licence SPDX does not list)',
    );
    expect(policyError(`${MIN}require:\n  licenses: { allow: [Classpath-exception-2.0] }\n`).message).toMatch(
      /^policy\.yaml:5: require\.licenses\.allow\[0\] "Classpath-exception-2\.0": .*licence exception/,
    );
  });

  it('accepts any case, deprecated and + forms, and LicenseRef ids, kept as written', () => {
    const p = parsePolicy(
      `${MIN}require:\n  licenses: { allow: [mit, LicenseRef-acme], deny: [GPL-3.0+, Gpl-2.0] }\n`,
      'x',
    );
    expect(p.require.licenses).toEqual({ allow: ['mit', 'LicenseRef-acme'], deny: ['GPL-3.0+', 'Gpl-2.0'] });
  });

  it('the same licence in both lists is refused after normalisation', () => {
    expect(policyError(`${MIN}require:\n  licenses: { allow: [GPL-3.0], deny: [gpl-3.0-only] }\n`).message).toMatch(
      /^policy\.yaml:5: licence "GPL-3\.0" is in both/,
    );
  });
});
