import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUNDLE_V03_MEDIA_TYPE,
  sha256Hex,
  FILES_PREDICATE_TYPE,
  MOF_PREDICATE_TYPE,
  OciLayoutStore,
  RegistryStore,
  SLSA_PROVENANCE_V1,
  type ContentStore,
  type Manifest,
  type SerializedBundleJson,
} from '@modelship/core';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';
import { verifyWithKey } from './helpers/verify.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keyPath = join(tmp.dir, 'attest.key');
writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

/** Finds the attestation of `predicateType` by the referrer annotation, verifies it, returns the statement. */
async function findAttestation(store: ContentStore, digest: string, predicateType: string) {
  const refs = await store.referrers(await store.resolve(digest), BUNDLE_V03_MEDIA_TYPE);
  const hits = refs.filter((r) => r.annotations?.['dev.sigstore.bundle.predicateType'] === predicateType);
  expect(hits.length).toBeGreaterThanOrEqual(1);
  const m = JSON.parse((await store.fetchBytes(hits[0]!)).toString()) as Manifest;
  const bundle = JSON.parse((await store.fetchBytes(m.layers[0]!)).toString()) as SerializedBundleJson;
  const statement = verifyWithKey(bundle, publicKey.export({ type: 'spki', format: 'pem' }) as string);
  expect(statement.predicateType).toBe(predicateType);
  expect(`sha256:${statement.subject[0]!.digest['sha256']}`).toBe(digest);
  return statement;
}

describe('attest on a real docker-registry', () => {
  let reg: TestRegistry;
  let digest: string;
  beforeAll(async () => {
    reg = await startRegistry();
    digest = await packSample(tmp.dir, `${reg.host}/acme/model:v1`);
  });
  afterAll(async () => reg?.cleanup());
  const store = () => new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });

  it('attaches SLSA (local build type), MOF and per-file statements, each verifiable and found by predicate type', async () => {
    const r = await runCli([
      'attest',
      `${reg.host}/acme/model@${digest}`,
      '--type',
      'slsa,mof,files',
      '--key',
      keyPath,
      '--no-tlog',
      '--plain-http',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { attestations: { predicateType: string }[] };
    expect(j.attestations.map((a) => a.predicateType)).toEqual([
      SLSA_PROVENANCE_V1,
      MOF_PREDICATE_TYPE,
      FILES_PREDICATE_TYPE,
    ]);
    const s = store();
    try {
      const slsa = await findAttestation(s, digest, SLSA_PROVENANCE_V1);
      const bd = (slsa.predicate['buildDefinition'] ?? {}) as { buildType?: string };
      expect(bd.buildType).toBe('https://modelship.dev/buildtypes/local/v1');
      const mof = await findAttestation(s, digest, MOF_PREDICATE_TYPE);
      const ev = mof.predicate['evaluation'] as { class: number; reasons: string[] };
      expect([0, 1, 2, 3]).toContain(ev.class);
      expect(Array.isArray(ev.reasons)).toBe(true);
      const files = await findAttestation(s, digest, FILES_PREDICATE_TYPE);
      const resources = files.predicate['resources'] as { name: string; digest: string }[];
      expect(resources.map((x) => x.name)).toContain('model-00001-of-00002.safetensors');
    } finally {
      await s.close();
    }
  });

  it('attaches a custom predicate (e.g. eval results)', async () => {
    const p = join(tmp.dir, 'eval.json');
    writeFileSync(p, JSON.stringify({ benchmark: 'mmlu', score: 0.42 }));
    const r = await runCli([
      'attest',
      `${reg.host}/acme/model@${digest}`,
      '--type',
      '',
      '--predicate-type',
      'https://modelship.dev/attestations/eval/v0.1',
      '--predicate',
      p,
      '--key',
      keyPath,
      '--no-tlog',
      '--plain-http',
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const s = store();
    try {
      const st = await findAttestation(s, digest, 'https://modelship.dev/attestations/eval/v0.1');
      expect(st.predicate).toEqual({ benchmark: 'mmlu', score: 0.42 });
    } finally {
      await s.close();
    }
  });

  it('bad input gives clear errors and attaches nothing', async () => {
    const s = store();
    const count = async () => (await s.referrers(await s.resolve(digest))).length;
    const before = await count();
    const ref = `${reg.host}/acme/model@${digest}`;
    const base = ['--key', keyPath, '--no-tlog', '--plain-http'];
    const unreadable = await runCli([
      'attest',
      ref,
      '--type',
      'mof',
      '--mof-overrides',
      join(tmp.dir, 'nope.yml'),
      ...base,
    ]);
    expect(unreadable.status).toBe(3);
    expect(unreadable.stderr).toContain('nope.yml');
    const badYaml = join(tmp.dir, 'bad.yml');
    writeFileSync(badYaml, 'release:\n  components:\n    - name: Not A Real Component\n      license: MIT\n');
    const unknown = await runCli(['attest', ref, '--type', 'mof', '--mof-overrides', badYaml, ...base]);
    expect(unknown.status).toBe(3);
    expect(unknown.stderr).toMatch(/Not A Real Component/);
    const notJson = join(tmp.dir, 'p.json');
    writeFileSync(notJson, '{oops');
    const custom = await runCli([
      'attest',
      ref,
      '--type',
      '',
      '--predicate-type',
      'https://x.dev/p',
      '--predicate',
      notJson,
      ...base,
    ]);
    expect(custom.status).toBe(3);
    const badType = await runCli(['attest', ref, '--type', 'bom', ...base]);
    expect(badType.status).toBe(2);
    const missing = await runCli(['attest', `${reg.host}/acme/model@sha256:${'cd'.repeat(32)}`, ...base]);
    expect(missing.status).toBe(6);
    expect(await count()).toBe(before);
    await s.close();
  });
});

describe('attest in an OCI layout and through dist/attest/index.js', () => {
  it('the action attaches MOF + SLSA, summarises the class and components', async () => {
    const layout = join(tmp.dir, 'oci');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const r = await runAction('attest', { reference: `oci:${layout}:v1`, key: keyPem, tlog: 'false' }, tmp.dir, {
      GITHUB_ACTIONS: '',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.outputs.digest).toBe(digest);
    expect(JSON.parse(r.outputs.attestations!)).toHaveLength(2);
    expect(r.outputs['mof-class']).toMatch(/^[0-3]$/);
    expect(r.summary).toContain('MOF:');
    expect(r.summary).toContain('Model parameters (Final)');
    const store = await OciLayoutStore.open(layout);
    await findAttestation(store, digest, MOF_PREDICATE_TYPE);
    await findAttestation(store, digest, SLSA_PROVENANCE_V1);
  });
});

describe("upload to GitHub's attestations API (stand-in speaking POST /repos/{owner}/{repo}/attestations)", () => {
  it('uploads each bundle with the token; a 403 is an AUTH error with the permissions hint', async () => {
    const { createServer } = await import('node:http');
    const received: { path: string; auth: string; body: { bundle?: { mediaType?: string } } }[] = [];
    let status = 201;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', auth: req.headers.authorization ?? '', body: JSON.parse(body) });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status === 201 ? { id: 4242 } : { message: 'Resource not accessible by integration' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const env = {
      GITHUB_TOKEN: 'ghs_standin_token',
      GITHUB_REPOSITORY: 'acme/models',
      GITHUB_API_URL: `http://127.0.0.1:${port}`,
    };
    try {
      const layout = join(tmp.dir, 'gh-oci');
      await packSample(tmp.dir, `oci:${layout}:v1`);
      const r = await runCli(
        ['attest', `oci:${layout}:v1`, '--type', 'mof', '--key', keyPath, '--no-tlog', '--github-upload', '--json'],
        { env },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(
        (JSON.parse(r.stdout) as { attestations: { githubAttestationId: string }[] }).attestations[0]!
          .githubAttestationId,
      ).toBe('4242');
      expect(received).toHaveLength(1);
      expect(received[0]!.path).toBe('/repos/acme/models/attestations');
      expect(received[0]!.auth).toBe('Bearer ghs_standin_token');
      expect(received[0]!.body.bundle?.mediaType).toBe(BUNDLE_V03_MEDIA_TYPE);

      status = 403;
      const denied = await runCli(
        ['attest', `oci:${layout}:v1`, '--type', 'mof', '--key', keyPath, '--no-tlog', '--github-upload'],
        { env },
      );
      expect(denied.status).toBe(5);
      expect(denied.stderr).toMatch(/attestations: write/);
      expect(denied.stderr).not.toContain('ghs_standin_token');

      const noRepo = await runCli(['attest', `oci:${layout}:v1`, '--key', keyPath, '--no-tlog', '--github-upload'], {
        env: { GITHUB_TOKEN: 'x', GITHUB_REPOSITORY: '' },
      });
      expect(noRepo.status).toBe(2);
    } finally {
      server.close();
    }
  });
});

describe('attest --type files --model-dir checks the directory against the artifact before signing', () => {
  for (const format of ['raw', 'tar', 'tar+gzip'] as const) {
    it(`${format} layers: a directory that is not the artifact is refused (INVALID naming the files), nothing attached; the right one is signed`, async () => {
      const tag = format.replace('+', '-');
      const model = copySample(tmp.dir, `files-model-${tag}`);
      const layout = join(tmp.dir, `files-oci-${tag}`);
      const packed = await runCli(
        ['pack', model, '--output', `${layout}:v1`, '--layer-format', format, '--no-cache', '--json'],
        {},
      );
      expect(packed.status).toBe(0);
      const digest = (JSON.parse(packed.stdout) as { digest: string }).digest;
      const ref = `oci:${layout}@${digest}`;
      const store = await OciLayoutStore.open(layout);
      const count = async () => (await store.referrers(await store.resolve(digest))).length;
      const before = await count();

      const wrong = copySample(tmp.dir, `files-wrong-${tag}`);
      appendFileSync(join(wrong, 'README.md'), 'not what was packed\n');
      unlinkSync(join(wrong, 'LICENSE'));
      const refused = await runCli([
        'attest',
        ref,
        '--type',
        'files',
        '--model-dir',
        wrong,
        '--key',
        keyPath,
        '--no-tlog',
      ]);
      expect(refused.status).toBe(4);
      expect(refused.stderr).toContain('README.md');
      expect(refused.stderr).toContain('LICENSE');
      expect(await count()).toBe(before);

      const ok = await runCli(['attest', ref, '--type', 'files', '--model-dir', model, '--key', keyPath, '--no-tlog']);
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      expect(await count()).toBe(before + 1);
      const st = await findAttestation(store, digest, FILES_PREDICATE_TYPE);
      const resources = st.predicate['resources'] as { name: string; digest: string }[];
      expect(resources.map((r) => r.name).sort()).toEqual(readdirSync(model).sort());
      for (const r of resources) expect(r.digest).toBe(sha256Hex(readFileSync(join(model, r.name))));
    });
  }
});
