import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { main } from '../src/main.js';
import { VERSION } from '../src/version.js';
import { fakeIO, type FakeIO } from './fake-io.js';

const io = (): FakeIO => fakeIO();

describe('modelship CLI (in-process)', () => {
  it('reports the package version (constant kept in step with package.json)', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
    const o = io();
    expect(await main(['node', 'modelship', '--version'], o)).toBe(0);
    expect(o.stdout.trim()).toBe(VERSION);
  });

  it('exits 2 on an unknown command or option', async () => {
    const o = io();
    expect(await main(['node', 'modelship', 'frobnicate'], o)).toBe(2);
    expect(o.stderr).toMatch(/unknown command/);
    const p = io();
    expect(await main(['node', 'modelship', 'pack', '.', '--no-such-flag'], p)).toBe(2);
  });

  it('exits 2 with a named flag for bad option values', async () => {
    const o = io();
    expect(await main(['node', 'modelship', 'pack', '.', '--layer-format', 'zip'], o)).toBe(2);
    expect(o.stderr).toContain('--layer-format "zip"');
    const p = io();
    expect(await main(['node', 'modelship', 'pack', '.', '--output', 'a', '--push', 'b/c'], p)).toBe(2);
    expect(p.stderr).toContain('--output and --push are exclusive');
    const q = io();
    expect(await main(['node', 'modelship', 'pack', '.', '--created', 'yesterday'], q)).toBe(2);
    expect(q.stderr).toContain('RFC 3339');
  });

  it('refuses a password without a username', async () => {
    const o = io();
    o.env = { MODELSHIP_REGISTRY_PASSWORD: 'pw' };
    expect(await main(['node', 'modelship', 'pull', 'localhost:1/x:y', '--extract', '/tmp/x'], o)).toBe(2);
    expect(o.stderr).toContain('without a username');
    expect(o.stderr).not.toContain('pw\n');
  });

  it('pull needs exactly one of --output / --extract', async () => {
    const o = io();
    expect(await main(['node', 'modelship', 'pull', 'localhost:1/x:y'], o)).toBe(2);
    expect(o.stderr).toContain('exactly one of --output');
  });

  it('--overwrite goes with --extract only', async () => {
    const o = io();
    expect(await main(['node', 'modelship', 'pull', 'localhost:1/x:y', '--output', '/tmp/x', '--overwrite'], o)).toBe(
      2,
    );
    expect(o.stderr).toContain('--overwrite goes with --extract');
  });
});
