import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  ModelshipError,
  opt,
  defaultTufCacheDir,
  fetchTrustedRoot,
  parsePolicy,
  SIGSTORE_TUF_MIRROR,
  policyTrustSource,
  trustMaterial,
} from '@modelship/core';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startSigstoreStandins, type SigstoreStandins } from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';
import { startTufRepo, type TufRepoStandin } from './helpers/tuf.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const GITHUB_SIGNER =
  'github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }';

let cacheSeq = 0;
/** A fresh, empty TUF cache directory. */
const freshCache = (): string => join(tmp.dir, `cache-${++cacheSeq}`);

/**
 * Keyless bundles from the Sigstore stand-ins, verified through the TUF path: the stand-ins'
 * trusted_root.json is a target of a local TUF repository stand-in (real TUF metadata, real
 * ed25519 signatures, real HTTP) and the CLI gets it with --tuf-mirror / --tuf-root.
 */
describe('verify with the trusted root from a TUF repository', () => {
  let si: SigstoreStandins;
  let tuf: TufRepoStandin;
  let ref: string;
  let tufRoot: string;
  let keylessPolicy: string;
  let keyPolicy: string;
  let trustedRootJson: string;

  beforeAll(async () => {
    si = await startSigstoreStandins();
    trustedRootJson = JSON.stringify(si.trustedRoot);
    tuf = await startTufRepo({ 'trusted_root.json': trustedRootJson });
    tufRoot = join(tmp.dir, 'tuf-root.json');
    writeFileSync(tufRoot, tuf.initialRoot);

    const layout = join(tmp.dir, 'oci');
    ref = `oci:${layout}@${await packSample(tmp.dir, `oci:${layout}:v1`)}`;
    const keyless = await keylessCli(si, ['sign', ref], { via: 'actions' });
    expect(keyless.stderr).toBe('');
    expect(keyless.status).toBe(0);

    // The same artifact also carries a key signature, for the key-only policy.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const key = join(tmp.dir, 'release.key');
    const pub = join(tmp.dir, 'release.pub');
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    expect((await runCli(['sign', ref, '--key', key, '--no-tlog'])).status).toBe(0);

    keylessPolicy = join(tmp.dir, 'keyless.yaml');
    writeFileSync(keylessPolicy, `version: 1\nsigners:\n  - ${GITHUB_SIGNER}\n`);
    keyPolicy = join(tmp.dir, 'key.yaml');
    writeFileSync(keyPolicy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);
  });
  afterAll(async () => {
    await tuf?.stop();
    await si?.stop();
  });
  beforeEach(() => {
    tuf.clearOverrides();
    tuf.requests.length = 0;
  });

  const verify = (cache: string, extra: string[] = [], policy = keylessPolicy) =>
    runCli([
      'verify',
      ref,
      '--policy',
      policy,
      '--tuf-mirror',
      tuf.url,
      '--tuf-root',
      tufRoot,
      '--tuf-cache',
      cache,
      ...extra,
    ]);

  describe('fetch, cache, offline', () => {
    const cache = freshCache();

    it('verifies keyless bundles with trusted_root.json fetched through the TUF client workflow', async () => {
      const r = await verify(cache);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^PASS/);
      expect(r.stdout).toMatch(
        /trusted\s+https:\/\/sigstore\.dev\/cosign\/sign\/v1 https:\/\/github\.com\/acme\/models/,
      );
      // Root probe, then timestamp -> snapshot -> targets -> the target by its hash (consistent snapshots).
      expect(tuf.requests).toEqual([
        '2.root.json',
        'timestamp.json',
        `${tuf.versions.snapshot}.snapshot.json`,
        `${tuf.versions.targets}.targets.json`,
        tuf.targetPath('trusted_root.json'),
      ]);
      // Cached per mirror (host and port), as @sigstore/tuf lays it out.
      const [repoDir] = readdirSync(cache);
      expect(decodeURIComponent(repoDir!)).toBe(new URL(tuf.url).host);
      expect(readdirSync(join(cache, repoDir!)).sort()).toEqual([
        'root.json',
        'snapshot.json',
        'targets',
        'targets.json',
        'timestamp.json',
      ]);
    });

    it('a second run only checks root and timestamp; snapshot, targets and the target come from the cache', async () => {
      const r = await verify(cache);
      expect(r.status).toBe(0);
      expect(tuf.requests).toEqual(['2.root.json', 'timestamp.json']);
    });

    it('picks up a new repository state (new timestamp/snapshot/targets versions) on the next run', async () => {
      tuf.publish();
      const r = await verify(cache);
      expect(r.status).toBe(0);
      expect(tuf.requests).toEqual([
        '2.root.json',
        'timestamp.json',
        `${tuf.versions.snapshot}.snapshot.json`,
        `${tuf.versions.targets}.targets.json`,
      ]);
    });

    it('with the mirror down: --tuf-offline verifies from the unexpired cache; online is NETWORK with the air-gap hint', async () => {
      await tuf.stop();
      try {
        const off = await verify(cache, ['--tuf-offline']);
        expect(off.stderr).toBe('');
        expect(off.status).toBe(0);
        expect(off.stdout).toMatch(/^PASS/);

        const on = await verify(cache);
        expect(on.status).toBe(7);
        expect(on.stderr).toMatch(/cannot reach the TUF repository http:\/\/127\.0\.0\.1:\d+/);
        expect(on.stderr).toMatch(/trust\.trustedRoot/);
        expect(on.stderr).toMatch(/--tuf-offline/);
      } finally {
        await tuf.start();
      }
      expect(tuf.requests).toEqual([]);
    });
  });

  it('mirror down with an empty cache is NETWORK (exit 7), also with --tuf-offline, hinting at a pinned root', async () => {
    await tuf.stop();
    try {
      for (const extra of [[], ['--tuf-offline']]) {
        const r = await verify(freshCache(), extra);
        expect(r.status).toBe(7);
        expect(r.stderr).toMatch(/cannot reach the TUF repository/);
        expect(r.stderr).toMatch(
          /pin the root instead for air-gapped use: trust\.trustedRoot in the policy or --trusted-root/,
        );
        if (extra.length) expect(r.stderr).toMatch(/offline cache is empty or expired/);
      }
    } finally {
      await tuf.start();
    }
  });

  it('policy trust.tufMirror and a relative trust.tufRoot, cache from MODELSHIP_TUF_CACHE', async () => {
    const dir = join(tmp.dir, 'policy-dir');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'root.json'), tuf.initialRoot);
    const p = join(dir, 'policy.yaml');
    writeFileSync(
      p,
      `version: 1\nsigners:\n  - ${GITHUB_SIGNER}\ntrust:\n  tufMirror: ${tuf.url}/\n  tufRoot: root.json\n`,
    );
    const cache = freshCache();
    const r = await runCli(['verify', ref, '--policy', p], { env: { MODELSHIP_TUF_CACHE: cache } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(tuf.requests).toContain(tuf.targetPath('trusted_root.json'));
    expect(existsSync(join(cache, encodeURIComponent(new URL(tuf.url).host), 'timestamp.json'))).toBe(true);
  });

  describe('TUF verification failures are INVALID (exit 4) and name TUF', () => {
    it('targets metadata changed after signing (a forged trusted root behind it)', async () => {
      const forged = JSON.stringify({ ...JSON.parse(trustedRootJson), tlogs: [] });
      const targetsPath = `${tuf.versions.targets}.targets.json`;
      const md = JSON.parse(tuf.file(targetsPath)!.toString('utf8')) as {
        signed: { targets: Record<string, { length: number; hashes: { sha256: string } }> };
      };
      const sha256 = createHash('sha256').update(forged).digest('hex');
      md.signed.targets['trusted_root.json'] = { length: forged.length, hashes: { sha256 } };
      tuf.override(targetsPath, JSON.stringify(md));
      tuf.override(`targets/${sha256}.trusted_root.json`, forged);
      const r = await verify(freshCache());
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(
        /TUF metadata from http:\/\/127\.0\.0\.1:\d+ failed verification: .*targets was signed by 0\/1 keys/,
      );
      expect(tuf.requests).not.toContain(`targets/${sha256}.trusted_root.json`);
    });

    it('a target file whose hash does not match the signed targets metadata', async () => {
      const path = tuf.targetPath('trusted_root.json');
      const good = tuf.file(path)!.toString('utf8');
      // Same length, one byte different: only the hash can tell.
      const i = good.indexOf('sigstore.mock');
      tuf.override(path, `${good.slice(0, i)}S${good.slice(i + 1)}`);
      const r = await verify(freshCache());
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/TUF metadata from .* failed verification: .*hash/i);
    });

    it('an expired timestamp', async () => {
      tuf.publish({ timestampExpiresDays: -1 });
      try {
        const r = await verify(freshCache());
        expect(r.status).toBe(4);
        expect(r.stderr).toMatch(/TUF metadata .* failed verification: Final timestamp\.json is expired/);
      } finally {
        tuf.publish();
      }
    });

    it('a rollback to an older timestamp than the cached one', async () => {
      const cache = freshCache();
      const old = tuf.snapshotFiles();
      tuf.publish();
      expect((await verify(cache)).status).toBe(0);
      const newer = tuf.snapshotFiles();
      tuf.restoreFiles(old);
      try {
        const r = await verify(cache);
        expect(r.status).toBe(4);
        expect(r.stderr).toMatch(
          /TUF metadata .* failed verification: New timestamp version \d+ is less than current version \d+/,
        );
      } finally {
        tuf.restoreFiles(newer);
      }
    });

    it('metadata signed by keys the pinned initial root does not trust (another repository)', async () => {
      const other = await startTufRepo({ 'trusted_root.json': trustedRootJson });
      try {
        const otherRoot = join(tmp.dir, 'other-root.json');
        writeFileSync(otherRoot, other.initialRoot);
        const r = await runCli([
          'verify',
          ref,
          '--policy',
          keylessPolicy,
          '--tuf-mirror',
          tuf.url,
          '--tuf-root',
          otherRoot,
          '--tuf-cache',
          freshCache(),
        ]);
        expect(r.status).toBe(4);
        expect(r.stderr).toMatch(/TUF metadata .* failed verification: timestamp was signed by 0\/1 keys/);
      } finally {
        await other.stop();
      }
    });
  });

  describe('a key-only policy never contacts a TUF mirror', () => {
    it('with --tuf-mirror given', async () => {
      const r = await verify(freshCache(), [], keyPolicy);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^PASS/);
      expect(tuf.requests).toEqual([]);
    });

    it('with the public-good default (no network here: a fetch would fail)', async () => {
      const cache = freshCache();
      const r = await runCli(['verify', ref, '--policy', keyPolicy], { env: { MODELSHIP_TUF_CACHE: cache } });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(existsSync(cache)).toBe(false);
    });
  });

  describe('actions/verify through dist/verify/index.js', () => {
    it('tuf-mirror / tuf-root / tuf-cache inputs, then tuf-offline with the mirror down', async () => {
      const cache = freshCache();
      const inputs = {
        reference: ref,
        policy: keylessPolicy,
        'tuf-mirror': tuf.url,
        'tuf-root': tufRoot,
        'tuf-cache': cache,
      };
      const r = await runAction('verify', inputs, tmp.dir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.outputs.verified).toBe('true');
      expect(tuf.requests).toContain(tuf.targetPath('trusted_root.json'));
      await tuf.stop();
      try {
        const off = await runAction('verify', { ...inputs, 'tuf-offline': 'true' }, tmp.dir);
        expect(off.status).toBe(0);
        expect(off.outputs.verified).toBe('true');
        const on = await runAction('verify', inputs, tmp.dir);
        expect(on.status).toBe(1);
        expect(on.stdout).toMatch(/::error::NETWORK: cannot reach the TUF repository/);
      } finally {
        await tuf.start();
      }
    });
  });

  describe('usage errors', () => {
    it('--trusted-root together with --tuf-mirror is USAGE (exit 2)', async () => {
      const root = join(tmp.dir, 'trusted_root.json');
      writeFileSync(root, trustedRootJson);
      const r = await verify(freshCache(), ['--trusted-root', root]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(
        /--tuf-mirror and --tuf-root cannot apply: the trusted root is pinned \(--trusted-root\)/,
      );
    });

    it('a mirror other than public-good without --tuf-root is USAGE naming the flag', async () => {
      const r = await runCli([
        'verify',
        ref,
        '--policy',
        keylessPolicy,
        '--tuf-mirror',
        tuf.url,
        '--tuf-cache',
        freshCache(),
      ]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/no initial TUF root for mirror http:\/\/127\.0\.0\.1:\d+/);
      expect(r.stderr).toMatch(/--tuf-root FILE/);
      expect(tuf.requests).toEqual([]);
    });

    it('--tuf-root naming a Sigstore trusted_root.json instead of a TUF root is INPUT (exit 3)', async () => {
      const root = join(tmp.dir, 'trusted_root.json');
      writeFileSync(root, trustedRootJson);
      const r = await runCli([
        'verify',
        ref,
        '--policy',
        keylessPolicy,
        '--tuf-mirror',
        tuf.url,
        '--tuf-root',
        root,
        '--tuf-cache',
        freshCache(),
      ]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/is not TUF root metadata/);
      expect(r.stderr).toMatch(/--trusted-root/);
    });

    it('a policy with both trust.trustedRoot and trust.tufMirror is INPUT with the line', async () => {
      const p = join(tmp.dir, 'both.yaml');
      writeFileSync(
        p,
        `version: 1\nsigners:\n  - ${GITHUB_SIGNER}\ntrust:\n  trustedRoot: r.json\n  tufMirror: ${tuf.url}\n`,
      );
      const r = await runCli(['verify', ref, '--policy', p]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/both\.yaml:6: trust\.tufMirror has no effect with trust\.trustedRoot/);
    });
  });

  describe('core API', () => {
    it('fetchTrustedRoot returns the decoded TrustedRoot; trustMaterial({ tuf }) uses it', async () => {
      const opts = { mirrorURL: tuf.url, rootPath: tufRoot, cachePath: freshCache() };
      const root = await fetchTrustedRoot(opts);
      expect(root.certificateAuthorities).toHaveLength(1);
      expect(root.certificateAuthorities[0]!.uri).toBe(si.fulcioURL);
      const trust = await trustMaterial({ tuf: opts });
      expect(trust.hasRoot).toBe(true);
      expect(trust.root).toEqual({ kind: 'tuf', mirrorURL: tuf.url });
      expect(trust.material.certificateAuthorities).toHaveLength(1);
    });

    it('concurrent fetches on one cache share one TUF refresh', async () => {
      const opts = { mirrorURL: tuf.url, rootPath: tufRoot, cachePath: freshCache() };
      const roots = await Promise.all([fetchTrustedRoot(opts), fetchTrustedRoot(opts), fetchTrustedRoot(opts)]);
      expect(roots.map((r) => r.certificateAuthorities[0]!.uri)).toEqual([si.fulcioURL, si.fulcioURL, si.fulcioURL]);
      expect(tuf.requests.filter((r) => r === 'timestamp.json')).toHaveLength(1);
      expect(tuf.requests.filter((r) => r === tuf.targetPath('trusted_root.json'))).toHaveLength(1);
    });

    it('a pinned root wins over TUF options and nothing is fetched', async () => {
      const trust = await trustMaterial({
        trustedRoot: si.trustedRoot,
        tuf: { mirrorURL: tuf.url, rootPath: tufRoot },
      });
      expect(trust.root).toEqual({ kind: 'pinned' });
      expect(tuf.requests).toEqual([]);
    });
  });
});

describe('policyTrustSource', () => {
  const keyless = parsePolicy(`version: 1\nsigners:\n  - ${GITHUB_SIGNER}\n`, 'p.yaml');
  const withTuf = parsePolicy(
    `version: 1\nsigners:\n  - ${GITHUB_SIGNER}\ntrust: { tufMirror: "https://tuf.example.com/", tufRoot: r.json }\n`,
    'p.yaml',
    { baseDir: '/etc/ms' },
  );
  const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString();
  const keyOnly = parsePolicy(`version: 1\nsigners:\n  - key: { pem: ${JSON.stringify(pem)} }\n`, 'k.yaml');

  it('parses trust.tufMirror (trailing slash dropped) and resolves trust.tufRoot against the policy dir', () => {
    expect(withTuf.trust).toEqual({ tufMirror: 'https://tuf.example.com', tufRoot: '/etc/ms/r.json' });
  });

  it('refuses a non-http(s) trust.tufMirror with the line', () => {
    expect(() =>
      parsePolicy(`version: 1\nsigners:\n  - ${GITHUB_SIGNER}\ntrust:\n  tufMirror: file:///tmp/x\n`, 'p.yaml'),
    ).toThrow(/p\.yaml:5: trust\.tufMirror must be an http\(s\) URL/);
  });

  it('keyless policy: public-good TUF by default; the policy mirror and root; flags win', () => {
    expect(policyTrustSource(keyless)).toEqual({ tuf: {} });
    expect(policyTrustSource(withTuf)).toEqual({
      tuf: { mirrorURL: 'https://tuf.example.com', rootPath: '/etc/ms/r.json' },
    });
    expect(policyTrustSource(withTuf, { tuf: { rootPath: '/x.json', offline: true } })).toEqual({
      tuf: { mirrorURL: 'https://tuf.example.com', rootPath: '/x.json', offline: true },
    });
    // Another mirror on the command line: the policy's root belongs to the policy's mirror.
    expect(policyTrustSource(withTuf, { tuf: { mirrorURL: 'https://other.example.com' } })).toEqual({
      tuf: { mirrorURL: 'https://other.example.com' },
    });
    expect(policyTrustSource(withTuf, { tuf: { mirrorURL: 'https://tuf.example.com/' } })).toEqual({
      tuf: { mirrorURL: 'https://tuf.example.com/', rootPath: '/etc/ms/r.json' },
    });
  });

  it('key-only policy: no TUF at all; a pinned root is passed through', () => {
    expect(policyTrustSource(keyOnly, { tuf: { mirrorURL: 'https://tuf.example.com' } })).toEqual({});
    expect(policyTrustSource(keyless, { trustedRootPath: '/r.json' })).toEqual({ trustedRootPath: '/r.json' });
  });

  it('a pinned root together with TUF mirror/root flags is USAGE', () => {
    const pinned = parsePolicy(
      `version: 1\nsigners:\n  - ${GITHUB_SIGNER}\ntrust: { trustedRoot: /r.json }\n`,
      'p.yaml',
    );
    let err: unknown;
    try {
      policyTrustSource(pinned, { tuf: { mirrorURL: 'https://tuf.example.com' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelshipError);
    expect(err).toMatchObject({
      code: 'USAGE',
    });
    expect((err as ModelshipError).template.message).toBe(
      `${opt('tufMirror')} cannot apply: the trusted root is pinned (trust.trustedRoot in p.yaml)`,
    );
    // Cache and offline settings do not conflict with a pinned root.
    expect(policyTrustSource(pinned, { tuf: { offline: true, cachePath: '/c' } })).toEqual({
      trustedRootPath: '/r.json',
    });
  });
});

describe('defaultTufCacheDir', () => {
  it('MODELSHIP_TUF_CACHE, else tuf/ in the modelship cache dir (MODELSHIP_CACHE_DIR, XDG_CACHE_HOME, ~/.cache)', () => {
    expect(
      defaultTufCacheDir({ MODELSHIP_TUF_CACHE: '/c/tuf', MODELSHIP_CACHE_DIR: '/m', XDG_CACHE_HOME: '/xdg' }),
    ).toBe('/c/tuf');
    expect(defaultTufCacheDir({ MODELSHIP_CACHE_DIR: '/m', XDG_CACHE_HOME: '/xdg' })).toBe('/m/tuf');
    expect(defaultTufCacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/modelship/tuf');
    expect(defaultTufCacheDir({})).toBe(join(homedir(), '.cache', 'modelship', 'tuf'));
  });
});

describe('SIGSTORE_TUF_MIRROR', () => {
  it('is the library default (kept as a literal so @sigstore/tuf loads only when used)', async () => {
    expect(SIGSTORE_TUF_MIRROR).toBe((await import('@sigstore/tuf')).DEFAULT_MIRROR_URL);
  });
});
