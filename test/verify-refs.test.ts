import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** `::error PROPS::MSG` lines with a file property: annotations on a file (setFailed's `::error::` has none). */
const fileAnnotations = (out: string): string[] => out.split('\n').filter((l) => /^::error [^:]*\bfile=/.test(l));

describe('verify many model references (list file, Kubernetes manifests) on the real docker-registry', () => {
  let reg: TestRegistry;
  let signed: string;
  let unsigned: string;
  let policy: string;
  let manifest: string;
  // 1-based line of the unsigned ImageVolume reference in the manifest fixture.
  let unsignedLine: number;

  beforeAll(async () => {
    reg = await startRegistry();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const key = join(tmp.dir, 'release.key');
    const pub = join(tmp.dir, 'release.pub');
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${pub} }\n`);

    const signedDigest = await packSample(tmp.dir, `${reg.host}/acme/signed:v1`);
    const unsignedDigest = await packSample(tmp.dir, `${reg.host}/acme/unsigned:v1`);
    signed = `${reg.host}/acme/signed@${signedDigest}`;
    unsigned = `${reg.host}/acme/unsigned@${unsignedDigest}`;
    const s = await runCli(['sign', signed, '--key', key, '--no-tlog', '--plain-http']);
    expect(s.stderr).toBe('');
    expect(s.status).toBe(0);

    mkdirSync(join(tmp.dir, 'k8s'), { recursive: true });
    const text = `# model-serving deployment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: llm
spec:
  template:
    spec:
      containers:
        - name: server
          # a container image, not a model: not checked even though it is unsigned
          image: ${unsigned}
      volumes:
        - name: model
          image:
            reference: ${signed}
        - name: draft
          image:
            reference: ${unsigned}
---
apiVersion: v1
kind: Pod
metadata: { name: canary }
spec:
  volumes:
    - name: m
      image: { reference: "${signed}", pullPolicy: IfNotPresent }
`;
    manifest = 'k8s/app.yaml';
    writeFileSync(join(tmp.dir, manifest), text);
    unsignedLine = text.split('\n').findIndex((l) => l.includes(`reference: ${unsigned}`)) + 1;
    writeFileSync(join(tmp.dir, 'k8s', 'README.md'), 'not a manifest: {{ }}\n');
  }, 120_000);
  afterAll(async () => reg?.cleanup());

  it('CLI: exactly one annotation, on the unsigned reference line; the signed one verified once for both places', async () => {
    const r = await runCli(
      ['verify', '--policy', policy, '--k8s-manifests', manifest, '--annotations', 'github', '--plain-http'],
      { cwd: tmp.dir },
    );
    expect(r.status).toBe(9);
    const ann = fileAnnotations(r.stdout);
    expect(ann).toHaveLength(1);
    expect(ann[0]).toMatch(
      new RegExp(`^::error file=k8s/app\\.yaml,line=${unsignedLine},col=24,title=unverified model::`),
    );
    // The message is escaped data: the reference's colons stay as they are there.
    expect(ann[0]).toContain(`::${unsigned} does not meet`);
    expect(ann[0]).toContain('minSignatures');
    expect(r.stdout).toContain(`PASS ${signed} (k8s/app.yaml:16, k8s/app.yaml:27)`);
    expect(r.stderr).toMatch(/1 of 2 model reference\(s\) failed/);
  });

  it('CLI: a list file of pinned, signed references passes; a tag is a finding on its line', async () => {
    const ok = join(tmp.dir, 'ok.txt');
    writeFileSync(ok, `# production models\n\n${signed}  # llm\n`);
    const pass = await runCli([
      'verify',
      '--policy',
      policy,
      '--refs-file',
      ok,
      '--plain-http',
      '--annotations',
      'github',
    ]);
    expect(pass.stderr).toBe('');
    expect(pass.status).toBe(0);
    expect(pass.stdout).toBe(`PASS ${signed} (${ok}:3)\n`);

    const tagged = join(tmp.dir, 'tagged.txt');
    writeFileSync(tagged, `${signed}\n  ${reg.host}/acme/signed:v1\n`);
    const fail = await runCli(['verify', '--policy', policy, '--refs-file', tagged, '--plain-http', '--json']);
    expect(fail.status).toBe(9);
    const report = JSON.parse(fail.stdout) as {
      ok: boolean;
      results: { reference: string; ok: boolean; pinned: boolean; message: string; locations: { line: number }[] }[];
    };
    expect(report.ok).toBe(false);
    const tag = report.results.find((x) => !x.ok)!;
    expect(tag).toMatchObject({ reference: `${reg.host}/acme/signed:v1`, pinned: false, locations: [{ line: 2 }] });
    // Verified through the tag, and the fix names the digest to pin.
    expect(tag.message).toContain(`verified, but not pinned by digest: pin it by digest (${signed})`);
  });

  it('CLI: a reference that is not in the registry is a finding, not a crash', async () => {
    const list = join(tmp.dir, 'missing.txt');
    writeFileSync(list, `${reg.host}/acme/nope@sha256:${'0'.repeat(64)}\n`);
    const r = await runCli([
      'verify',
      '--policy',
      policy,
      '--refs-file',
      list,
      '--plain-http',
      '--annotations',
      'github',
    ]);
    expect(r.status).toBe(9);
    expect(fileAnnotations(r.stdout)).toEqual([
      expect.stringMatching(
        /^::error file=.*missing\.txt,line=1,col=1,title=unverified model::.* cannot be verified: NOT_FOUND: /,
      ),
    ]);
  });

  it('CLI: malformed YAML is an INPUT error naming file:line; bad flag combinations are usage errors', async () => {
    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, 'kind: Pod\nspec:\n  volumes: [ { name: m }\n');
    const r = await runCli(['verify', '--policy', policy, '--k8s-manifests', bad]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/bad\.yaml:\d+:\d+: not valid YAML/);

    expect((await runCli(['verify', signed, '--policy', policy, '--refs-file', bad])).status).toBe(2);
    expect((await runCli(['verify', '--policy', policy])).status).toBe(2);
    const fmt = await runCli(['verify', '--policy', policy, '--k8s-manifests', manifest, '--annotations', 'gitlab'], {
      cwd: tmp.dir,
    });
    expect(fmt.status).toBe(2);
    expect(fmt.stderr).toMatch(/--annotations "gitlab"/);
  });

  it('action (dist): annotations on the unverified line, outputs, per-reference summary and report', async () => {
    const r = await runAction('verify', { manifests: 'k8s/*.yaml\nk8s/', policy, 'plain-http': 'true' }, tmp.dir, {
      GITHUB_WORKSPACE: tmp.dir,
    });
    expect(r.status).toBe(1);
    const ann = fileAnnotations(r.stdout);
    expect(ann).toHaveLength(1);
    expect(ann[0]).toMatch(
      new RegExp(
        `^::error title=unverified model,file=k8s/app\\.yaml,line=${unsignedLine},col=24::${unsigned.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not meet`,
      ),
    );
    expect(r.stdout).toMatch(/::error::POLICY: 1 of 2 model reference\(s\) failed/);
    expect(r.outputs).toMatchObject({ verified: 'false', checked: '2', failed: '1' });
    const report = JSON.parse(readFileSync(r.outputs['report-path']!, 'utf8')) as { results: { ok: boolean }[] };
    expect(report.results.map((x) => x.ok)).toEqual([true, false]);
    expect(r.summary).toContain('modelship verify: FAILED (1 of 2 model references verified)');
    expect(r.summary).toContain(`<code>${unsigned}</code>`);
    expect(r.summary).toContain(`k8s/app.yaml:${unsignedLine}`);
  });

  it('action (dist): a references file of verified models passes with no annotation', async () => {
    writeFileSync(join(tmp.dir, 'models.txt'), `${signed}\n`);
    const r = await runAction('verify', { 'references-file': 'models.txt', policy, 'plain-http': 'true' }, tmp.dir, {
      GITHUB_WORKSPACE: tmp.dir,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('::error');
    expect(r.outputs).toMatchObject({ verified: 'true', checked: '1', failed: '0' });
    expect(r.summary).toContain('modelship verify: passed (1 of 1 model references verified)');
  });

  it('action (dist): a missing manifest path and reference + manifests are clear errors', async () => {
    const missing = await runAction('verify', { manifests: 'k8s/nope.yaml', policy }, tmp.dir);
    expect(missing.status).toBe(1);
    expect(missing.stdout).toMatch(/::error::INPUT: manifest k8s\/nope\.yaml does not exist/);
    const both = await runAction('verify', { reference: signed, manifests: manifest, policy }, tmp.dir);
    expect(both.status).toBe(1);
    expect(both.stdout).toMatch(/::error::USAGE: input reference cannot be combined/);
    const none = await runAction('verify', { policy }, tmp.dir);
    expect(none.stdout).toMatch(/::error::USAGE: nothing to verify/);
  });
});
