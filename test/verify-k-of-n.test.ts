/**
 * `minSignatures` is k-of-n over distinct trusted signers, never over bundles or referrers:
 * a copy of a signature referrer (one annotation changed, so a new manifest digest) and a
 * second signature by the same key add nothing. Real keys, the real CLI, an OCI layout and the
 * real docker-registry (whose `sha256-<hex>` fallback index anyone with push access can extend).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  OciLayoutStore,
  RegistryStore,
  attachBundle,
  discoverBundles,
  type ContentStore,
  type SerializedBundleJson,
} from '@modelship/core';
import { packSample, runCli, type CliRun } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
let reg: TestRegistry;

beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.cleanup();
  tmp.cleanup();
});

function keyPair(name: string): { key: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = join(tmp.dir, `${name}.key`);
  const pub = join(tmp.dir, `${name}.pub`);
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  return { key, pub };
}

const alice = keyPair('alice');
const bob = keyPair('bob');

let policies = 0;
function policy(signers: string[], minSignatures: number): string {
  const p = join(tmp.dir, `policy-${++policies}.yaml`);
  writeFileSync(
    p,
    `version: 1\nsigners:\n${signers.map((s) => `  - ${s}\n`).join('')}minSignatures: ${minSignatures}\n`,
  );
  return p;
}
const keyFile = (k: { pub: string }): string => `key: { path: ${k.pub} }`;

interface Report {
  ok: boolean;
  checks: { rule: string; ok: boolean; detail: string }[];
  bundles: { referrer: string; bundle: string; trusted: boolean; reason?: string }[];
}

async function verifyJson(ref: string, policyPath: string): Promise<{ run: CliRun; report: Report }> {
  const run = await runCli(['verify', ref, '--policy', policyPath, '--plain-http', '--json']);
  expect(run.status === 0 || run.status === 9).toBe(true);
  return { run, report: JSON.parse(run.stdout) as Report };
}

function minSignatures(report: Report): { ok: boolean; detail: string } {
  const c = report.checks.find((x) => x.rule === 'minSignatures');
  expect(c).toBeDefined();
  return { ok: c!.ok, detail: c!.detail };
}

async function mustSign(ref: string, key: string): Promise<void> {
  const r = await runCli(['sign', ref, '--key', key, '--no-tlog', '--plain-http']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

/** Re-attaches the artifact's (only) signature bundle under a new `created` annotation: a new referrer, the same bundle. */
async function copyReferrer(store: ContentStore, digest: string): Promise<void> {
  const subject = await store.resolve(digest);
  const [found, ...more] = await discoverBundles(store, subject);
  expect(more).toEqual([]);
  const copy = await attachBundle(store, subject, found!.bundle as SerializedBundleJson, COSIGN_SIGN_PREDICATE_TYPE, {
    created: '2001-02-03T04:05:06Z',
  });
  expect(copy.referrer.digest).not.toBe(found!.referrer.digest);
  expect(copy.bundle.digest).toBe(found!.bundleDigest);
  // Both referrers are listed: only the bundle digest says they are one signature.
  const listed = (await store.referrers(subject)).map((r) => r.digest);
  expect(listed).toEqual(expect.arrayContaining([found!.referrer.digest, copy.referrer.digest]));
}

describe('minSignatures counts distinct trusted signers', () => {
  it('(a) registry: a copy of the signature referrer with one annotation changed counts once', async () => {
    const digest = await packSample(tmp.dir, `${reg.host}/acme/copied:v1`);
    const ref = `${reg.host}/acme/copied@${digest}`;
    await mustSign(ref, alice.key);
    const store = new RegistryStore({ registry: reg.host, repository: 'acme/copied', plainHttp: true });
    try {
      await copyReferrer(store, digest);
    } finally {
      await store.close();
    }
    const { run, report } = await verifyJson(ref, policy([keyFile(alice)], 2));
    expect(run.status).toBe(9);
    expect(minSignatures(report)).toEqual({
      ok: false,
      detail: '1 distinct trusted signer(s) (1 signature bundle(s)), policy requires 2',
    });
    // The copy is listed, but as what it is: the same bundle, not a second trusted signature.
    expect(report.bundles.filter((b) => b.trusted)).toHaveLength(1);
    expect(report.bundles).toHaveLength(2);
    const dup = report.bundles.find((b) => !b.trusted)!;
    expect(dup.reason).toMatch(/^same bundle as referrer sha256:[0-9a-f]{64} \(counted once\)$/);
  });

  it('(a) OCI layout: the same copy counts once there too', async () => {
    const layout = join(tmp.dir, 'copied-layout');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;
    await mustSign(ref, alice.key);
    const store = await OciLayoutStore.open(layout);
    try {
      await copyReferrer(store, digest);
    } finally {
      await store.close();
    }
    const { run, report } = await verifyJson(ref, policy([keyFile(alice)], 2));
    expect(run.status).toBe(9);
    expect(minSignatures(report).detail).toBe(
      '1 distinct trusted signer(s) (1 signature bundle(s)), policy requires 2',
    );
  });

  it('(b) one key signing twice is one signer, also when the policy lists that key twice', async () => {
    const layout = join(tmp.dir, 'twice-layout');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const ref = `oci:${layout}@${digest}`;
    await mustSign(ref, alice.key);
    await mustSign(ref, alice.key);
    for (const signers of [
      [keyFile(alice)],
      // The same public key by path and inline: still one key.
      [keyFile(alice), `key: { pem: ${JSON.stringify(readFileSync(alice.pub, 'utf8'))} }`],
    ]) {
      const { run, report } = await verifyJson(ref, policy(signers, 2));
      expect(run.status).toBe(9);
      expect(report.bundles.filter((b) => b.trusted)).toHaveLength(2);
      expect(minSignatures(report)).toEqual({
        ok: false,
        detail: '1 distinct trusted signer(s) (2 signature bundle(s)), policy requires 2',
      });
    }
    const text = await runCli(['verify', ref, '--policy', policy([keyFile(alice)], 2)]);
    expect(text.status).toBe(9);
    expect(text.stdout).toMatch(/^ {2}FAIL minSignatures: 1 distinct trusted signer\(s\) \(2 signature bundle\(s\)\)/m);
  });

  it('two different trusted keys meet minSignatures: 2 (registry)', async () => {
    const digest = await packSample(tmp.dir, `${reg.host}/acme/two-keys:v1`);
    const ref = `${reg.host}/acme/two-keys@${digest}`;
    await mustSign(ref, alice.key);
    const p = policy([keyFile(alice), keyFile(bob)], 2);
    expect((await verifyJson(ref, p)).run.status).toBe(9);
    await mustSign(ref, bob.key);
    await mustSign(ref, alice.key);
    const { run, report } = await verifyJson(ref, p);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(minSignatures(report)).toEqual({
      ok: true,
      detail: '2 distinct trusted signer(s) (3 signature bundle(s)), policy requires 2',
    });
    // A third key is not there: 3 of 3 fails.
    const carol = keyPair('carol');
    const three = await verifyJson(ref, policy([keyFile(alice), keyFile(bob), keyFile(carol)], 3));
    expect(three.run.status).toBe(9);
    expect(minSignatures(three.report).detail).toBe(
      '2 distinct trusted signer(s) (3 signature bundle(s)), policy requires 3',
    );
  });
});
