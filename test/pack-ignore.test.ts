// What `pack` leaves out (issue 11, item 10): its own output (the default ./model-oci inside
// the model dir, the digest cache), what .gitignore / .modelshipignore / .kitignore ignore,
// and file names that pull would refuse (an error with an --exclude that works).
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-ignore-');
afterAll(() => tmp.cleanup());

interface PackJson {
  digest: string;
  layers: { path: string; digest: string }[];
  ignored: { count: number; paths: { path: string; by: string; pattern?: string }[] };
}

const SECRET = 'AWS_SECRET_ACCESS_KEY=do-not-ship-me';

async function packJson(args: string[], cwd?: string, env: NodeJS.ProcessEnv = {}): Promise<PackJson> {
  const r = await runCli(['pack', ...args, '--json', '--no-progress'], {
    ...(cwd ? { cwd } : {}),
    env: { MODELSHIP_CACHE_DIR: join(tmp.dir, 'cache'), ...env },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as PackJson;
}

/** Every blob of a layout, as text: nothing ignored may be in any of them. */
function layoutText(layout: string): string {
  const dir = join(layout, 'blobs', 'sha256');
  return readdirSync(dir)
    .map((b) => readFileSync(join(dir, b)).toString('latin1'))
    .join('\n');
}

describe('pack never packs its own output', () => {
  it('`pack .` twice with the default ./model-oci (and the digest cache) inside gives the same digest', async () => {
    const model = copySample(tmp.dir, 'self');
    const env = { MODELSHIP_CACHE_DIR: join(model, 'digest-cache') };
    const first = await packJson(['.'], model, env);
    const second = await packJson(['.'], model, env);
    expect(second.digest).toBe(first.digest);
    for (const r of [first, second])
      expect(r.layers.filter((l) => l.path.startsWith('model-oci/') || l.path.startsWith('digest-cache/'))).toEqual([]);
    expect(second.ignored.paths).toEqual(
      expect.arrayContaining([
        { path: 'model-oci/', by: 'the output layout' },
        { path: 'digest-cache/', by: 'the digest cache' },
      ]),
    );
    // The same artifact as packing the directory from outside into another layout: the
    // earlier ./model-oci is still an OCI layout, which pack never takes for model files.
    const outside = await packJson([model, '--output', join(tmp.dir, 'self-outside')], undefined, env);
    expect(outside.digest).toBe(first.digest);
    expect(outside.ignored.paths).toEqual(
      expect.arrayContaining([{ path: 'model-oci/', by: 'an OCI layout (pack output)' }]),
    );
  });

  it('an --output layout inside the model dir is left out by its resolved path, whatever its name', async () => {
    const model = copySample(tmp.dir, 'named');
    const a = await packJson(['.', '--output', 'weights-store:v1'], model);
    const b = await packJson([model, '--output', join(model, 'weights-store') + ':v1']);
    expect(b.digest).toBe(a.digest);
    expect(b.layers.some((l) => l.path.startsWith('weights-store/'))).toBe(false);
  });
});

describe('ignore files', () => {
  it('a .gitignore’d secret.env is not packed, and the summary says what was left out and why', async () => {
    const model = copySample(tmp.dir, 'gitignored');
    writeFileSync(join(model, 'secret.env'), `${SECRET}\n`);
    mkdirSync(join(model, 'checkpoints'));
    writeFileSync(join(model, 'checkpoints', 'step-100.bin'), 'local checkpoint');
    writeFileSync(join(model, '.gitignore'), '*.env\ncheckpoints/\n');
    const out = join(tmp.dir, 'oci-gitignored');
    const r = await packJson([model, '--output', out]);
    expect(r.layers.map((l) => l.path)).not.toContain('secret.env');
    expect(r.layers.some((l) => l.path.startsWith('checkpoints'))).toBe(false);
    expect(layoutText(out)).not.toContain(SECRET);
    expect(r.ignored).toEqual({
      count: 2,
      paths: [
        { path: 'checkpoints/', by: '.gitignore', pattern: 'checkpoints/' },
        { path: 'secret.env', by: '.gitignore', pattern: '*.env' },
      ],
    });
    const text = await runCli(['pack', model, '--output', out, '--no-progress']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('2 paths not packed (.gitignore: checkpoints/, secret.env)');
    expect(text.stdout).toContain('--no-ignore-files');

    // --no-ignore-files packs them.
    const all = await packJson([model, '--output', join(tmp.dir, 'oci-all'), '--no-ignore-files']);
    expect(all.layers.map((l) => l.path)).toEqual(expect.arrayContaining(['secret.env', 'checkpoints/step-100.bin']));
    expect(all.ignored.count).toBe(0);
  });

  it('the .gitignore files of parent directories up to the git work tree and .git/info/exclude count too', async () => {
    const repo = join(tmp.dir, 'repo');
    const model = copySample(join(repo, 'models'), 'm');
    execFileSync('git', ['init', '-q', '-b', 'main'], {
      cwd: repo,
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    });
    // `models/` ignores the model dir itself: packing it is deliberate, the other lines still apply.
    writeFileSync(join(repo, '.gitignore'), 'models/\n*.env\n/models/m/notes.txt\n');
    writeFileSync(join(repo, '.git', 'info', 'exclude'), 'scratch/\n');
    writeFileSync(join(model, 'prod.env'), `${SECRET}\n`);
    writeFileSync(join(model, 'notes.txt'), 'private notes');
    mkdirSync(join(model, 'scratch'));
    writeFileSync(join(model, 'scratch', 'a.bin'), 'x');
    const out = join(tmp.dir, 'oci-repo');
    const r = await packJson([model, '--output', out]);
    expect(r.ignored.paths).toEqual([
      { path: 'notes.txt', by: '../../.gitignore', pattern: '/models/m/notes.txt' },
      { path: 'prod.env', by: '../../.gitignore', pattern: '*.env' },
      { path: 'scratch/', by: '../../.git/info/exclude', pattern: 'scratch/' },
    ]);
    expect(layoutText(out)).not.toContain(SECRET);
  });

  it('.modelshipignore (gitignore rules, after .gitignore: its ! re-includes) and .kitignore (KitOps: dockerignore rules, anchored at the root)', async () => {
    const model = copySample(tmp.dir, 'ours');
    mkdirSync(join(model, 'sub'));
    writeFileSync(join(model, 'draft.tmp'), 'root-level tmp');
    writeFileSync(join(model, 'sub', 'kept.tmp'), 'nested tmp');
    writeFileSync(join(model, 'sub', 'eval.log'), 'log');
    writeFileSync(join(model, 'big.bin'), 'gitignored but wanted');
    writeFileSync(join(model, 'local.yaml'), 'mine');
    writeFileSync(join(model, '.gitignore'), '*.bin\n');
    writeFileSync(join(model, '.modelshipignore'), 'local.yaml\n!big.bin\n');
    // KitOps' rules: `*.tmp` is the root level only, `**/*.log` crosses directories.
    writeFileSync(join(model, '.kitignore'), '*.tmp\n**/*.log\n');
    const r = await packJson([model, '--output', join(tmp.dir, 'oci-ours')]);
    const paths = r.layers.map((l) => l.path);
    expect(paths).toEqual(expect.arrayContaining(['big.bin', 'sub/kept.tmp']));
    expect(paths).not.toEqual(expect.arrayContaining(['draft.tmp']));
    expect(r.ignored.paths).toEqual([
      { path: 'draft.tmp', by: '.kitignore' },
      { path: 'local.yaml', by: '.modelshipignore', pattern: 'local.yaml' },
      { path: 'sub/eval.log', by: '.kitignore' },
    ]);
  });

  it('a Modelfile naming an ignored file explicitly is an error that names the ignore file', async () => {
    const model = copySample(tmp.dir, 'named-ignored');
    writeFileSync(join(model, 'adapter.bin'), 'x');
    writeFileSync(join(model, '.gitignore'), 'adapter.bin\n');
    writeFileSync(join(model, 'Modelfile'), 'MODEL adapter.bin\n');
    const r = await runCli(['pack', model, '--output', join(tmp.dir, 'oci-named-ignored'), '--no-progress']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('adapter.bin is left out by .gitignore (adapter.bin)');
  });
});

describe('file names that pull would refuse are refused at pack time', () => {
  it('a backslash in a name: INPUT naming the file, with an --exclude that works', async () => {
    const model = copySample(tmp.dir, 'backslash');
    writeFileSync(join(model, 'weights\\v2.bin'), 'x');
    const out = join(tmp.dir, 'oci-backslash');
    const r = await runCli(['pack', model, '--output', out, '--no-progress']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('"weights\\v2.bin" cannot be packed: it contains a backslash');
    const hint = /--exclude '([^']+)'/.exec(r.stderr);
    expect(hint?.[1]).toBe('weights?v2.bin');
    const again = await packJson([model, '--output', out, '--exclude', hint![1]!]);
    expect(again.layers.map((l) => l.path)).not.toContain('weights\\v2.bin');
  });

  it('a newline in a name is refused and shown escaped (it cannot start a new output line)', async () => {
    const model = copySample(tmp.dir, 'newline');
    writeFileSync(join(model, 'evil\n::warning::x.txt'), 'x');
    const r = await runCli(['pack', model, '--output', join(tmp.dir, 'oci-newline'), '--no-progress']);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('"evil\\x0a::warning::x.txt" cannot be packed: it contains a control character');
    expect(r.stderr.split('\n').some((l) => l.startsWith('::'))).toBe(false);
  });
});
