import { describe, expect, it } from '@jest/globals';
import { createProgress, formatBytes, formatRate } from '../src/progress.js';

describe('progress', () => {
  it('formats bytes and rates', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatRate(100e6, 1000)).toBe('100.0 MB/s');
  });

  it('prints periodic lines with bytes, percentage and MB/s in CI logs', () => {
    let t = 0;
    const lines: string[] = [];
    const p = createProgress('push', { mode: 'lines', write: (s) => lines.push(s), intervalMs: 10_000, now: () => t });
    p.setTotal(1000e6);
    t = 5_000;
    p.update(100e6); // too soon: nothing
    t = 10_000;
    p.update(500e6);
    t = 20_000;
    p.update(1000e6);
    p.finish();
    p.finish(); // idempotent
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('push: 477 MiB / 954 MiB (50%) 50.0 MB/s\n');
    expect(lines[2]).toMatch(/\(100%\) 50\.0 MB\/s\n$/);
  });

  it('redraws one line with a bar on a TTY', () => {
    let t = 0;
    let out = '';
    const p = createProgress('pack', { mode: 'bar', write: (s) => (out += s), now: () => t });
    p.setTotal(100);
    t = 200;
    p.update(50);
    p.finish();
    expect(out.startsWith('\r[###############...............]')).toBe(true);
    expect(out.endsWith('\n')).toBe(true);
  });
});
