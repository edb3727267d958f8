import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const SCRIPT = join(REPO_ROOT, 'scripts', 'test-tools.mjs');

/** A PATH holding only executables with these names (each exits 0, so `python3 -c 'import numpy'` passes). */
function pathWith(names: string[]): string {
  const dir = join(tmp.dir, `bin-${names.join('-') || 'none'}`);
  mkdirSync(dir, { recursive: true });
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, n), 0o755);
  }
  return dir;
}

function check(path: string, extra: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [SCRIPT], {
    encoding: 'utf8',
    env: { PATH: path, MODELSHIP_TOOLS_NO_INSTALL: '1', ...extra },
  });
}

const ALL = ['docker-registry', 'zstd', 'git-lfs', 'openssl', 'git', 'python3', 'containerd', 'ctr'];
const asRoot = process.getuid?.() === 0;

describe('npm test pre-check (scripts/test-tools.mjs, the pretest script)', () => {
  it('passes silently when every tool is on PATH', () => {
    const r = check(pathWith(ALL));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("accepts distribution's `registry` binary in place of Debian's docker-registry", () => {
    const r = check(pathWith(ALL.map((n) => (n === 'docker-registry' ? 'registry' : n))));
    expect(r.status).toBe(0);
  });

  it('accepts MODELSHIP_REGISTRY_BIN outside PATH, and refuses one that is not executable', () => {
    const path = pathWith(ALL.filter((n) => n !== 'docker-registry'));
    const bin = join(pathWith(['docker-registry']), 'docker-registry');
    expect(check(path, { MODELSHIP_REGISTRY_BIN: bin }).status).toBe(0);
    const r = check(path, { MODELSHIP_REGISTRY_BIN: join(tmp.dir, 'no-such-registry') });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/docker-registry/);
  });

  it('names every missing tool in one line with the install command, and exits 1', () => {
    const r = check(pathWith(['git', 'openssl', 'python3']));
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^npm test needs docker-registry \(.+\), zstd \(.+\), git-lfs \(.+\)/);
    // On Debian (CI's platform) the apt-get command with Debian's package names.
    if (existsSync('/etc/debian_version'))
      expect(lines[0]).toMatch(
        /: sudo apt-get install -y docker-registry zstd git-lfs( containerd)?, then run npm test again$/,
      );
    expect(lines[0]).not.toMatch(/openssl \(/);
  });

  it('asks for containerd only as root, where the containerd test runs', () => {
    const r = check(pathWith(ALL.filter((n) => n !== 'ctr')));
    if (asRoot) {
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/containerd \(the containerd pull-and-unpack test, run as root\)/);
    } else expect(r.status).toBe(0);
  });
});
