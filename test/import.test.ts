// `modelship import hf://…` against a stand-in Hub (test/helpers/hf-hub.ts) and a real
// docker-registry behind a byte-counting proxy: the artifact is the one `pack` makes of a git
// clone of the same commit, a re-import moves no blob byte, a new revision moves only what
// changed, a killed import continues where it stopped, gated and private repositories need the
// right token, and bytes that do not match the Hub's digest are refused with nothing pushed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliRun } from './helpers/cli.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { randomSafetensors } from './helpers/model-files.js';
import { startHubStandIn, type HubStandIn, type StandInFile } from './helpers/hf-hub.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { CLI, copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-import-');
let hub: HubStandIn;
let registry: TestRegistry;
let proxy: FaultProxy;
const TOKEN = 'hf_standinGrantedToken0123456789';
const OTHER_TOKEN = 'hf_standinOtherAccountToken98765';

beforeAll(async () => {
  hub = await startHubStandIn();
  hub.tokens.add(TOKEN);
  hub.tokens.add(OTHER_TOKEN);
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
});
afterAll(async () => {
  await proxy?.close();
  await hub?.close();
  await registry?.cleanup();
  tmp.cleanup();
});

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
  });

/** The environment of a user of this Hub: no token unless given, and no token file of the machine's. */
function hubEnv(token?: string): NodeJS.ProcessEnv {
  // TMPDIR: the work directory of an import killed on purpose goes with the test's.
  return { HF_ENDPOINT: hub.url, HF_HOME: join(tmp.dir, 'hf-home'), HF_TOKEN: token ?? '', TMPDIR: tmp.dir };
}

interface ImportJson {
  reference: string;
  digest: string;
  source: { repo: string; revision: string; commit: string; url: string; card: Record<string, string[]> };
  config: Record<string, unknown>;
  layers: { path: string; kind: string; digest: string; size: number; lfs: boolean; present: boolean }[];
  stats: { hubBytes: number; uploadedBytes: number; skippedBytes: number };
}

async function importCli(source: string, dest: string, token?: string, extra: string[] = []): Promise<CliRun> {
  return runCli(['import', source, '--push', dest, '--plain-http', '--json', ...extra], { env: hubEnv(token) });
}

function parsed(r: CliRun): ImportJson {
  if (r.status !== 0) throw new Error(`import failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ImportJson;
}

/** The files of a directory (recursively, .git left out) as stand-in files. */
function filesOf(dir: string, prefix = ''): StandInFile[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.name === '.git') return [];
    if (e.isDirectory()) return filesOf(dir, rel);
    return [{ path: rel, data: readFileSync(join(dir, rel)), lfs: rel.endsWith('.safetensors') }];
  });
}

/**
 * A model repository as a git-lfs clone of it looks (the weights in LFS), published on the
 * stand-in under `id` at the clone's own commit, with the clone's remote pointing at it.
 */
function publish(id: string, dir: string, card: Record<string, unknown> = {}): string {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'lfs', 'install', '--local');
  git(dir, 'lfs', 'track', '*.safetensors');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'model');
  git(dir, 'remote', 'add', 'origin', `${hub.url}/${id}`);
  const sha = git(dir, 'rev-parse', 'HEAD').trim();
  hub.addRepo(id);
  hub.commit(id, filesOf(dir), { sha, card });
  return sha;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('import hf://ORG/NAME', () => {
  const id = 'acme/tiny-llm';
  let model: string;
  let sha: string;
  let first: ImportJson;

  beforeAll(async () => {
    model = copySample(tmp.dir, 'tiny-llm');
    sha = publish(id, model, { license: 'mit', base_model: 'acme/base', datasets: ['modelship/synthetic-none'] });
    proxy.blobBytesUp = 0;
    hub.resetStats();
    first = parsed(await importCli(`hf://${id}`, `${proxy.host}/hub/tiny-llm:main`));
  });

  it('gives the ModelPack pack makes of a clone of the same commit: same config, layers and digest', async () => {
    const r = await runCli(['pack', model, '--push', `${proxy.host}/pack/tiny-llm:v1`, '--plain-http', '--json']);
    expect(r.status).toBe(0);
    const packed = JSON.parse(r.stdout) as ImportJson;
    expect(first.source).toMatchObject({ repo: id, revision: 'main', commit: sha, url: `${hub.url}/${id}` });
    expect(first.config).toEqual(packed.config);
    expect(first.layers.map(({ path, kind, digest, size }) => ({ path, kind, digest, size }))).toEqual(
      packed.layers.map(({ path, kind, digest, size }) => ({ path, kind, digest, size })),
    );
    expect(first.digest).toBe(packed.digest);
    // The clone's git: its remote and HEAD; the card: the licence; and the hidden .gitattributes left out.
    expect(first.config['descriptor']).toMatchObject({
      sourceURL: `${hub.url}/${id}`,
      revision: sha,
      licenses: ['MIT'],
    });
    expect(first.layers.map((l) => l.path)).not.toContain('.gitattributes');
    expect(first.source.card).toEqual({
      license: ['mit'],
      baseModels: ['acme/base'],
      datasets: ['modelship/synthetic-none'],
    });
  });

  it('streamed every LFS byte from the CDN once, and never sent the token there', () => {
    const lfs = first.layers.filter((l) => l.lfs);
    expect(lfs.map((l) => l.path).sort()).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    for (const l of lfs) expect(hub.stats.cdnBytesByObject.get(l.digest.slice(7))).toBe(l.size);
    expect(hub.stats.cdnAuthorized).toBe(0);
    expect(first.layers.every((l) => !l.present)).toBe(true);
  });

  it('a re-import of the unchanged revision moves no blob byte: metadata only', async () => {
    proxy.blobBytesUp = 0;
    hub.resetStats();
    const again = parsed(await importCli(`hf://${id}@main`, `${proxy.host}/hub/tiny-llm:main`));
    expect(again.digest).toBe(first.digest);
    expect(proxy.blobBytesUp).toBe(0);
    expect(hub.stats.cdnBytes).toBe(0);
    expect(again.layers.every((l) => l.present)).toBe(true);
    expect(again.stats.uploadedBytes).toBe(0);
    expect(again.stats.skippedBytes).toBe(first.layers.reduce((a, l) => a + l.size, 0));
  });

  it('a new revision transfers only the files that changed', async () => {
    const shard = join(model, 'model-00002-of-00002.safetensors');
    const old = readFileSync(shard);
    const changed = Buffer.concat([old.subarray(0, old.length - 64), randomBytes(64)]);
    writeFileSync(shard, changed);
    writeFileSync(join(model, 'NOTES.md'), 'second revision\n');
    git(model, 'add', '-A');
    git(model, 'commit', '-q', '-m', 'v2');
    const sha2 = git(model, 'rev-parse', 'HEAD').trim();
    hub.commit(id, filesOf(model), { sha: sha2 });
    proxy.blobBytesUp = 0;
    hub.resetStats();
    const next = parsed(await importCli(`hf://${id}`, `${proxy.host}/hub/tiny-llm:main`));
    expect(next.source.commit).toBe(sha2);
    const moved = next.layers.filter((l) => !l.present).map((l) => l.path);
    expect(moved.sort()).toEqual(['NOTES.md', 'model-00002-of-00002.safetensors']);
    // The CDN served the changed shard only (its bytes, plus nothing of the unchanged one).
    expect([...hub.stats.cdnBytesByObject.keys()]).toEqual([sha256(changed)]);
    expect(hub.stats.cdnBytes).toBe(changed.length);
    // The registry received the two files, the config and the manifest's layers, nothing else.
    const config = 1; // the config blob is uploaded too
    expect(proxy.blobBytesUp).toBeGreaterThanOrEqual(changed.length + 'second revision\n'.length);
    expect(proxy.blobBytesUp).toBeLessThan(changed.length + 'second revision\n'.length + 16 * 1024 * config);
    // And it is still what pack makes of the clone.
    const r = await runCli(['pack', model, '--push', `${proxy.host}/pack/tiny-llm:v2`, '--plain-http', '--json']);
    expect((JSON.parse(r.stdout) as ImportJson).digest).toBe(next.digest);
  });
});

const MiB = 1024 * 1024;
const CARD = '---\nlicense: apache-2.0\n---\n# a model\n';

function smallModel(id: string, options: { gated?: 'manual'; private?: boolean; grant?: string[] } = {}): string {
  hub.addRepo(id, options);
  return hub.commit(id, [
    { path: 'README.md', data: Buffer.from(CARD) },
    { path: 'config.json', data: Buffer.from('{"model_type":"llama","architectures":["LlamaForCausalLM"]}') },
    { path: 'model.safetensors', data: randomSafetensors(64 * 1024) },
  ]);
}

/** What the registry holds for a repository's tag (the manifest status) and a blob. */
async function registryHas(path: string): Promise<number> {
  const res = await fetch(`${registry.url}/v2/${path}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return res.status;
}

describe('an import killed midway, then run again', () => {
  it('continues where it stopped: the file it verified and pushed is not fetched again', async () => {
    const id = 'acme/killed';
    hub.addRepo(id);
    const w1 = randomSafetensors(3 * MiB);
    const w2 = randomSafetensors(3 * MiB);
    const sha = hub.commit(id, [
      { path: 'README.md', data: Buffer.from(CARD) },
      { path: 'model-00001-of-00002.safetensors', data: w1 },
      { path: 'model-00002-of-00002.safetensors', data: w2 },
    ]);
    // One file at a time: the first shard is pushed before the second one's body starts; that
    // body stops after its first MiB (the 64 KiB of header read before packing pass).
    const held = hub.hold(sha256(w2), MiB);
    hub.resetStats();
    const dest = `${registry.host}/hub/killed:main`;
    const child = spawn(
      process.execPath,
      [CLI, 'import', `hf://${id}`, '--push', dest, '--plain-http', '--concurrency', '1', '--no-progress'],
      { env: { ...process.env, ...hubEnv() }, stdio: 'ignore' },
    );
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await held.reached;
    expect(await registryHas(`hub/killed/blobs/sha256:${sha256(w1)}`)).toBe(200);
    child.kill('SIGKILL');
    await exited;
    held.release();
    expect(await registryHas('hub/killed/manifests/main')).toBe(404);
    expect(hub.stats.cdnBytesByObject.get(sha256(w1))).toBe(w1.length);

    hub.resetStats();
    const again = parsed(await importCli(`hf://${id}`, dest));
    expect(again.source.commit).toBe(sha);
    expect(hub.stats.cdnBytesByObject.get(sha256(w1)) ?? 0).toBe(0);
    expect(hub.stats.cdnBytesByObject.get(sha256(w2))).toBe(w2.length);
    expect(again.layers.find((l) => l.path.startsWith('model-00001'))!.present).toBe(true);
    expect(await registryHas('hub/killed/manifests/main')).toBe(200);
  });
});

describe('gated and private repositories', () => {
  const gated = 'acme/gated';
  beforeAll(() => {
    smallModel(gated, { gated: 'manual', grant: [TOKEN] });
    smallModel('acme/private', { private: true, grant: [TOKEN] });
  });

  it('gated without a token: exit 5 before any download, naming HF_TOKEN', async () => {
    hub.resetStats();
    const r = await importCli(`hf://${gated}`, `${registry.host}/hub/gated:main`);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(`hf://${gated}`);
    expect(r.stderr).toContain('is gated');
    expect(r.stderr).toMatch(/hint: .*HF_TOKEN/);
    expect(hub.stats.resolve).toBe(0);
  });

  it('a token whose account was not granted access is refused (exit 5)', async () => {
    const r = await importCli(`hf://${gated}`, `${registry.host}/hub/gated:main`, OTHER_TOKEN);
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(
      /the token from HF_TOKEN was refused for hf:\/\/acme\/gated@[0-9a-f]{40}: the repository is gated/,
    );
    expect(r.stderr).not.toContain(OTHER_TOKEN);
  });

  it('a token the Hub does not know is refused (exit 5)', async () => {
    const bad = 'hf_revokedTokenThatTheHubDoesNotKnow';
    const r = await importCli(`hf://${gated}`, `${registry.host}/hub/gated:main`, bad);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain('the Hub refused the token from HF_TOKEN');
    expect(r.stdout + r.stderr).not.toContain(bad);
  });

  it('with a granted token: imported; the token went to the Hub only, never to the CDN nor the output', async () => {
    hub.resetStats();
    const r = await importCli(`hf://${gated}`, `${registry.host}/hub/gated:main`, TOKEN);
    const j = parsed(r);
    expect(j.layers.map((l) => l.path)).toEqual(['config.json', 'model.safetensors', 'README.md']);
    expect(hub.stats.tokensSeen).toEqual(new Set([TOKEN]));
    expect(hub.stats.cdnAuthorized).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it('the token file hf auth login writes is used when HF_TOKEN is not set', async () => {
    const home = join(tmp.dir, 'hf-login');
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'token'), `${TOKEN}\n`);
    const r = await runCli(
      ['import', `hf://${gated}`, '--push', `${registry.host}/hub/gated:file`, '--plain-http', '--json'],
      { env: { HF_ENDPOINT: hub.url, HF_HOME: home, HF_TOKEN: '' } },
    );
    expect(parsed(r).digest).toMatch(/^sha256:/);
  });

  it('private without a token reads as missing (exit 6), and the hint names HF_TOKEN', async () => {
    const r = await importCli('hf://acme/private', `${registry.host}/hub/private:main`);
    expect(r.status).toBe(6);
    expect(r.stderr).toContain('no such model repository');
    expect(r.stderr).toMatch(/hint: .*HF_TOKEN/);
    expect(parsed(await importCli('hf://acme/private', `${registry.host}/hub/private:main`, TOKEN)).digest).toMatch(
      /^sha256:/,
    );
  });
});

describe('errors a user can act on, each with its exit code', () => {
  beforeAll(() => {
    smallModel('acme/small');
  });

  it('unknown repository: 6; unknown revision: 6; malformed reference: 2', async () => {
    const missing = await importCli('hf://acme/nope', `${registry.host}/hub/nope:main`, TOKEN);
    expect(missing.status).toBe(6);
    expect(missing.stderr).toContain('hf://acme/nope: no such model repository');
    const rev = await importCli('hf://acme/small@v9', `${registry.host}/hub/small:main`);
    expect(rev.status).toBe(6);
    expect(rev.stderr).toContain('hf://acme/small@v9: the repository has no revision "v9"');
    const bad = await importCli('hf://acme', `${registry.host}/hub/small:main`);
    expect(bad.status).toBe(2);
  });

  it('Hub unreachable: 7, naming HF_ENDPOINT', async () => {
    const r = await runCli(['import', 'hf://acme/small', '--push', `${registry.host}/hub/small:main`, '--plain-http'], {
      env: { ...hubEnv(), HF_ENDPOINT: 'http://127.0.0.1:9' },
    });
    expect(r.status).toBe(7);
    expect(r.stderr).toContain('cannot reach the Hub at http://127.0.0.1:9');
    expect(r.stderr).toMatch(/hint: .*HF_ENDPOINT/);
  });

  it('an answer from another commit than the one resolved (a proxy serving another revision): exit 4', async () => {
    const id = 'acme/other-commit';
    smallModel(id);
    hub.answerCommit = 'e'.repeat(40);
    const r = await importCli(`hf://${id}`, `${registry.host}/hub/other-commit:main`).finally(
      () => (hub.answerCommit = undefined),
    );
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`the Hub answered \\S+ from commit ${'e'.repeat(40)}, not [0-9a-f]{40}`));
    expect(await registryHas('hub/other-commit/manifests/main')).toBe(404);
  });

  /** A repository whose config.json the Hub lists as `listed` but serves as `served`. */
  function tamperedConfig(id: string, listed: string, served: string): void {
    hub.addRepo(id);
    const sha = hub.commit(id, [
      { path: 'README.md', data: Buffer.from(CARD) },
      { path: 'config.json', data: Buffer.from(listed) },
    ]);
    hub.tamper(hub.blobId(id, sha, 'config.json'), Buffer.from(served));
  }

  it('a file of another length than the listing says: exit 4', async () => {
    const id = 'acme/truncated';
    tamperedConfig(id, '{"model_type":"truncated"}', '{}');
    const r = await importCli(`hf://${id}`, `${registry.host}/hub/truncated:main`);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('config.json: the Hub serves 2 bytes, but its listing at this commit says 26');
  });

  it('an LFS file whose bytes do not match its sha256: exit 4, nothing of it pushed, no manifest', async () => {
    const id = 'acme/tampered';
    hub.addRepo(id);
    const weights = randomSafetensors(256 * 1024);
    hub.commit(id, [
      { path: 'README.md', data: Buffer.from(CARD) },
      { path: 'model.safetensors', data: weights },
    ]);
    const evil = Buffer.from(weights);
    evil[evil.length - 1] ^= 0xff;
    hub.tamper(sha256(weights), evil);
    hub.resetStats();
    const r = await importCli(`hf://${id}`, `${registry.host}/hub/tampered:main`);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/model\.safetensors: the Hub served \d+ bytes whose LFS sha256 is [0-9a-f]{64}/);
    expect(await registryHas('hub/tampered/manifests/main')).toBe(404);
    expect(await registryHas(`hub/tampered/blobs/sha256:${sha256(weights)}`)).toBe(404);
    expect(await registryHas(`hub/tampered/blobs/sha256:${sha256(evil)}`)).toBe(404);
    // Refused once: the upload's retries did not download it again.
    expect(hub.stats.cdnBytesByObject.get(sha256(weights))).toBe(weights.length);
  });

  it('a small file whose bytes do not match its git blob id: exit 4 before anything is pushed', async () => {
    const id = 'acme/tampered-small';
    // Tampered bytes of the same length (the length alone would give it away).
    tamperedConfig(id, '{"model_type":"good"}', '{"model_type":"evil"}');
    proxy.blobBytesUp = 0;
    const r = await importCli(`hf://${id}`, `${proxy.host}/hub/tampered-small:main`);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('config.json: the Hub served 21 bytes whose git blob id is');
    expect(proxy.blobBytesUp).toBe(0);
    expect(proxy.log.filter((l) => l.url.startsWith('/v2/hub/tampered-small/'))).toEqual([]);
  });
});

describe('import --output LAYOUT', () => {
  it('writes the same artifact into an OCI layout', async () => {
    const sha = smallModel('acme/to-layout');
    const layout = join(tmp.dir, 'layout');
    const r = await runCli(['import', `hf://acme/to-layout@${sha}`, '--output', `${layout}:v1`, '--json'], {
      env: hubEnv(),
    });
    const j = parsed(r);
    const viaRegistry = parsed(await importCli(`hf://acme/to-layout@${sha}`, `${registry.host}/hub/to-layout:v1`));
    expect(j.digest).toBe(viaRegistry.digest);
    for (const l of j.layers) {
      const blob = readFileSync(join(layout, 'blobs', 'sha256', l.digest.slice(7)));
      expect(sha256(blob)).toBe(l.digest.slice(7));
    }
  });
});

describe('source provenance: attest --type slsa after import', () => {
  const id = 'acme/provenance';
  let sha: string;
  let ref: string;
  let key: string;
  let pub: string;
  let bundleDigest: string;
  const env = { GITHUB_ACTIONS: '' };

  beforeAll(async () => {
    sha = smallModel(id);
    ref = `${registry.host}/hub/provenance:main`;
    parsed(await importCli(`hf://${id}`, ref));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    key = join(tmp.dir, 'release.key');
    pub = join(tmp.dir, 'release.pub');
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }) as string);
    expect((await runCli(['sign', ref, '--key', key, '--no-tlog', '--plain-http'], { env })).status).toBe(0);
    const r = await runCli(['attest', ref, '--type', 'slsa', '--key', key, '--no-tlog', '--plain-http', '--json'], {
      env,
    });
    expect(r.status).toBe(0);
    bundleDigest = (JSON.parse(r.stdout) as { attestations: { bundleDigest: string }[] }).attestations[0]!.bundleDigest;
  });

  it('records the Hub repository at its commit and every file by its sha256 as resolved dependencies', async () => {
    const bundle = (await (await fetch(`${registry.url}/v2/hub/provenance/blobs/${bundleDigest}`)).json()) as {
      dsseEnvelope: { payload: string };
    };
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
      predicate: { buildDefinition: { resolvedDependencies: unknown[] } };
    };
    const imported = parsed(await importCli(`hf://${id}`, ref));
    const source = `git+${hub.url}/${id}@${sha}`;
    expect(statement.predicate.buildDefinition.resolvedDependencies).toEqual([
      { name: 'model-source', uri: source, digest: { gitCommit: sha } },
      ...imported.layers.map((l) => ({ uri: `${source}#${l.path}`, digest: { sha256: l.digest.slice(7) } })),
    ]);
  });

  it('a policy can require that the model came from that repository at that commit', async () => {
    const policy = (modelSource: string): string => {
      const p = join(tmp.dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(
        p,
        `version: 1\nsigners:\n  - key: { path: ${pub} }\nrequire:\n  slsa:\n    modelSource: ${modelSource}\n`,
      );
      return p;
    };
    const verify = (p: string): Promise<CliRun> => runCli(['verify', ref, '--policy', p, '--plain-http'], { env });
    const ok = await verify(policy(`{ repository: '${hub.url}/${id}', commits: [${sha}] }`));
    expect(ok.status).toBe(0);
    const otherCommit = await verify(policy(`{ repository: '${hub.url}/${id}', commits: [${'f'.repeat(40)}] }`));
    expect(otherCommit.status).toBe(9);
    expect(otherCommit.stdout).toContain(`model source commit ${sha} is not one the policy allows`);
    const otherRepo = await verify(policy(`{ repository: hf://${id} }`));
    expect(otherRepo.status).toBe(9);
    expect(otherRepo.stdout).toContain(`model source ${hub.url}/${id} is not hf://${id}`);
  });
});
