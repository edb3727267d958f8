#!/usr/bin/env node
// The check npm runs before `npm test` (the `pretest` script): the tests start real programs
// (a registry, zstd, git-lfs, openssl, containerd), so a machine without one of them would fail
// suite after suite with spawn errors. Each missing tool is named once, with what needs it; as
// root on Debian or Ubuntu they are installed with apt-get (what CI does), elsewhere the check
// stops with the install command for the platform.
//
// MODELSHIP_TOOLS_NO_INSTALL=1 only checks, even as root. MODELSHIP_REGISTRY_BIN names a
// registry binary outside PATH (test/helpers/registry.ts honours it too).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Package names per package manager; `null`: the platform has no package for it. */
const TOOLS = [
  {
    name: 'docker-registry',
    // Debian's package installs `docker-registry`; distribution's own builds and other
    // platforms' packages install `registry`.
    binaries: ['docker-registry', 'registry'],
    env: 'MODELSHIP_REGISTRY_BIN',
    why: 'a real OCI registry on 127.0.0.1 for the integration tests',
    packages: { apt: 'docker-registry', dnf: 'docker-distribution', brew: 'distribution' },
  },
  {
    name: 'zstd',
    binaries: ['zstd'],
    why: 'tar+zstd layers',
    packages: { apt: 'zstd', dnf: 'zstd', brew: 'zstd' },
  },
  {
    name: 'git-lfs',
    binaries: ['git-lfs'],
    why: 'Git LFS pointer digests',
    packages: { apt: 'git-lfs', dnf: 'git-lfs', brew: 'git-lfs' },
  },
  {
    name: 'openssl',
    binaries: ['openssl'],
    why: 'keys and certificates made the way users make them',
    packages: { apt: 'openssl', dnf: 'openssl', brew: 'openssl' },
  },
  {
    name: 'git',
    binaries: ['git'],
    why: 'packing git checkouts',
    packages: { apt: 'git', dnf: 'git', brew: 'git' },
  },
  {
    name: 'python3-numpy',
    binaries: ['python3'],
    // The model scanner's tests build their pickles, zips and .npy files with CPython and NumPy.
    check: (env) => spawnSync(onPath('python3', env), ['-c', 'import numpy'], { stdio: 'ignore', env }).status === 0,
    why: 'pickles, zips and .npy files for the model scanner tests (python3 with NumPy)',
    packages: { apt: 'python3-numpy', dnf: 'python3-numpy', brew: 'numpy' },
  },
  {
    name: 'nginx',
    binaries: ['nginx'],
    // Debian installs it in /usr/sbin, which a non-root PATH often lacks.
    dirs: ['/usr/sbin'],
    why: 'a request-buffering reverse proxy in front of the registry (the resumable push tests)',
    packages: { apt: 'nginx-light', dnf: 'nginx', brew: 'nginx' },
  },
  {
    name: 'containerd',
    binaries: ['containerd', 'ctr'],
    all: true,
    // The containerd test starts its own daemon, which needs root; elsewhere it is skipped.
    onlyAsRoot: true,
    why: 'the containerd pull-and-unpack test, run as root',
    packages: { apt: 'containerd', dnf: 'containerd', brew: null },
  },
];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(binary, env) {
  for (const dir of (env.PATH ?? '').split(delimiter))
    if (dir && executable(join(dir, binary))) return join(dir, binary);
  return undefined;
}

function present(tool, env) {
  if (tool.env && env[tool.env]) return executable(env[tool.env]);
  const has = (b) => onPath(b, env) || (tool.dirs ?? []).some((d) => executable(join(d, b)));
  const found = tool.all ? tool.binaries.every(has) : tool.binaries.some(has);
  return found && (!tool.check || tool.check(env));
}

function missingTools(env, isRoot) {
  return TOOLS.filter((t) => (!t.onlyAsRoot || isRoot) && !present(t, env));
}

/** apt / dnf / brew from the OS; undefined where none is known. */
function packageManager() {
  if (process.platform === 'darwin') return 'brew';
  let osRelease = '';
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    return undefined;
  }
  const ids = (osRelease.match(/^(?:ID|ID_LIKE)=(.*)$/gm) ?? []).join(' ').replace(/["']/g, '');
  if (/\b(debian|ubuntu)\b/.test(ids)) return 'apt';
  if (/\b(fedora|rhel|centos)\b/.test(ids)) return 'dnf';
  return undefined;
}

function installCommand(missing, pm) {
  const pkgs = pm ? missing.map((t) => t.packages[pm]).filter(Boolean) : [];
  if (pm === 'apt' && pkgs.length) return `sudo apt-get install -y ${pkgs.join(' ')}`;
  if (pm === 'dnf' && pkgs.length) return `sudo dnf install -y ${pkgs.join(' ')}`;
  if (pm === 'brew' && pkgs.length) return `brew install ${pkgs.join(' ')}`;
  return `install ${missing.map((t) => t.name).join(', ')} with your package manager`;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

const env = process.env;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
let missing = missingTools(env, isRoot);
const pm = packageManager();
if (missing.length && isRoot && pm === 'apt' && env.MODELSHIP_TOOLS_NO_INSTALL !== '1') {
  const pkgs = missing.map((t) => t.packages.apt);
  process.stderr.write(`test tools: installing ${pkgs.join(' ')} with apt-get\n`);
  if (!run('apt-get', ['update', '-qq']) || !run('apt-get', ['install', '-y', '-qq', ...pkgs]))
    process.stderr.write('test tools: apt-get failed\n');
  // Debian's package starts a system registry on :5000; the tests start their own.
  if (pkgs.includes('docker-registry')) run('service', ['docker-registry', 'stop']);
  // Same for nginx on :80: the tests start their own on a free port.
  if (pkgs.includes('nginx-light')) run('service', ['nginx', 'stop']);
  missing = missingTools(env, isRoot);
}
if (missing.length) {
  process.stderr.write(
    `npm test needs ${missing.map((t) => `${t.name} (${t.why})`).join(', ')}: ${installCommand(missing, pm)}, then run npm test again\n`,
  );
  process.exit(1);
}
