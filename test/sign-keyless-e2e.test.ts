import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { BUNDLE_V03_MEDIA_TYPE, RegistryStore, type Manifest, type SerializedBundleJson } from '@modelship/core';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import {
  GITHUB_ACTIONS_ISSUER,
  STANDIN_WORKFLOW_SAN,
  startSigstoreStandins,
  type SigstoreStandins,
} from './helpers/sigstore.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function verify(bundle: SerializedBundleJson, root: Record<string, unknown>): void {
  const tm = toTrustMaterial(TrustedRoot.fromJSON(root));
  const anchored = `^${STANDIN_WORKFLOW_SAN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  new Verifier(tm, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }).verify(
    toSignedEntity(bundleFromJSON(bundle)),
    { subjectAlternativeName: anchored, extensions: { issuer: GITHUB_ACTIONS_ISSUER } },
  );
}

/** Keyless signing end to end, offline: Fulcio, Rekor, TSA and the Actions OIDC endpoint are local stand-ins. */
describe('keyless sign: CLI and action against stand-ins and a real docker-registry', () => {
  let reg: TestRegistry;
  let si: SigstoreStandins;
  let digest: string;
  let actionsEnv: Record<string, string>;
  beforeAll(async () => {
    [reg, si] = await Promise.all([startRegistry(), startSigstoreStandins()]);
    digest = await packSample(tmp.dir, `${reg.host}/acme/model:v1`);
    actionsEnv = {
      GITHUB_ACTIONS: 'true',
      ACTIONS_ID_TOKEN_REQUEST_URL: si.oidc.requestURL,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: si.oidc.requestToken,
    };
  });
  afterAll(async () => Promise.all([reg?.cleanup(), si?.stop()]));

  const serviceFlags = () => [
    '--fulcio-url',
    si.fulcioURL,
    '--rekor-url',
    si.rekorURL,
    '--tsa-url',
    si.tsaURL,
    '--rekor-entry-type',
    'intoto',
  ];

  async function referrerBundles(): Promise<SerializedBundleJson[]> {
    const store = new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });
    try {
      const refs = await store.referrers(await store.resolve(digest), BUNDLE_V03_MEDIA_TYPE);
      const out: SerializedBundleJson[] = [];
      for (const r of refs) {
        const m = JSON.parse((await store.fetchBytes(r)).toString()) as Manifest;
        out.push(JSON.parse((await store.fetchBytes(m.layers[0]!)).toString()) as SerializedBundleJson);
      }
      return out;
    } finally {
      await store.close();
    }
  }

  it('CLI: signs with the workflow identity; the attached bundle verifies against the stand-ins root', async () => {
    const r = await runCli(['sign', `${reg.host}/acme/model@${digest}`, ...serviceFlags(), '--plain-http', '--json'], {
      env: actionsEnv,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { signer: { subject: string; issuer: string }; tlogEntries: unknown[] };
    expect(j.signer).toMatchObject({ kind: 'keyless', subject: STANDIN_WORKFLOW_SAN, issuer: GITHUB_ACTIONS_ISSUER });
    expect(j.tlogEntries).toHaveLength(1);
    const bundles = await referrerBundles();
    expect(bundles).toHaveLength(1);
    expect(bundles[0]!.verificationMaterial['certificate']).toBeDefined();
    verify(bundles[0]!, si.trustedRoot);
    const flipped = JSON.parse(JSON.stringify(bundles[0])) as SerializedBundleJson;
    const p = Buffer.from(flipped.dsseEnvelope!.payload, 'base64');
    p[p.length - 2] ^= 1;
    flipped.dsseEnvelope!.payload = p.toString('base64');
    expect(() => verify(flipped, si.trustedRoot)).toThrow();
  });

  it('action: keyless through dist/sign/index.js, summary names signer and log entry', async () => {
    const r = await runAction(
      'sign',
      {
        reference: `${reg.host}/acme/model@${digest}`,
        'plain-http': 'true',
        'fulcio-url': si.fulcioURL,
        'rekor-url': si.rekorURL,
        'tsa-url': si.tsaURL,
        'rekor-entry-type': 'intoto',
      },
      tmp.dir,
      actionsEnv,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.outputs['signer-identity']).toBe(STANDIN_WORKFLOW_SAN);
    expect(r.summary).toContain(STANDIN_WORKFLOW_SAN);
    expect(r.summary).toMatch(/Rekor log index \d+/);
    expect(await referrerBundles()).toHaveLength(2);
    expect(r.stdout).not.toContain(si.oidc.requestToken);
  });

  it('Fulcio down: NETWORK error naming Fulcio, nothing attached', async () => {
    const before = (await referrerBundles()).length;
    await si.stopFulcio();
    const r = await runCli(['sign', `${reg.host}/acme/model@${digest}`, ...serviceFlags(), '--plain-http'], {
      env: actionsEnv,
    });
    expect(r.status).toBe(7);
    expect(r.stderr).toMatch(/Fulcio/);
    expect((await referrerBundles()).length).toBe(before);
  });
});
