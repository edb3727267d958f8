// Property-based tests of packages/core/src/untrusted-text.ts: whatever text an artifact, a
// bundle or a registry holds, the neutralised form cannot be read by a GitHub Actions runner
// as a workflow command, cannot leave a job summary's table cell, and --json stays exact.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { safe, safeHtml, untrustedHtml, untrustedJson, untrustedLines, untrustedText } from '../src/untrusted-text.js';

const RUNS = { numRuns: 500 };

/** The runner's rules (actions/runner, src/Runner.Common/ActionCommand.cs). */
function commandLines(output: string): string[] {
  return output.split(/\r\n|\r|\n/).filter((line) => line.trimStart().startsWith('::') || line.includes('##['));
}

// Text biased towards what matters: the pieces of commands, line breaks, controls, HTML.
const piece = fc.constantFrom(
  ':',
  '::',
  '#',
  '##[',
  '[',
  '\n',
  '\r',
  '\r\n',
  ' ',
  '\t',
  '\u00a0',
  '\u2028',
  '\u0085',
  '\u001b',
  '\u202e',
  '<',
  '>',
  '&',
  '|',
  '`',
  '"',
  "'",
  'set-output name=x::y',
  'add-mask::',
  'stop-commands::tok',
  'error file=a,line=1::m',
  'a',
  'é',
  '🙂',
);
const hostile = fc.oneof(
  fc.array(piece, { maxLength: 24 }).map((p) => p.join('')),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

describe('untrustedText', () => {
  it('is one line that starts no command, whatever the input', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const out = untrustedText(s);
        expect(out).not.toMatch(/[\r\n\u0085\u2028\u2029]/);
        expect(commandLines(out)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('leaves ordinary text alone and shows what it escaped', () => {
    expect(untrustedText('models/llama-3.1-8b.safetensors')).toBe('models/llama-3.1-8b.safetensors');
    expect(untrustedText('[::1]:5000/repo')).toBe('[::1]:5000/repo');
    expect(untrustedText('DECODER routines::unsupported')).toBe('DECODER routines::unsupported');
    expect(untrustedText('a\n::set-output name=x::y')).toBe('a\\n::set-output name=x::y');
    expect(untrustedText('::add-mask::x')).toBe('\\x3a:add-mask::x');
    expect(untrustedText('  ::add-mask::x')).toBe('  \\x3a:add-mask::x');
    expect(untrustedText('x ##[stop-commands]t')).toBe('x \\x23#[stop-commands]t');
    expect(untrustedText('red\u001b[31m\u202e')).toBe('red\\x1b[31m\\u202e');
  });
});

describe('safe (template) and untrustedLines', () => {
  it('no value, and no two values glued together, start a command on any line', () => {
    fc.assert(
      fc.property(hostile, hostile, hostile, (a, b, c) => {
        expect(commandLines(safe`${a}${b}\n${c}${a}: ${b}\n`)).toEqual([]);
        expect(commandLines(untrustedLines(`${a}\n${b}${c}`))).toEqual([]);
      }),
      RUNS,
    );
  });

  it('keeps the line breaks of the template and of the message', () => {
    expect(safe`FAIL ${'rule'}: ${'a\nb'}\nnext`).toBe('FAIL rule: a\\nb\nnext');
    expect(untrustedLines('problems:\n  one\n::two')).toBe('problems:\n  one\n\\x3a:two');
  });
});

describe('untrustedHtml (job summaries)', () => {
  it('cannot open a tag, end the HTML block or start markdown', () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const cell = `<td>${untrustedHtml(s)}</td>`;
        expect(cell.slice(4, -5)).not.toMatch(/[<>\n\r|`"']/);
        expect(safeHtml`<code>${s}</code>`).toBe(`<code>${untrustedHtml(s)}</code>`);
      }),
      RUNS,
    );
  });
});

describe('untrustedJson (--json)', () => {
  it('parses back to the same value and holds no command', () => {
    fc.assert(
      fc.property(fc.dictionary(hostile, fc.oneof(hostile, fc.array(hostile, { maxLength: 3 }))), (value) => {
        for (const space of [0, 2]) {
          const out = untrustedJson(value, space);
          expect(JSON.parse(out)).toEqual(value);
          expect(commandLines(out)).toEqual([]);
        }
      }),
      RUNS,
    );
  });
});
