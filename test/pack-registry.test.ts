import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface PackJson {
  reference: string;
  digest: string;
  layers: { path: string; digest: string; mediaType: string; uploaded: boolean }[];
  stats: { uploaded: number; mounted: number; skipped: number; cacheHits: number; hashed: number };
}

function sameFiles(a: string, b: string): void {
  expect(readdirSync(b).sort()).toEqual(readdirSync(a).sort());
  for (const f of readdirSync(a)) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f)))).toBe(true);
}

describe('pack / push / pull against a real docker-registry (no auth)', () => {
  let reg: TestRegistry;
  let model: string;
  const cache = join(tmp.dir, 'cache-plain');
  const env = { MODELSHIP_CACHE_DIR: cache };
  beforeAll(async () => {
    reg = await startRegistry();
    model = copySample(tmp.dir);
  });
  afterAll(async () => reg?.cleanup());

  let first: PackJson;
  it('packs straight to the registry and pulls back byte-identical files', async () => {
    const r = await runCli(['pack', model, '--push', `${reg.host}/models/sample:v1`, '--plain-http', '--json'], {
      env,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    first = JSON.parse(r.stdout) as PackJson;
    expect(first.reference).toBe(`${reg.host}/models/sample:v1`);
    expect(first.stats.uploaded).toBe(readdirSync(model).length);

    const out = join(tmp.dir, 'pulled');
    const p = await runCli(['pull', `${reg.host}/models/sample:v1`, '--extract', out, '--plain-http', '--json'], {
      env,
    });
    expect(p.status).toBe(0);
    expect(JSON.parse(p.stdout).digest).toBe(first.digest);
    sameFiles(model, out);
  });

  it('pulls into an OCI layout with the same manifest digest', async () => {
    const layout = join(tmp.dir, 'pulled-oci');
    const p = await runCli(
      ['pull', `${reg.host}/models/sample:v1`, '--output', `${layout}:v1`, '--plain-http', '--json'],
      { env },
    );
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    expect(JSON.parse(p.stdout).digest).toBe(first.digest);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toContain(first.digest);
  });

  it('re-push of the unchanged model uploads no blob', async () => {
    reg.clearAccessLog();
    const r = await runCli(['pack', model, '--push', `${reg.host}/models/sample:v1`, '--plain-http', '--json'], {
      env,
    });
    expect(r.status).toBe(0);
    const again = JSON.parse(r.stdout) as PackJson;
    expect(again.digest).toBe(first.digest);
    expect(again.stats.uploaded).toBe(0);
    expect(again.stats.hashed).toBe(0);
    expect(reg.accessLog().filter((e) => e.path.includes('/blobs/uploads'))).toEqual([]);
  });

  it('pushes to a second repository through cross-repo mount: no blob bytes sent', async () => {
    reg.clearAccessLog();
    const r = await runCli(
      [
        'pack',
        model,
        '--push',
        `${reg.host}/models/mounted:v1`,
        '--plain-http',
        '--json',
        '--mount-from',
        'models/sample',
      ],
      { env },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as PackJson;
    expect(j.digest).toBe(first.digest);
    expect(j.stats.mounted).toBe(j.layers.length);
    const log = reg.accessLog();
    // every layer and the config blob: mounted, not uploaded
    expect(log.filter((e) => e.method === 'POST' && e.path.includes('mount=') && e.status === 201)).toHaveLength(
      j.layers.length + 1,
    );
    expect(log.filter((e) => e.method === 'PATCH' || (e.method === 'PUT' && e.path.includes('/blobs/')))).toEqual([]);
  });

  it('pushes an OCI layout to the registry (modelship push)', async () => {
    const layout = join(tmp.dir, 'to-push');
    const packed = await runCli(['pack', model, '--output', `${layout}:v2`, '--json'], { env });
    expect(packed.status).toBe(0);
    const r = await runCli(
      ['push', `oci:${layout}:v2`, `${reg.host}/models/from-layout:v2`, '--plain-http', '--json'],
      { env },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { digest: string; reference: string; stats: { blobsCopied: number } };
    expect(j.digest).toBe(first.digest);
    expect(j.reference).toBe(`${reg.host}/models/from-layout:v2`);
    const out = join(tmp.dir, 'pulled-2');
    expect((await runCli(['pull', j.reference, '--extract', out, '--plain-http'], { env })).status).toBe(0);
    sameFiles(model, out);
  });

  it('pushes tar+gzip layers and extracts them back from the registry', async () => {
    const r = await runCli(
      ['pack', model, '--push', `${reg.host}/models/gz:v1`, '--plain-http', '--json', '--layer-format', 'tar+gzip'],
      { env },
    );
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as PackJson;
    expect(j.layers.every((l) => l.mediaType.endsWith('.tar+gzip'))).toBe(true);
    expect(r.stderr).toMatch(/warning: .*compressing weights/);
    const out = join(tmp.dir, 'pulled-gz');
    expect((await runCli(['pull', `${reg.host}/models/gz:v1`, '--extract', out, '--plain-http'], { env })).status).toBe(
      0,
    );
    sameFiles(model, out);
  });

  it('refuses a malformed reference with exit code 2', async () => {
    const r = await runCli(['pack', model, '--push', `${reg.host}/Bad_Repo::x`, '--plain-http']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error: .*Bad_Repo/);
  });

  it('fails with exit code 7 and a clear message when the registry is down', async () => {
    await reg.stop();
    const r = await runCli(['pack', model, '--push', `${reg.host}/models/sample:v9`, '--plain-http', '--no-cache']);
    expect(r.status).toBe(7);
    expect(r.stderr).toContain(reg.host);
    expect(r.stderr).toMatch(/unreachable|ECONNREFUSED/);
    await reg.restart();
  });
});

describe('pack against authenticated registries', () => {
  let basic: TestRegistry;
  let token: TestRegistry;
  let model: string;
  beforeAll(async () => {
    [basic, token] = await Promise.all([
      startRegistry({ auth: 'htpasswd', users: { alice: 'alice-pw' } }),
      startRegistry({ auth: 'token', users: { alice: 'alice-pw' } }),
    ]);
    model = copySample(tmp.dir, 'auth-model');
  });
  afterAll(async () => Promise.all([basic?.cleanup(), token?.cleanup()]));

  for (const mode of ['htpasswd', 'token'] as const) {
    it(`pushes with --password-stdin (${mode})`, async () => {
      const reg = mode === 'htpasswd' ? basic : token;
      const r = await runCli(
        [
          'pack',
          model,
          '--push',
          `${reg.host}/acme/m:v1`,
          '--plain-http',
          '-u',
          'alice',
          '--password-stdin',
          '--json',
          '--no-cache',
        ],
        { input: 'alice-pw\n' },
      );
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).not.toContain('alice-pw');
      const out = join(tmp.dir, `auth-pulled-${mode}`);
      const p = await runCli(
        ['pull', `${reg.host}/acme/m:v1`, '--extract', out, '--plain-http', '-u', 'alice', '--password-stdin'],
        {
          input: 'alice-pw',
        },
      );
      expect(p.status).toBe(0);
      sameFiles(model, out);
    });

    it(`refuses a wrong password with exit code 5 (${mode})`, async () => {
      const reg = mode === 'htpasswd' ? basic : token;
      const r = await runCli(
        [
          'pack',
          model,
          '--push',
          `${reg.host}/acme/m:v2`,
          '--plain-http',
          '-u',
          'alice',
          '--password-stdin',
          '--no-cache',
        ],
        { input: 'wrong-pw' },
      );
      expect(r.status).toBe(5);
      expect(r.stderr).toContain(reg.host);
      expect(r.stderr).toMatch(/hint: .*(login|--username|password)/);
      expect(r.stderr + r.stdout).not.toContain('wrong-pw');
    });
  }

  it('reads credentials from a docker config.json', async () => {
    const cfgDir = join(tmp.dir, 'docker');
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(
      join(cfgDir, 'config.json'),
      JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from('alice:alice-pw').toString('base64') } } }),
    );
    const r = await runCli(
      ['pack', model, '--push', `${basic.host}/acme/m:v3`, '--plain-http', '--no-cache', '--json'],
      {
        env: { DOCKER_CONFIG: cfgDir },
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('pack refuses bad model directories (CLI exit codes)', () => {
  it('missing dir: exit 3', async () => {
    const r = await runCli(['pack', join(tmp.dir, 'missing'), '--output', join(tmp.dir, 'x1')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/missing/);
  });

  it('empty dir: exit 3', async () => {
    mkdirSync(join(tmp.dir, 'empty-dir'));
    const r = await runCli(['pack', join(tmp.dir, 'empty-dir'), '--output', join(tmp.dir, 'x2')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/model directory .*empty-dir is empty: nothing to pack/);
  });

  it('escaping symlink: exit 3, names the link, hints the fix', async () => {
    const m = copySample(tmp.dir, 'escape');
    symlinkSync('/etc/passwd', join(m, 'passwd.txt'));
    const r = await runCli(['pack', m, '--output', join(tmp.dir, 'x3')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/passwd\.txt/);
    expect(r.stderr).toMatch(/hint:/);
  });

  it('unreadable file: exit 3 naming the file', async () => {
    const m = copySample(tmp.dir, 'unreadable');
    chmodSync(join(m, 'config.json'), 0o000);
    const r = await runCli(['pack', m, '--output', join(tmp.dir, 'unreadable-out'), '--no-cache'], {
      honourFileModes: true,
      env: { HOME: tmp.dir },
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/config\.json/);
  });
});
