import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROMOTION_PREDICATE_TYPE } from '@modelship/core';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();

function keyPair(name: string): { key: string; pub: string; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(key, pem, { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub, pem };
}

describe('actions/promote through dist/promote/index.js', () => {
  let src: TestRegistry;
  let dst: TestRegistry;
  let digest: string;
  let layout: string;
  const release = keyPair('release');
  const promoter = keyPair('promoter');
  const policy = join(tmp.dir, 'policy.yaml');
  const users = { alice: 'alice-source-secret-1', bob: 'bob-destination-secret-2' };

  beforeAll(async () => {
    // Each side has its own credentials: alice only on the source, bob only on the destination.
    [src, dst] = await Promise.all([
      startRegistry({ auth: 'htpasswd', users: { alice: users.alice } }),
      startRegistry({ auth: 'htpasswd', users: { bob: users.bob } }),
    ]);
    layout = join(tmp.dir, 'oci');
    digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;
    expect((await runCli(['sign', ref, '--key', release.key, '--no-tlog'])).status).toBe(0);
    expect((await runCli(['attest', ref, '--type', 'slsa', '--key', release.key, '--no-tlog'])).status).toBe(0);
    const pushed = await runCli(
      ['push', `oci:${layout}:v1`, `${src.host}/staging/model:v1`, '--plain-http', '--no-progress', '-u', 'alice'],
      { env: { MODELSHIP_REGISTRY_PASSWORD: users.alice } },
    );
    expect(pushed.stderr).toBe('');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - key: { path: ${release.pub} }\n  - key: { path: ${promoter.pub} }\n`,
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all([src?.cleanup(), dst?.cleanup()]);
    tmp.cleanup();
  });

  const inputs = (extra: Record<string, string> = {}): Record<string, string> => ({
    source: `${src.host}/staging/model:v1`,
    destination: `${dst.host}/prod/model`,
    policy,
    tags: 'v1\nstable',
    'plain-http': 'true',
    'source-username': 'alice',
    'source-password': users.alice,
    'destination-username': 'bob',
    'destination-password': users.bob,
    key: promoter.pem,
    tlog: 'false',
    ...extra,
  });

  it('promotes with per-side credentials: outputs, summary, masked secrets, record at the destination', async () => {
    const r = await runAction('promote', inputs(), tmp.dir, { GITHUB_ACTOR: 'octocat' });
    expect(r.stdout).not.toMatch(/::error::/);
    expect(r.status).toBe(0);
    expect(r.outputs.digest).toBe(digest);
    expect(r.outputs.reference).toBe(`${dst.host}/prod/model@${digest}`);
    expect(Number(r.outputs['blobs-copied'])).toBeGreaterThan(0);
    expect(r.outputs['blobs-mounted']).toBe('0');
    expect(r.outputs['blobs-skipped']).toBe('0');
    expect(Number(r.outputs['bytes-copied'])).toBeGreaterThan(0);
    expect(r.outputs['referrers-copied']).toBe('2');
    expect(r.outputs['record-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((JSON.parse(readFileSync(r.outputs['report-path']!, 'utf8')) as { ok: boolean }).ok).toBe(true);
    // Every secret is masked before anything could print it.
    for (const secret of [users.alice, users.bob]) expect(r.stdout).toContain(`::add-mask::${secret}`);
    expect(r.stdout).toContain('::add-mask::');
    expect(r.summary).toContain('modelship promote');
    expect(r.summary).toContain('Referrers copied');
    expect(r.summary).toContain(r.outputs['record-digest']!);

    const v = await runCli(
      ['verify', `${dst.host}/prod/model:stable`, '--policy', policy, '--plain-http', '-u', 'bob', '--json'],
      { env: { MODELSHIP_REGISTRY_PASSWORD: users.bob } },
    );
    expect(v.status).toBe(0);
    const report = JSON.parse(v.stdout) as {
      bundles: { referrer: string; predicateType?: string; trusted: boolean }[];
    };
    const record = report.bundles.find((b) => b.referrer === r.outputs['record-digest']);
    expect(record).toMatchObject({ predicateType: PROMOTION_PREDICATE_TYPE, trusted: true });
  });

  it('a wrong destination password is an AUTH failure; the source side still worked', async () => {
    const r = await runAction('promote', inputs({ 'destination-password': 'not-bobs-password' }), tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::AUTH: /);
    const unmasked = r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(unmasked.join('\n')).not.toContain('not-bobs-password');
  });

  it('refuses (POLICY) with a summary of the failed rules, writing nothing to the destination', async () => {
    const strict = join(tmp.dir, 'strict.yaml');
    writeFileSync(
      strict,
      `version: 1\nsigners:\n  - key: { path: ${release.pub} }\nrequire:\n  predicates: [https://modelship.dev/attestations/mof/v0.1]\n`,
    );
    dst.clearAccessLog();
    const out = join(tmp.dir, 'never-oci');
    const r = await runAction('promote', inputs({ policy: strict }), tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::POLICY: .*require\.predicates/);
    expect(r.summary).toContain('modelship promote: REFUSED');
    expect(r.outputs['report-path']).toBeTruthy();
    expect(dst.accessLog()).toEqual([]);
    const r2 = await runAction('promote', inputs({ policy: strict, destination: `oci:${out}` }), tmp.dir);
    expect(r2.status).toBe(1);
    expect(existsSync(out)).toBe(false);
  });

  it('without a key and without id-token permission the record cannot be signed: AUTH with the permissions hint; record: false promotes', async () => {
    const r = await runAction(
      'promote',
      inputs({ key: '', tlog: '', destination: `${dst.host}/other/model` }),
      tmp.dir,
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::AUTH: .*id-token: write/);

    const out = join(tmp.dir, 'prod-oci');
    const ok = await runAction(
      'promote',
      inputs({ key: '', tlog: '', record: 'false', destination: `oci:${out}:v1` }),
      tmp.dir,
    );
    expect(ok.stdout).not.toMatch(/::error::/);
    expect(ok.status).toBe(0);
    expect(ok.outputs['record-digest']).toBe('');
    expect(ok.outputs.reference).toBe(`oci:${out}@${digest}`);
    expect((await runCli(['verify', `oci:${out}:v1`, '--policy', policy])).status).toBe(0);
  });
});
