// `modelship mirror MIRROR.yaml` against the stand-in Hub and a real docker-registry behind a
// byte-counting proxy: revisions by name and by pattern, variants, attestations and signatures
// made once, a second run with nothing new uploads no blob and signs nothing, one model of the
// file per matrix job, and a malformed file refused with its line.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliRun } from './helpers/cli.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { randomSafetensors } from './helpers/model-files.js';
import { startHubStandIn, type HubStandIn } from './helpers/hf-hub.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-mirror-');
let hub: HubStandIn;
let registry: TestRegistry;
let proxy: FaultProxy;
let key: string;
const commits: Record<string, string> = {};

const model = (card: string) => [
  { path: 'README.md', data: Buffer.from(`---\nlicense: apache-2.0\n---\n# ${card}\n`) },
  { path: 'config.json', data: Buffer.from(`{"model_type":"llama","name":"${card}"}`) },
  { path: 'model.safetensors', data: randomSafetensors(200 * 1024) },
  { path: 'extra/notes.txt', data: Buffer.from(card) },
];

beforeAll(async () => {
  hub = await startHubStandIn();
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
  hub.addRepo('acme/alpha');
  commits['alpha-v1'] = hub.commit('acme/alpha', model('alpha v1'), { tag: 'v1.0' });
  commits['alpha-main'] = hub.commit('acme/alpha', model('alpha main'));
  hub.addRepo('acme/beta');
  commits['beta'] = hub.commit('acme/beta', model('beta'));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  key = join(tmp.dir, 'mirror.key');
  writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
});
afterAll(async () => {
  await proxy?.close();
  await hub?.close();
  await registry?.cleanup();
  tmp.cleanup();
});

function mirrorFile(text: string): string {
  const p = join(tmp.dir, `mirror-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, text);
  return p;
}

interface MirrorJson {
  source: string;
  revision: string;
  variant?: string;
  commit: string;
  reference: string;
  digest: string;
  tags: string[];
  new: boolean;
  bytes: { transferred: number; skipped: number; fromHub: number };
  attestations: { kind: string; referrer: string }[];
  signature?: string;
}

function run(file: string, extra: string[] = []): Promise<CliRun> {
  return runCli(['mirror', file, '--plain-http', ...extra], {
    env: { HF_ENDPOINT: hub.url, HF_HOME: join(tmp.dir, 'hf-home'), HF_TOKEN: '', GITHUB_ACTIONS: '' },
  });
}

function parsed(r: CliRun): MirrorJson[] {
  if (r.status !== 0) throw new Error(`mirror failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as MirrorJson[];
}

describe('mirror MIRROR.yaml', () => {
  let file: string;
  let first: MirrorJson[];
  const summary = join(tmp.dir, 'summary.md');
  const signing = (): string[] => ['--attest', 'slsa,mof', '--sign', '--key', key, '--no-tlog', '--json'];

  beforeAll(async () => {
    file = mirrorFile(
      [
        'version: 1',
        'models:',
        '  - source: hf://acme/alpha',
        `    target: ${proxy.host}/mirror/alpha`,
        '    revisions: [main]',
        "    revisionPattern: '^v\\d+\\.\\d+$'",
        '  - source: hf://acme/beta',
        `    target: ${proxy.host}/mirror/beta`,
        '    variants:',
        '      - { name: full }',
        "      - { name: weights, include: ['*.safetensors', README.md, config.json] }",
        '',
      ].join('\n'),
    );
    proxy.blobBytesUp = 0;
    first = parsed(await run(file, [...signing(), '--summary', summary]));
  });

  it('imports each revision (named or matching the pattern) and variant, tagged by revision and commit', () => {
    expect(first.map((r) => [r.source, r.revision, r.variant ?? '', r.tags])).toEqual([
      ['hf://acme/alpha', 'main', '', ['main', commits['alpha-main']]],
      ['hf://acme/alpha', 'v1.0', '', ['v1.0', commits['alpha-v1']]],
      ['hf://acme/beta', 'main', 'full', ['main-full', `${commits['beta']}-full`]],
      ['hf://acme/beta', 'main', 'weights', ['main-weights', `${commits['beta']}-weights`]],
    ]);
    expect(first.every((r) => r.new)).toBe(true);
    expect(first.map((r) => r.attestations.map((a) => [a.kind, /^sha256:/.test(a.referrer)]))).toEqual(
      first.map(() => [
        ['slsa', true],
        ['mof', true],
      ]),
    );
    expect(first.every((r) => /^sha256:/.test(r.signature ?? ''))).toBe(true);
    // The variants are different artifacts of the same commit.
    expect(first[2]!.digest).not.toBe(first[3]!.digest);
  });

  it('writes the job summary: model, revision, commit, digest, bytes transferred and skipped', () => {
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('| model | revision | commit | digest | transferred | skipped | attestations | signature |');
    expect(md).toContain(
      `| hf://acme/alpha | v1.0 | <code>${commits['alpha-v1']}</code> | <code>${first[1]!.reference}</code> |`,
    );
    expect(md.trim().split('\n')).toHaveLength(2 + 2 + first.length);
  });

  it('a second run with nothing new uploads no blob, downloads no LFS byte and signs nothing', async () => {
    proxy.blobBytesUp = 0;
    hub.resetStats();
    const referrers = async (r: MirrorJson): Promise<number> => {
      const [, repo] = /^[^/]+\/(.+)@/.exec(r.reference)!;
      const tag = r.digest.replace(':', '-');
      const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      });
      return ((await res.json()) as { manifests: unknown[] }).manifests.length;
    };
    const before = await Promise.all(first.map(referrers));
    const again = parsed(await run(file, signing()));
    expect(again.map((r) => r.digest)).toEqual(first.map((r) => r.digest));
    expect(again.every((r) => !r.new)).toBe(true);
    expect(again.every((r) => r.attestations.every((a) => a.referrer === 'present'))).toBe(true);
    expect(again.every((r) => r.signature === 'present')).toBe(true);
    expect(again.every((r) => r.bytes.transferred === 0)).toBe(true);
    expect(proxy.blobBytesUp).toBe(0);
    expect(hub.stats.cdnBytes).toBe(0);
    expect(await Promise.all(first.map(referrers))).toEqual(before);
  });

  it('a new commit on main is imported, only what changed uploaded', async () => {
    commits['alpha-main2'] = hub.commit('acme/alpha', [
      ...model('alpha main').filter((f) => f.path !== 'extra/notes.txt'),
      { path: 'extra/notes.txt', data: Buffer.from('changed') },
    ]);
    const r = parsed(await run(file, [...signing(), '--model', 'hf://acme/alpha']));
    expect(r.map((x) => [x.revision, x.commit, x.new])).toEqual([
      ['main', commits['alpha-main2'], true],
      ['v1.0', commits['alpha-v1'], false],
    ]);
    // A new model.safetensors (random bytes per commit here) and the changed notes.
    expect(r[0]!.bytes.skipped).toBeGreaterThan(0);
  });

  it('--list prints the models for a matrix; --model runs one', async () => {
    expect(JSON.parse((await run(file, ['--list', '--json'])).stdout)).toEqual(['hf://acme/alpha', 'hf://acme/beta']);
    const one = parsed(await run(file, ['--model', 'hf://acme/beta', '--json']));
    expect(new Set(one.map((r) => r.source))).toEqual(new Set(['hf://acme/beta']));
    const unknown = await run(file, ['--model', 'hf://acme/gamma']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('hf://acme/gamma is not a model of');
  });
});

describe('a malformed mirror file', () => {
  it('is refused with its file and line, every problem listed (exit 3)', async () => {
    const file = mirrorFile(
      [
        'version: 1',
        'models:',
        '  - source: hf://acme/alpha@main',
        '    target: registry.example/mirror/alpha:latest',
        '  - source: hf://acme/beta',
        '    target: registry.example/mirror/beta',
        "    revisionPattern: 'v.*'",
        '    varients: []',
        '',
      ].join('\n'),
    );
    const r = await run(file, ['--json']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`${file}:3: models[0].source must be hf://ORG/NAME (revisions go in "revisions")`);
    expect(r.stderr).toContain(`${file}:8: unknown key "varients" in models[1]`);
  });

  it('names the semantic problems too: a tagged target, an unanchored pattern', async () => {
    const file = mirrorFile(
      [
        'version: 1',
        'models:',
        '  - source: hf://acme/alpha',
        '    target: registry.example/mirror/alpha:latest',
        "    revisionPattern: 'v.*'",
        '',
      ].join('\n'),
    );
    const r = await run(file, ['--list']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`${file}:4: models[0].target must name a repository without a tag`);
    expect(r.stderr).toContain(`${file}:5: models[0].revisionPattern must be anchored (^...$)`);
  });
});
