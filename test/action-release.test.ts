import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  BUNDLE_V03_MEDIA_TYPE,
  MOF_PREDICATE_TYPE,
  OciLayoutStore,
  SLSA_PROVENANCE_V1,
  type Descriptor,
  type SerializedBundleJson,
} from '@modelship/core';
import { runAction } from './helpers/action.js';
import { runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { REPO_ROOT, copySample, tempDir } from './helpers/tmp.js';
import { verifyWithKey } from './helpers/verify.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const privatePem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const publicPem = keys.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const pubPath = join(tmp.dir, 'release.pub');
writeFileSync(pubPath, publicPem);
const policyPath = join(tmp.dir, 'policy.yaml');
writeFileSync(
  policyPath,
  `version: 1\nsigners:\n  - key: { path: ${pubPath} }\nrequire:\n  predicates: [${SLSA_PROVENANCE_V1}, ${MOF_PREDICATE_TYPE}]\n`,
);

/** Local provenance (no OIDC here); the runner's GITHUB_* files still come from runAction. */
const NOT_ON_GITHUB = { GITHUB_ACTIONS: '' };

function bundleOf(path: string): SerializedBundleJson {
  return JSON.parse(readFileSync(path, 'utf8')) as SerializedBundleJson;
}

describe('the root action.yml and actions/release/action.yml', () => {
  it('declare the same inputs, outputs and runtime; only main differs by its path', () => {
    const root = parse(readFileSync(join(REPO_ROOT, 'action.yml'), 'utf8')) as Record<string, unknown> & {
      runs: Record<string, string>;
    };
    const nested = parse(readFileSync(join(REPO_ROOT, 'actions', 'release', 'action.yml'), 'utf8')) as typeof root;
    expect(root.runs.main).toBe('dist/release/index.js');
    expect(nested.runs.main).toBe('../../dist/release/index.js');
    expect(existsSync(join(REPO_ROOT, root.runs.main))).toBe(true);
    expect({ ...root, runs: { ...root.runs, main: '' } }).toEqual({ ...nested, runs: { ...nested.runs, main: '' } });
  });
});

describe('actions/release through dist/release/index.js', () => {
  it('packs into a layout, attests SLSA + MOF, signs; every bundle verifies with the key', async () => {
    const model = copySample(tmp.dir, 'model-layout');
    const layout = join(tmp.dir, 'oci');
    const r = await runAction(
      'release',
      { path: model, output: `${layout}:v1`, key: privatePem, tlog: 'false', 'model-version': '1.0.0' },
      tmp.dir,
      NOT_ON_GITHUB,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const digest = r.outputs.digest!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.outputs.reference).toBe(`oci:${layout}:v1`);
    expect(r.outputs['pinned-reference']).toBe(`oci:${layout}@${digest}`);
    expect(r.outputs['layout-path']).toBe(layout);
    expect(r.outputs['signer-identity']).toMatch(/^key:/);
    expect(r.outputs['mof-class']).toMatch(/^[0-3]$/);
    const attestations = JSON.parse(r.outputs.attestations!) as { predicateType: string; referrerDigest: string }[];
    expect(attestations.map((a) => a.predicateType).sort()).toEqual([MOF_PREDICATE_TYPE, SLSA_PROVENANCE_V1].sort());
    expect(r.outputs['provenance-referrer-digest']).toBe(
      attestations.find((a) => a.predicateType === SLSA_PROVENANCE_V1)!.referrerDigest,
    );

    // the signature bundle, checked by @sigstore/verify directly
    const statement = verifyWithKey(bundleOf(r.outputs['bundle-path']!), publicPem);
    expect(statement.subject.map((s) => `sha256:${s.digest.sha256}`)).toContain(digest);

    // all three referrers are in the layout, and each bundle verifies
    const store = await OciLayoutStore.open(layout);
    const refs = await store.referrers(await store.resolve(digest), BUNDLE_V03_MEDIA_TYPE);
    expect(refs).toHaveLength(3);
    const types: string[] = [];
    for (const ref of refs) {
      const manifest = JSON.parse((await store.fetchBytes(ref)).toString()) as { layers: Descriptor[] };
      const blob = await store.fetchBytes(manifest.layers[0]!);
      const st = verifyWithKey(JSON.parse(blob.toString()) as SerializedBundleJson, publicPem);
      expect(st.subject.map((s) => `sha256:${s.digest.sha256}`)).toContain(digest);
      types.push(st.predicateType);
    }
    expect(types).toEqual(expect.arrayContaining([SLSA_PROVENANCE_V1, MOF_PREDICATE_TYPE]));
    await store.close();

    // and modelship's own verify accepts it under a policy that needs the signature and both predicates
    const v = await runCli(['verify', r.outputs['pinned-reference']!, '--policy', policyPath]);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);

    expect(r.summary).toContain('modelship release: pack');
    expect(r.summary).toContain('modelship release: attest');
    expect(r.summary).toContain('modelship release: sign');
    expect(r.stdout).toContain(`::add-mask::${privatePem.split('\n')[1]}`);
  });

  describe('into a real registry', () => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startRegistry({ auth: 'htpasswd', users: { ci: 'ci-registry-pw-123' } });
    });
    afterAll(async () => reg?.cleanup());

    it('pushes, attests and signs with registry credentials; verify passes from the registry', async () => {
      const model = copySample(tmp.dir, 'model-registry');
      const r = await runAction(
        'release',
        {
          path: model,
          push: `${reg.host}/acme/model:v1`,
          tags: 'v1\nstable',
          key: privatePem,
          tlog: 'false',
          'plain-http': 'true',
          username: 'ci',
          password: 'ci-registry-pw-123',
          'bundle-out': join(tmp.dir, 'out', 'release.sigstore.json'),
        },
        tmp.dir,
        NOT_ON_GITHUB,
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const digest = r.outputs.digest!;
      expect(r.outputs.reference).toBe(`${reg.host}/acme/model:v1`);
      expect(r.outputs['pinned-reference']).toBe(`${reg.host}/acme/model@${digest}`);
      expect(r.outputs['layout-path']).toBe('');
      expect(r.outputs['bundle-path']).toBe(join(tmp.dir, 'out', 'release.sigstore.json'));
      expect(JSON.parse(readFileSync(r.outputs['manifest-path']!, 'utf8'))).toMatchObject({
        artifactType: expect.stringMatching(/model/),
      });
      verifyWithKey(bundleOf(r.outputs['bundle-path']!), publicPem);
      expect(r.stdout).toContain('::add-mask::ci-registry-pw-123');
      expect(r.stdout.replace(/::add-mask::.*\n/g, '') + r.summary).not.toContain('ci-registry-pw-123');

      const env = { MODELSHIP_REGISTRY_USERNAME: 'ci', MODELSHIP_REGISTRY_PASSWORD: 'ci-registry-pw-123' };
      for (const ref of [r.outputs['pinned-reference']!, `${reg.host}/acme/model:stable`]) {
        const v = await runCli(['verify', ref, '--policy', policyPath, '--plain-http'], { env });
        expect(v.stderr).toBe('');
        expect(v.status).toBe(0);
      }
    });

    it('keyless without `id-token: write` fails before anything is pushed', async () => {
      reg.clearAccessLog();
      const model = copySample(tmp.dir, 'model-keyless');
      const r = await runAction(
        'release',
        {
          path: model,
          push: `${reg.host}/acme/other:v1`,
          'plain-http': 'true',
          username: 'ci',
          password: 'ci-registry-pw-123',
        },
        tmp.dir,
        { ACTIONS_ID_TOKEN_REQUEST_URL: '', ACTIONS_ID_TOKEN_REQUEST_TOKEN: '', SIGSTORE_ID_TOKEN: '' },
      );
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/::error::AUTH: .*id-token: write/);
      expect(reg.accessLog()).toEqual([]);
    });
  });

  it('sign: false and types: "" only pack; bad inputs are usage errors before any write', async () => {
    const model = copySample(tmp.dir, 'model-plain');
    const layout = join(tmp.dir, 'plain-oci');
    const r = await runAction(
      'release',
      { path: model, output: layout, key: privatePem, tlog: 'false', sign: 'false', types: '' },
      tmp.dir,
      NOT_ON_GITHUB,
    );
    expect(r.status).toBe(0);
    expect(r.outputs.attestations).toBe('[]');
    expect(r.outputs['bundle-path']).toBe('');
    const store = await OciLayoutStore.open(layout);
    expect(await store.referrers(await store.resolve(r.outputs.digest!))).toEqual([]);
    await store.close();

    const bad = join(tmp.dir, 'never-oci');
    for (const [inputs, message] of [
      [{ types: 'slsa,spdx' }, /::error::USAGE: input types:? "spdx"/],
      [{ 'layer-format': 'zip' }, /::error::USAGE: input layer-format "zip"/],
      [{ 'predicate-type': 'https://x.dev/p' }, /::error::USAGE: inputs predicate-type and predicate go together/],
      [{ tlog: 'maybe' }, /::error::USAGE: input tlog "maybe"/],
    ] as [Record<string, string>, RegExp][]) {
      const f = await runAction(
        'release',
        { path: model, output: bad, key: privatePem, tlog: 'false', ...inputs },
        tmp.dir,
      );
      expect(f.status).toBe(1);
      expect(f.stdout).toMatch(message);
    }
    expect(existsSync(bad)).toBe(false);
  });
});
