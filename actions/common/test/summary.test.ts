import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../../test/helpers/tmp.js';
import { jobSummary } from '../src/summary.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('jobSummary (the one summary builder of every action)', () => {
  const file = join(tmp.dir, 'summary.md');
  const saved = process.env.GITHUB_STEP_SUMMARY;
  afterEach(() => {
    if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
    else process.env.GITHUB_STEP_SUMMARY = saved;
  });

  it('writes the job summary with show-summary true, and nothing (not even later) with false', async () => {
    writeFileSync(file, '');
    process.env.GITHUB_STEP_SUMMARY = file;
    await jobSummary(false).addHeading('hidden', 3).addRaw('<p>not shown</p>').write();
    expect(readFileSync(file, 'utf8')).toBe('');
    // The dropped part must not leak into the next summary written in the same process.
    await jobSummary(true)
      .addHeading('shown', 3)
      .addTable([[{ data: 'A', header: true }], ['<code>x</code>']])
      .write();
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('<h3>shown</h3>');
    expect(text).toContain('<th>A</th>');
    expect(text).toContain('<td><code>x</code></td>');
    expect(text).not.toContain('hidden');
  });

  // @actions/core's addTable wrote an empty value as an unclosed `<td>` (MOF components without a licence).
  it('closes every cell, empty ones too', async () => {
    writeFileSync(file, '');
    process.env.GITHUB_STEP_SUMMARY = file;
    await jobSummary(true)
      .addTable([
        [
          { data: 'Component', header: true },
          { data: 'Licence', header: true },
        ],
        ['Model card', ''],
      ])
      .write();
    expect(readFileSync(file, 'utf8')).toBe(
      '<table><tr><th>Component</th><th>Licence</th></tr><tr><td>Model card</td><td></td></tr></table>\n',
    );
  });
});
