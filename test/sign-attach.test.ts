import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUNDLE_V03_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE_TYPE,
  OciLayoutStore,
  RegistryStore,
  referrersFallbackTag,
  type Descriptor,
  type Index,
  type Manifest,
  type SerializedBundleJson,
} from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { verifyWithKey } from './helpers/verify.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { CLI, copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function writeKey(name: string): { path: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const path = join(tmp.dir, `${name}.key`);
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { path, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

interface SignJson {
  digest: string;
  bundleDigest: string;
  referrerDigest: string;
  signer: { kind: string; subject: string; keyHint?: string };
  tlogEntries: unknown[];
  bundlePath?: string;
}

describe('sign with a key, attach to a real docker-registry', () => {
  let reg: TestRegistry;
  let digest: string;
  const key = () => writeKey('k1');
  let k: { path: string; publicPem: string };
  beforeAll(async () => {
    reg = await startRegistry();
    k = key();
    digest = await packSample(tmp.dir, `${reg.host}/acme/model:v1`);
  });
  afterAll(async () => reg?.cleanup());

  it('signs by tag, attaches a cosign-layout referrer and a verifiable bundle', async () => {
    const out = join(tmp.dir, 'sig1.sigstore.json');
    const r = await runCli([
      'sign',
      `${reg.host}/acme/model:v1`,
      '--key',
      k.path,
      '--no-tlog',
      '--plain-http',
      '--json',
      '--bundle-out',
      out,
      '-a',
      'team=ml',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as SignJson;
    expect(j.digest).toBe(digest);
    expect(j.signer.kind).toBe('key');
    expect(j.tlogEntries).toEqual([]); // no transparency log unless asked

    const store = new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });
    try {
      const subject: Descriptor = await store.resolve(digest);
      const refs = await store.referrers(subject);
      expect(refs.map((d) => d.digest)).toContain(j.referrerDigest);
      const entry = refs.find((d) => d.digest === j.referrerDigest)!;
      expect(entry.artifactType).toBe(BUNDLE_V03_MEDIA_TYPE);
      expect(entry.annotations?.['dev.sigstore.bundle.predicateType']).toBe(COSIGN_SIGN_PREDICATE_TYPE);
      const m = JSON.parse((await store.fetchBytes(entry)).toString()) as Manifest;
      expect(m.artifactType).toBe(BUNDLE_V03_MEDIA_TYPE);
      expect(m.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
      expect(m.subject?.digest).toBe(digest);
      expect(m.layers).toHaveLength(1);
      expect(m.annotations?.['dev.sigstore.bundle.content']).toBe('dsse-envelope');
      expect(m.annotations?.['org.opencontainers.image.created']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const bundle = JSON.parse((await store.fetchBytes(m.layers[0]!)).toString()) as SerializedBundleJson;
      expect(bundle.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);
      expect(readFileSync(out).equals(Buffer.from(JSON.stringify(bundle)))).toBe(true);
      const statement = verifyWithKey(bundle, k.publicPem);
      expect(statement.subject[0]!.digest['sha256']).toBe(digest.slice(7));
      expect(statement.subject[0]!.annotations).toEqual({ team: 'ml' });
      // the fallback index (distribution 2.8 has no referrers API)
      const index = JSON.parse(
        (await store.fetchBytes(await store.resolve(referrersFallbackTag(digest)))).toString(),
      ) as Index;
      expect(index.manifests.map((d) => d.digest)).toContain(j.referrerDigest);
    } finally {
      await store.close();
    }
  });

  it('a second signature is added, never replaces the first (fallback index keeps both)', async () => {
    const k2 = writeKey('k2');
    const r = await runCli([
      'sign',
      `${reg.host}/acme/model@${digest}`,
      '--key',
      k2.path,
      '--no-tlog',
      '--plain-http',
      '--json',
    ]);
    expect(r.status).toBe(0);
    const store = new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });
    try {
      const refs = await store.referrers(await store.resolve(digest));
      expect(refs.filter((d) => d.artifactType === BUNDLE_V03_MEDIA_TYPE).length).toBeGreaterThanOrEqual(2);
    } finally {
      await store.close();
    }
  });

  it('keeps the fallback index valid after concurrent signs from two processes', async () => {
    const k3 = writeKey('k3');
    const k4 = writeKey('k4');
    const before = await countReferrers(reg, digest);
    const runOne = (keyPath: string) =>
      new Promise<number | null>((resolve) => {
        const c = spawn(
          process.execPath,
          [CLI, 'sign', `${reg.host}/acme/model@${digest}`, '--key', keyPath, '--no-tlog', '--plain-http'],
          {
            stdio: 'ignore',
          },
        );
        c.on('close', resolve);
      });
    const codes = await Promise.all([runOne(k3.path), runOne(k4.path), runOne(k3.path), runOne(k4.path)]);
    expect(codes).toEqual([0, 0, 0, 0]);
    expect(await countReferrers(reg, digest)).toBe(before + 4);
  });

  it('refuses a digest that is not in the registry, writing nothing', async () => {
    const missing = 'sha256:' + 'ab'.repeat(32);
    const r = await runCli(['sign', `${reg.host}/acme/model@${missing}`, '--key', k.path, '--no-tlog', '--plain-http']);
    expect(r.status).toBe(6);
    expect(r.stderr).toContain(missing);
    const store = new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });
    try {
      expect(
        await store.exists({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: missing, size: 0 }),
      ).toBe(false);
      await expect(store.resolve(referrersFallbackTag(missing))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await store.close();
    }
  });

  it('bad keys: missing file (3), unsupported type (3), wrong password (5)', async () => {
    const missing = await runCli([
      'sign',
      `${reg.host}/acme/model:v1`,
      '--key',
      join(tmp.dir, 'nope.key'),
      '--no-tlog',
      '--plain-http',
    ]);
    expect(missing.status).toBe(3);
    expect(missing.stderr).toContain('nope.key');

    // secp256k1: no sigstore algorithm, so neither cosign nor modelship signs with it
    const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    writeFileSync(join(tmp.dir, 'k256.key'), k256);
    const r1 = await runCli([
      'sign',
      `${reg.host}/acme/model:v1`,
      '--key',
      join(tmp.dir, 'k256.key'),
      '--no-tlog',
      '--plain-http',
    ]);
    expect(r1.status).toBe(3);
    expect(r1.stderr).toMatch(/unsupported key type/);

    const enc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'right-password',
    });
    writeFileSync(join(tmp.dir, 'enc.key'), enc);
    const r2 = await runCli(
      ['sign', `${reg.host}/acme/model:v1`, '--key', join(tmp.dir, 'enc.key'), '--no-tlog', '--plain-http'],
      {
        env: { MODELSHIP_KEY_PASSWORD: 'wrong-password' },
      },
    );
    expect(r2.status).toBe(5);
    expect(r2.stderr).not.toContain('wrong-password');
    const r3 = await runCli(
      ['sign', `${reg.host}/acme/model:v1`, '--key', join(tmp.dir, 'enc.key'), '--no-tlog', '--plain-http', '--json'],
      {
        env: { COSIGN_PASSWORD: 'right-password' },
      },
    );
    expect(r3.status).toBe(0);
  });
});

async function countReferrers(reg: TestRegistry, digest: string): Promise<number> {
  const store = new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });
  try {
    return (await store.referrers(await store.resolve(digest))).length;
  } finally {
    await store.close();
  }
}

describe('sign into an OCI layout', () => {
  it('attaches the referrer in index.json and it verifies', async () => {
    const model = copySample(tmp.dir, 'layout-model');
    const layout = join(tmp.dir, 'oci');
    expect((await runCli(['pack', model, '--output', `${layout}:v1`, '--no-cache'])).status).toBe(0);
    const k = writeKey('lk');
    const r = await runCli(['sign', `oci:${layout}:v1`, '--key', k.path, '--no-tlog', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as SignJson;
    const store = await OciLayoutStore.open(layout);
    const refs = await store.referrers(await store.resolve(j.digest), BUNDLE_V03_MEDIA_TYPE);
    expect(refs.map((d) => d.digest)).toEqual([j.referrerDigest]);
    const m = JSON.parse((await store.fetchBytes(refs[0]!)).toString()) as Manifest;
    const bundle = JSON.parse((await store.fetchBytes(m.layers[0]!)).toString()) as SerializedBundleJson;
    expect(verifyWithKey(bundle, k.publicPem).subject[0]!.digest['sha256']).toBe(j.digest.slice(7));
    // a tampered bundle does not verify
    const tampered = JSON.parse(JSON.stringify(bundle)) as SerializedBundleJson;
    const sig = Buffer.from(tampered.dsseEnvelope!.signatures[0]!.sig, 'base64');
    sig[sig.length - 1] ^= 1;
    tampered.dsseEnvelope!.signatures[0]!.sig = sig.toString('base64');
    expect(() => verifyWithKey(tampered, k.publicPem)).toThrow();
  });
});
