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
    expect(lines[2]).toBe('push: 954 MiB of 954 MiB transferred, 20.0 s, 50.0 MB/s\n');
  });

  it('a warm-cache push counts blobs checked and present, and ends without "0 B 0.0 MB/s"', () => {
    let t = 0;
    const lines: string[] = [];
    const p = createProgress('pack', { mode: 'lines', write: (s) => lines.push(s), intervalMs: 100, now: () => t });
    p.setTotal(0);
    p.setBlobs(3);
    t = 150;
    p.blob('present', 2 * 1024 ** 3);
    t = 300;
    p.blob('present', 2 * 1024 ** 3);
    p.blob('mounted', 1024);
    t = 400;
    p.finish();
    expect(lines[0]).toBe('pack: 0 B; 1 of 3 blobs checked (1 present)\n');
    expect(lines[1]).toBe('pack: 0 B; 2 of 3 blobs checked (2 present)\n');
    expect(lines.at(-1)).toBe('pack: 0 B of 4.0 GiB transferred (2 present, 1 mounted), 0.4 s\n');
    expect(lines.join('')).not.toMatch(/MB\/s/);
  });

  it('the last line names what was sent and the rate of the bytes that moved', () => {
    let t = 0;
    const lines: string[] = [];
    const p = createProgress('push', { mode: 'lines', write: (s) => lines.push(s), now: () => t });
    p.setBlobs(2);
    p.blob('present', 1e9);
    p.update(1e9);
    p.blob('sent', 1e9);
    t = 2000;
    p.finish();
    expect(lines).toEqual(['push: 954 MiB of 1.9 GiB transferred (1 sent, 1 present), 2.0 s, 500.0 MB/s\n']);
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
