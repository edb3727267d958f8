import { describe, expect, it } from '@jest/globals';
import { htmlSummary } from '../src/summary.js';

describe('htmlSummary (the pull-request comment rendering of a summary section)', () => {
  it('renders headings, raw HTML, tables and lists as the job summary does, every cell closed', () => {
    const s = htmlSummary();
    s.addHeading('modelship verify: passed', 3)
      .addRaw('<p>against <code>policy.yaml</code></p>')
      .addTable([
        [
          { data: 'Rule', header: true },
          { data: 'Detail', header: true },
        ],
        ['pass', ''],
      ])
      .addList(['one']);
    expect(s.html()).toBe(
      [
        '<h3>modelship verify: passed</h3>',
        '<p>against <code>policy.yaml</code></p>',
        '<table><tr><th>Rule</th><th>Detail</th></tr><tr><td>pass</td><td></td></tr></table>',
        '<ul><li>one</li></ul>',
      ].join('\n'),
    );
  });
});
