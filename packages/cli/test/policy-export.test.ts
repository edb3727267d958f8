import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { main } from '../src/main.js';
import { fakeIO, type FakeIO } from './fake-io.js';
import { crdErrors } from '../../core/test/crd-schemas.js';

const io = (): FakeIO => fakeIO();

async function policyDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ms-cli-export-'));
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
  await writeFile(join(dir, 'release.pub'), pem);
  await writeFile(
    join(dir, 'policy.yaml'),
    `version: 1
signers:
  - key: { path: release.pub }
  - github: { repository: acme/models, workflow: .github/workflows/release.yml, ref: refs/heads/main }
require:
  mof: { minClass: 2 }
`,
  );
  return dir;
}

const run = (args: string[], o = io()) => main(['node', 'modelship', 'policy', 'export', ...args], o);

describe('modelship policy export', () => {
  it('prints the policy on stdout, warnings on stderr, exit 0; --output writes the file instead', async () => {
    const dir = await policyDir();
    const o = io();
    expect(await run(['--to', 'kyverno', join(dir, 'policy.yaml')], o)).toBe(0);
    const docs = parseAllDocuments(o.stdout).map((d) => d.toJS() as { kind: string });
    expect(docs.map((d) => d.kind)).toEqual(['ClusterPolicy']);
    expect(crdErrors('clusterPolicy', docs[0])).toEqual([]);
    expect(o.stderr).toContain('warning: require.mof.minClass 2 not checked');

    const out = join(dir, 'cip.yaml');
    const p = io();
    expect(
      await run(
        ['--to', 'policy-controller', '--image', 'ghcr.io/acme/models/**', '--output', out, join(dir, 'policy.yaml')],
        p,
      ),
    ).toBe(0);
    expect(p.stdout).toBe('');
    expect(p.stderr).toMatch(/^warning: key signers left out/m);
    const cips = parseAllDocuments(await readFile(out, 'utf8')).map(
      (d) => d.toJS() as { kind: string; metadata: { name: string } },
    );
    expect(cips.map((c) => c.metadata.name)).toEqual(['modelship-policy-signatures', 'modelship-policy-predicate-1']);
    for (const c of cips) expect(crdErrors('clusterImagePolicy', c)).toEqual([]);

    const q = io();
    expect(
      await run(
        ['--to', 'kyverno-ivp', '--image', 'ghcr.io/acme/models/**', '--name', 'models', join(dir, 'policy.yaml')],
        q,
      ),
    ).toBe(0);
    const ivp = parseAllDocuments(q.stdout)[0]!.toJS() as { metadata: { name: string } };
    expect(ivp.metadata.name).toBe('models');
    expect(crdErrors('imageValidatingPolicy', ivp)).toEqual([]);
  });

  it('exit 2 for a bad target or a missing --image, exit 3 for a policy the target cannot express', async () => {
    const dir = await policyDir();
    const policy = join(dir, 'policy.yaml');
    const a = io();
    expect(await run(['--to', 'gatekeeper', policy], a)).toBe(2);
    expect(a.stderr).toContain('--to "gatekeeper" is not one of kyverno, kyverno-ivp, policy-controller');
    const b = io();
    expect(await run(['--to', 'policy-controller', policy], b)).toBe(2);
    expect(b.stderr).toContain('--to policy-controller needs --image');
    const c = io();
    expect(await run(['--to', 'kyverno', '--trust-root-ref', 'x', policy], c)).toBe(2);

    await writeFile(join(dir, 'keys.yaml'), 'version: 1\nsigners:\n  - key: { path: release.pub }\n');
    const d = io();
    expect(await run(['--to', 'policy-controller', '--image', 'ghcr.io/**', join(dir, 'keys.yaml')], d)).toBe(3);
    expect(d.stderr).toContain('cannot verify key-signed Sigstore bundles');
    expect(d.stdout).toBe('');

    await writeFile(
      join(dir, 'lookahead.yaml'),
      "version: 1\nsigners:\n  - keyless: { issuer: https://accounts.google.com, identity: '^(?=a)a@acme\\.com$' }\n",
    );
    const e = io();
    expect(await run(['--to', 'kyverno', join(dir, 'lookahead.yaml')], e)).toBe(3);
    expect(e.stderr).toContain('lookahead.yaml:3: the identity regex');
    expect(e.stderr).toMatch(/^hint: .*RE2/m);
  });

  it('will not print a line a runner would read as a workflow command; --output still writes it as is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ms-cli-export-cmd-'));
    const policy = join(dir, 'policy.yaml');
    // `[[]` is a class holding "[": a valid identity regex whose source, quoted in the
    // comment, holds the legacy `##[` command marker.
    await writeFile(
      policy,
      "version: 1\nsigners:\n  - keyless: { issuer: https://accounts.google.com, identity: '^x##[[]$' }\n",
    );
    const o = io();
    expect(await run(['--to', 'kyverno', policy], o)).toBe(3);
    expect(o.stdout).toBe('');
    expect(o.stderr).toContain('workflow command');
    expect(o.stderr).toContain('hint: write it to a file with --output');
    const out = join(dir, 'cpol.yaml');
    expect(await run(['--to', 'kyverno', '--output', out, policy])).toBe(0);
    const text = await readFile(out, 'utf8');
    expect(text).toContain('^x##[[]$');
    expect(crdErrors('clusterPolicy', parseAllDocuments(text)[0]!.toJS())).toEqual([]);
  });
});
