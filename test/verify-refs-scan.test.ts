// The PR check (verify --k8s-manifests) enforces require.scan: a model volume whose pickle
// imports os.system is a finding on its manifest line, on the real docker-registry.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { EVIL_PICKLE, keyPairPem } from './helpers/security.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('PR check: require.scan on Kubernetes model references', () => {
  let reg: TestRegistry;
  let clean: string;
  let evil: string;
  let policy: string;

  beforeAll(async () => {
    reg = await startRegistry();
    const { key, pub } = keyPairPem();
    writeFileSync(join(tmp.dir, 'k.key'), key, { mode: 0o600 });
    writeFileSync(join(tmp.dir, 'k.pub'), pub);
    policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: k.pub }\nrequire:\n  scan: {}\n`);
    const pushScanned = async (name: string, extra: Record<string, Buffer>): Promise<string> => {
      const dir = copySample(tmp.dir, name);
      for (const [f, b] of Object.entries(extra)) writeFileSync(join(dir, f), b);
      const p = await runCli([
        'pack',
        dir,
        '--push',
        `${reg.host}/acme/${name}:v1`,
        '--plain-http',
        '--scan',
        '--json',
        '--no-cache',
      ]);
      expect(p.status).toBe(0);
      const ref = `${reg.host}/acme/${name}@${(JSON.parse(p.stdout) as { digest: string }).digest}`;
      for (const args of [['sign'], ['attest', '--type', 'scan']]) {
        const r = await runCli([...args, ref, '--key', join(tmp.dir, 'k.key'), '--no-tlog', '--plain-http']);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
      }
      return ref;
    };
    clean = await pushScanned('clean', {});
    evil = await pushScanned('evil', { 'pytorch_model.bin': EVIL_PICKLE });
    mkdirSync(join(tmp.dir, 'k8s'));
    writeFileSync(
      join(tmp.dir, 'k8s', 'app.yaml'),
      `apiVersion: v1
kind: Pod
metadata: { name: llm }
spec:
  volumes:
    - name: model
      image: { reference: "${clean}" }
    - name: draft
      image: { reference: "${evil}" }
`,
    );
  }, 180_000);
  afterAll(async () => reg?.cleanup());

  it('the unsafe model is a finding on its line; the clean one passes', async () => {
    const r = await runCli(
      ['verify', '--policy', policy, '--k8s-manifests', 'k8s/app.yaml', '--annotations', 'github', '--plain-http'],
      { cwd: tmp.dir },
    );
    expect(r.status).toBe(9);
    expect(r.stdout).toContain(`PASS ${clean} (k8s/app.yaml:7)`);
    const ann = r.stdout.split('\n').filter((l) => l.startsWith('::error file=k8s/app.yaml,line=9'));
    expect(ann).toHaveLength(1);
    expect(ann[0]).toMatch(/require\.scan/);
    expect(r.stderr).toMatch(/1 of 2 model reference\(s\) failed/);
  });
});
