import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { githubIdentityRegex } from '../src/policy/parse.js';
import { toRe2 } from '../src/policy/re2.js';

/**
 * The oracle for "Go matches what JavaScript matches" is re2js, a JavaScript port of RE2/J,
 * which is itself a port of Go's regexp package: same syntax, same semantics, no Go needed.
 */
function re2Matches(re2: string, s: string): boolean {
  return RE2JS.compile(re2).matches(s);
}

function converted(source: string): string {
  const r = toRe2(source);
  if (!r.ok) throw new Error(`${source}: ${r.reason}`);
  return r.re2;
}

// Strings made of the characters where JavaScript and Go disagree by default.
const TRICKY = [
  'a',
  'b',
  'z',
  'A',
  '0',
  '9',
  '_',
  '-',
  '.',
  '/',
  '@',
  ' ',
  '\t',
  '\n',
  '\r',
  '\v',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\ufeff',
  'é',
  'α',
  'Ω',
  '😀',
  '\u0000',
  '\u0001',
  '[',
  ']',
  '^',
  '\\',
];

const SOURCES = [
  '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/heads/main$',
  githubIdentityRegex({ repository: 'acme/models', workflow: '.github/workflows/release.yml', ref: 'refs/tags/v.+' }),
  '^release@acme\\.com$',
  '^a.b$',
  '^.*$',
  '^[^a]*$',
  '^[\\w.-]+@acme\\.com$',
  '^\\d{2,3}[a-z]?$',
  '^(?:a|b)+?$',
  '^(?<user>[a-z]+)@x$',
  '^\\u{1F600}$',
  '^\\u00e9\\x41\\cA\\0$',
  '^[]$',
  '^[^]*$',
  '^\\p{Lu}\\p{Script=Greek}*$',
  '^[\\p{L}\\d]+$',
  '^\\bab\\B.$',
  '^[\\]\\[\\^\\-\\\\]+$',
  '^a{0}b{1,}c{2,4}$',
];

describe('toRe2: JavaScript (u flag) identity regexes as Go RE2', () => {
  it('matches exactly the strings JavaScript matches, for every construct it converts', () => {
    const cases = SOURCES.map((s) => ({ js: new RegExp(s, 'u'), re2: RE2JS.compile(converted(s)) }));
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TRICKY), { maxLength: 8 }), (chars) => {
        const s = chars.join('');
        for (const c of cases) expect([c.js.source, c.re2.matches(s)]).toEqual([c.js.source, c.js.test(s)]);
      }),
      { numRuns: 2000 },
    );
    // The differences the conversion exists for, checked by name.
    expect(re2Matches(converted('^a.b$'), 'a\rb')).toBe(false); // Go's bare `.` would match \r
    expect(re2Matches(converted('^a.b$'), 'a\u2028b')).toBe(false);
    expect(re2Matches(converted('^[]$'), 'x')).toBe(false); // `[]` is not even valid RE2
    expect(re2Matches(converted('^[^]*$'), 'a\nb')).toBe(true);
  });

  it('refuses what RE2 cannot express or means differently, saying which construct', () => {
    const refused: [string, RegExp][] = [
      ['^a(?=b).$', /lookahead/],
      ['^a(?!b).$', /negative lookahead/],
      ['^(?<=a)b$', /lookbehind/],
      ['^(?<!a)b$', /negative lookbehind/],
      ['^(a)\\1$', /backreference/],
      ['^(?<x>a)\\k<x>$', /backreference/],
      ['^a\\sb$', /white space/],
      ['^[\\S]+$', /white space/],
      ['^\\p{Letter}$', /general categories/],
      ['^\\p{Script_Extensions=Greek}$', /general categories/],
      ['^a{1001}$', /1000/],
      ['^\\uD83D$', /surrogate/],
    ];
    for (const [source, why] of refused) {
      new RegExp(source, 'u'); // valid JavaScript, so the policy accepts it
      const r = toRe2(source);
      expect([source, r.ok]).toEqual([source, false]);
      if (!r.ok) expect(r.reason).toMatch(why);
    }
  });

  it('keeps the github shorthand readable: literal parts as written, the ref regex grouped', () => {
    const re = converted(
      githubIdentityRegex({
        repository: 'acme/models',
        workflow: '.github/workflows/release.yml',
        ref: 'refs/tags/v.+',
      }),
    );
    expect(re).toBe(
      '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@(?:refs/tags/v[^\\n\\r\\x{2028}\\x{2029}]+)$',
    );
    expect(re2Matches(re, 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2')).toBe(true);
    expect(re2Matches(re, 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main')).toBe(false);
    expect(re2Matches(re, 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1\rx')).toBe(false);
  });
});
