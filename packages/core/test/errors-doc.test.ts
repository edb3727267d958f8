import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../src/errors.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** `| \`CODE\` | N |` rows of a markdown table: code → exit status, as the page states it. */
function documentedCodes(page: string, codeColumn: number, exitColumn: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(join(ROOT, page), 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const code = /^`([A-Z_]+)`$/.exec(cells[codeColumn] ?? '')?.[1];
    const exit = Number(cells[exitColumn]);
    if (code && Number.isInteger(exit)) out.set(code, exit);
  }
  return out;
}

describe('the error codes the docs promise are the ones the code has', () => {
  const actual = new Map(Object.entries(ERROR_CODES));
  it('docs/errors.md lists every code with its exit status, and no other', () => {
    expect(documentedCodes('docs/errors.md', 1, 2)).toEqual(actual);
  });
  it('docs/cli.md "Exit codes" lists every code with its exit status, and no other', () => {
    expect(documentedCodes('docs/cli.md', 2, 1)).toEqual(actual);
  });
});
