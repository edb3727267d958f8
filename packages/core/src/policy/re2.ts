import regjsparser from 'regjsparser';
import type { AstNode, CharacterClassBody, Value } from 'regjsparser';

type Features = { namedGroups: true; lookbehind: true; unicodePropertyEscape: true };
const FEATURES: Features = { namedGroups: true, lookbehind: true, unicodePropertyEscape: true };
type Node = AstNode<Features>;

/**
 * Policy identity regexes are JavaScript regexes (`u` flag, checked with `new RegExp`), but
 * Kyverno, policy-controller and cosign match them with Go's `regexp` (RE2 syntax). This
 * re-writes one from its parse tree (regjsparser, the parser Babel uses) into RE2 syntax that
 * matches exactly the same strings, or says why it cannot:
 *
 * - lookahead, lookbehind and backreferences have no RE2 form: refused;
 * - `\s` / `\S` are Unicode white space in JavaScript but ASCII in Go: refused (write the
 *   characters meant);
 * - `\p{…}` only as a general category or `Script=`/`sc=` name, which Go knows by the same name;
 * - `.` excludes `\n \r U+2028 U+2029` in JavaScript but only `\n` in Go: written as that class;
 * - escapes (`\u…`, `\u{…}`, `\cX`, `\0`) become the code point, `\x{…}` where not printable;
 * - `[]` (matches nothing) and `[^]` (any character) are valid JavaScript, not valid RE2:
 *   written as the full-range class and its complement;
 * - counted repetition above 1000 is refused (Go's limit).
 *
 * `^`, `$` (no `m` flag: start and end of input in both), `\b \B \d \D \w \W` (ASCII in both
 * without the `i` flag), groups, alternation and greedy/lazy quantifiers mean the same.
 */
export type Re2Result = { ok: true; re2: string } | { ok: false; reason: string };

class Unsupported extends Error {}

const GO_CATEGORIES = new Set(
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(' '),
);
// RE2 metacharacters outside a class, and the characters to escape inside one.
const META = new Set('\\.+*?()|[]{}^$'.split(''));
const CLASS_META = new Set('\\]^-['.split(''));
const MAX_REPEAT = 1000;
// JavaScript's `.` without the s flag: anything but the ECMAScript line terminators.
const JS_DOT = '[^\\n\\r\\x{2028}\\x{2029}]';

function char(v: Value, inClass: boolean): string {
  const cp = v.codePoint;
  if (cp >= 0xd800 && cp <= 0xdfff)
    throw new Unsupported(`"${v.raw}" is a lone surrogate, which Go cannot match; write the character itself`);
  const c = String.fromCodePoint(cp);
  // Printable ASCII as itself (escaped where it is syntax); anything else by code point, so
  // control characters and invisible ones are readable in the generated YAML.
  if (cp >= 0x20 && cp < 0x7f) return (inClass ? CLASS_META : META).has(c) ? `\\${c}` : c;
  if (cp > 0x7f && /\p{L}|\p{N}|\p{M}|\p{P}|\p{S}/u.test(c)) return c;
  return `\\x{${cp.toString(16)}}`;
}

function property(negative: boolean, value: string, raw: string): string {
  const m = /^(?:Script|sc)=([A-Za-z_]+)$/.exec(value);
  const name = GO_CATEGORIES.has(value) ? value : m?.[1];
  if (!name)
    throw new Unsupported(
      `"${raw}": Go knows Unicode general categories (\\p{L}, \\p{Lu}, …) and scripts (\\p{Script=Greek}) only`,
    );
  return `\\${negative ? 'P' : 'p'}{${name}}`;
}

function classItem(n: CharacterClassBody): string {
  switch (n.type) {
    case 'value':
      return char(n, true);
    case 'characterClassRange':
      return `${char(n.min, true)}-${char(n.max, true)}`;
    case 'characterClassEscape':
      if (n.value === 's' || n.value === 'S')
        throw new Unsupported(
          `"\\${n.value}" means Unicode white space in JavaScript but ASCII white space in Go; write the characters, e.g. [ \\t]`,
        );
      return `\\${n.value}`;
    case 'unicodePropertyEscape':
      return property(n.negative, n.value, n.raw);
  }
}

function gen(n: Node): string {
  switch (n.type) {
    case 'alternative':
      return n.body.map(gen).join('');
    case 'disjunction':
      return n.body.map(gen).join('|');
    case 'anchor':
      if (n.kind === 'start') return '^';
      if (n.kind === 'end') return '$';
      return n.kind === 'boundary' ? '\\b' : '\\B';
    case 'dot':
      return JS_DOT;
    case 'value':
      return char(n, false);
    case 'characterClassEscape':
    case 'unicodePropertyEscape':
      return classItem(n);
    case 'characterClassRange':
      return classItem(n);
    case 'characterClass':
      if (n.body.length === 0) return n.negative ? '[\\x{0}-\\x{10ffff}]' : '[^\\x{0}-\\x{10ffff}]';
      return `[${n.negative ? '^' : ''}${n.body.map(classItem).join('')}]`;
    case 'group':
      switch (n.behavior) {
        case 'normal': {
          return `(${n.name ? `?P<${n.name.value}>` : ''}${n.body.map(gen).join('')})`;
        }
        case 'ignore':
          return `(?:${n.body.map(gen).join('')})`;
        default:
          throw new Unsupported(
            `"${n.raw}" is a ${n.behavior.replace(/([A-Z])/g, ' $1').toLowerCase()}, which RE2 has not`,
          );
      }
    case 'quantifier': {
      const max = n.max;
      if (n.min > MAX_REPEAT || (max !== undefined && max > MAX_REPEAT))
        throw new Unsupported(`"${n.raw}" repeats more than ${MAX_REPEAT} times, Go's limit`);
      const body = gen(n.body[0]);
      let q: string;
      if (n.min === 0 && max === undefined) q = '*';
      else if (n.min === 1 && max === undefined) q = '+';
      else if (n.min === 0 && max === 1) q = '?';
      else if (max === undefined) q = `{${n.min},}`;
      else if (max === n.min) q = `{${n.min}}`;
      else q = `{${n.min},${max}}`;
      return body + q + (n.greedy ? '' : '?');
    }
    case 'reference':
      throw new Unsupported(`"${n.raw}" is a backreference, which RE2 has not`);
  }
}

/** The RE2 (Go `regexp`) form of a JavaScript `u`-flag regex source, or why there is none. */
export function toRe2(source: string): Re2Result {
  let tree: Node;
  try {
    tree = regjsparser.parse(source, 'u', FEATURES);
  } catch (e) {
    return { ok: false, reason: `it does not parse as a JavaScript regex: ${(e as Error).message.split('\n')[0]}` };
  }
  try {
    return { ok: true, re2: gen(tree) };
  } catch (e) {
    if (e instanceof Unsupported) return { ok: false, reason: e.message };
    throw e;
  }
}
