// The "Rough edges found" of issue 14, each through the CLI (and the action where it has an
// input): a real registry, real keys, real files.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  OciLayoutStore,
  discoverBundles,
  parseStatement,
  signArtifact,
  signingSetup,
  type SerializedBundleJson,
} from '@modelship/core';
import { recordingContext } from '../actions/common/test/fake-context.js';
import { run as runPackAction, type Inputs as PackInputs } from '../actions/pack/src/run.js';
import { run as runPromoteAction, type Inputs as PromoteInputs } from '../actions/promote/src/run.js';
import { runAction } from './helpers/action.js';
import { packSample, runCli } from './helpers/cli.js';
import { keyPairFiles } from './helpers/keys.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const keyPair = (name: string): { key: string; pub: string } => keyPairFiles(tmp.dir, name);

const signer = keyPair('signer');
const policy = join(tmp.dir, 'policy.yaml');
writeFileSync(policy, `version: 1\nsigners:\n  - key: { path: ${signer.pub} }\n`);

function packInputs(dir: string, target: string, tags: string[] = []): PackInputs {
  return {
    pack: {
      dir,
      target,
      targetLabel: 'input output',
      tags,
      options: { family: 'cncf', layerFormat: 'raw', scan: { useDirSpec: true }, metadata: {} },
      cache: false,
      variants: { names: [] },
    },
    registry: {},
    showSummary: true,
  };
}

/** The tags of a layout's index.json. */
function layoutTags(layout: string): string[] {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: { annotations?: Record<string, string> }[];
  };
  return index.manifests
    .map((m) => m.annotations?.['org.opencontainers.image.ref.name'])
    .filter((t) => t !== undefined);
}

/** The statements of the bundles attached to `digest` in a layout. */
async function statementsOf(layout: string, digest: string): Promise<{ name: string; type: string }[]> {
  const store = await OciLayoutStore.open(layout);
  try {
    return (await discoverBundles(store, await store.resolve(digest))).map((b) => {
      const st = parseStatement(Buffer.from((b.bundle as SerializedBundleJson).dsseEnvelope!.payload, 'base64'));
      return { name: st.subject[0]!.name, type: st.predicateType };
    });
  } finally {
    await store.close();
  }
}

describe('pack -o DIR:v1 -t stable sets both tags (as promote does)', () => {
  it('CLI: the target tag and every -t', async () => {
    const layout = join(tmp.dir, 'tags-oci');
    const r = await runCli(['pack', copySample(tmp.dir, 'tags'), '-o', `${layout}:v1`, '-t', 'stable', '-t', 'prod']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`reference: oci:${layout}:v1\n`);
    expect(layoutTags(layout).sort()).toEqual(['prod', 'stable', 'v1']);
  });

  it('pack action: the output tag and input tags', async () => {
    const layout = join(tmp.dir, 'tags-action-oci');
    const { ctx, recorded } = recordingContext(tmp.dir);
    await runPackAction(packInputs(copySample(tmp.dir, 'tags-a'), `oci:${layout}:v1`, ['stable']), ctx);
    expect(recorded.outputs.reference).toBe(`oci:${layout}:v1`);
    expect(layoutTags(layout).sort()).toEqual(['stable', 'v1']);
  });
});

describe('credentials: hints name options that exist; empty --password-stdin; a broken docker config.json', () => {
  let basic: TestRegistry;
  let open: TestRegistry;
  let publicRef: string;
  beforeAll(async () => {
    [basic, open] = await Promise.all([
      startRegistry({ auth: 'htpasswd', users: { alice: 'alice-pw' } }),
      startRegistry(),
    ]);
    publicRef = `${open.host}/public/m:v1`;
    await packSample(tmp.dir, publicRef);
  });
  afterAll(async () => Promise.all([basic?.cleanup(), open?.cleanup()]));

  const emptyHome = (): string => {
    const home = join(tmp.dir, `home-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(home);
    return home;
  };

  it('CLI: no credentials for a registry that wants them: the hint names --username and --password-stdin', async () => {
    const r = await runCli(['pull', `${basic.host}/acme/m:v1`, '--extract', join(tmp.dir, 'x'), '--plain-http'], {
      env: { HOME: emptyHome(), DOCKER_CONFIG: '' },
    });
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(
      'hint: pass the user with --username and the password or a token with --password-stdin (or MODELSHIP_REGISTRY_PASSWORD)',
    );
    // Every option a hint names is one the CLI has.
    expect(r.stderr).not.toMatch(/--password(?!-stdin)|--token/);
  });

  it('pack action: the same hint names the inputs, not CLI flags', async () => {
    const work = join(tmp.dir, 'action-auth');
    mkdirSync(work);
    const r = await runAction(
      'pack',
      { path: copySample(work, 'm'), push: `${basic.host}/acme/m:v1`, 'plain-http': 'true', cache: 'false' },
      work,
      { HOME: emptyHome() },
      { from: 'lib' },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::AUTH: .*requires authentication/);
    expect(r.stdout).toContain('pass the user with input username and the password or a token with input password');
    expect(r.stdout).not.toMatch(/--[a-z]/);
  });

  it('CLI: an empty --password-stdin says the standard input was empty (not "no credentials found")', async () => {
    const r = await runCli(
      [
        'pull',
        `${basic.host}/acme/m:v1`,
        '--extract',
        join(tmp.dir, 'y'),
        '--plain-http',
        '-u',
        'alice',
        '--password-stdin',
      ],
      { input: '' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: --password-stdin read an empty password: standard input was empty\n');
    expect(r.stderr).not.toContain('no credentials');
  });

  it('CLI: promote --src-password-stdin with empty input names that flag', async () => {
    const r = await runCli(
      [
        'promote',
        `${basic.host}/acme/m:v1`,
        `oci:${join(tmp.dir, 'never')}`,
        '--policy',
        policy,
        '--no-record',
        '--src-username',
        'alice',
        '--src-password-stdin',
      ],
      { input: '\n' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: --src-password-stdin read an empty password');
  });

  it('CLI: a broken ~/.docker/config.json warns and an anonymous pull goes on', async () => {
    const home = emptyHome();
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker', 'config.json'), '{"auths": {');
    const out = join(tmp.dir, 'anon');
    const r = await runCli(['pull', publicRef, '--extract', out, '--plain-http', '--no-progress'], {
      env: { HOME: home, DOCKER_CONFIG: '' },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `^warning: docker config ${join(home, '.docker', 'config.json')} is not valid JSON \\(.*\\); going on without its credentials \\(fix or remove it\\)\\n$`,
      ),
    );
    expect(readdirSync(out)).toContain('config.json');
  });

  it('CLI: a config.json named with --registry-config that is broken is still an error', async () => {
    const cfg = join(tmp.dir, 'named-config.json');
    writeFileSync(cfg, 'not json');
    const r = await runCli([
      'pull',
      publicRef,
      '--extract',
      join(tmp.dir, 'z'),
      '--plain-http',
      '--registry-config',
      cfg,
    ]);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(`error: docker config ${cfg} is not valid JSON`);
  });

  it('pack action: a broken docker config.json on the runner is a warning annotation, the push goes on', async () => {
    const work = join(tmp.dir, 'action-broken-config');
    mkdirSync(work);
    const home = emptyHome();
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker', 'config.json'), '[');
    const r = await runAction(
      'pack',
      { path: copySample(work, 'm'), push: `${open.host}/public/n:v1`, 'plain-http': 'true', cache: 'false' },
      work,
      { HOME: home },
      { from: 'lib' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/::warning::docker config .*config\.json is not valid JSON/);
  });

  it('CLI: the push hint for a registry source names promote, with no "(later)"', async () => {
    const r = await runCli(['push', publicRef, `${open.host}/other/m:v1`, '--plain-http']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/hint: .*`modelship promote SRC DST --policy P` \(it verifies the artifact first\)/);
    expect(r.stderr).not.toContain('(later)');
  });
});

describe('verify: --refs-file keeps the line number; a policy lists every problem', () => {
  let ref: string;
  beforeAll(async () => {
    const layout = join(tmp.dir, 'verify-oci');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    ref = `oci:${layout}@${digest}`;
    expect((await runCli(['sign', ref, '--key', signer.key, '--no-tlog'])).status).toBe(0);
  });

  const refsFile = (): string => {
    const f = join(tmp.dir, 'refs.txt');
    writeFileSync(f, `# models\n${ref}\nregistry.example/a:v1 registry.example/b:v1\n`);
    return f;
  };

  it('CLI: a malformed line is an INPUT error naming file:line', async () => {
    const f = refsFile();
    const r = await runCli(['verify', '--policy', policy, '--refs-file', f]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`error: ${f}:3: "registry.example/a:v1 registry.example/b:v1" is not one reference`);
  });

  it('verify action: the same, through input references-file', async () => {
    const f = refsFile();
    const r = await runAction('verify', { 'references-file': f, policy }, tmp.dir, {}, { from: 'lib' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      `::error::INPUT: ${f}:3: "registry.example/a:v1 registry.example/b:v1" is not one reference`,
    );
  });

  const badPolicy = (): string => {
    const p = join(tmp.dir, 'bad-policy.yaml');
    writeFileSync(
      p,
      `version: 1\nsigners:\n  - keyless:\n      issuer: https://accounts.google.com\n      identity: 'release@acme\\.com'\nrequire:\n  slsa:\n    buildr: '^x$'\n`,
    );
    return p;
  };

  it('CLI: an unknown key and an unanchored regex are both listed, each with its line', async () => {
    const p = badPolicy();
    const r = await runCli(['verify', ref, '--policy', p]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`error: invalid policy (2 problems):\n`);
    expect(r.stderr).toContain(`  ${p}:5: signers[0].keyless.identity must be an anchored regex`);
    expect(r.stderr).toContain(`  ${p}:8: unknown key "buildr" in require.slsa`);
  });

  it('verify action: both problems too', async () => {
    const p = badPolicy();
    const r = await runAction('verify', { reference: ref, policy: p }, tmp.dir, {}, { from: 'lib' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/::error::INPUT: invalid policy \(2 problems\):/);
    expect(r.stdout).toContain(`${p}:5: signers[0].keyless.identity must be an anchored regex`);
    expect(r.stdout).toContain(`${p}:8: unknown key "buildr" in require.slsa`);
  });
});

describe('the job summary closes every table cell', () => {
  it('attest action (MOF components without a licence or location): no unclosed <td>', async () => {
    const work = join(tmp.dir, 'attest-summary');
    mkdirSync(work);
    const layout = join(work, 'oci');
    const digest = await packSample(work, `oci:${layout}:v1`);
    const r = await runAction(
      'attest',
      { reference: `oci:${layout}@${digest}`, types: 'mof', key: signer.key, tlog: 'false' },
      work,
      {},
      { from: 'lib' },
    );
    expect(r.status).toBe(0);
    expect(r.summary).toContain('<td></td>');
    const cells = (tag: string): number => r.summary.split(tag).length - 1;
    expect(cells('<td>')).toBe(cells('</td>'));
    expect(cells('<th>')).toBe(cells('</th>'));
  });
});

describe('pack: training-run state, empty directories, symlink loops', () => {
  interface PackJson {
    layers: { path: string; kind: string }[];
  }

  it('CLI: training_args.bin and optimizer.pt are weight config (run metadata), not weights', async () => {
    const m = copySample(tmp.dir, 'run-state');
    writeFileSync(join(m, 'training_args.bin'), 'pickled TrainingArguments');
    mkdirSync(join(m, 'checkpoint-500'));
    writeFileSync(join(m, 'checkpoint-500', 'optimizer.pt'), 'optimizer state');
    const r = await runCli(['pack', m, '-o', join(tmp.dir, 'run-state-oci'), '--json', '--no-cache']);
    expect(r.status).toBe(0);
    const kinds = Object.fromEntries((JSON.parse(r.stdout) as PackJson).layers.map((l) => [l.path, l.kind]));
    expect(kinds['training_args.bin']).toBe('weight.config');
    expect(kinds['checkpoint-500/optimizer.pt']).toBe('weight.config');
    expect(kinds['model-00001-of-00002.safetensors']).toBe('weight');
  });

  it('CLI: an empty directory is named in a warning (pull will not recreate it)', async () => {
    const m = copySample(tmp.dir, 'with-empty');
    mkdirSync(join(m, 'scratch', 'logs'), { recursive: true });
    const r = await runCli(['pack', m, '-o', join(tmp.dir, 'with-empty-oci'), '--no-cache', '--no-progress']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      'warning: an empty directory is not packed (scratch/logs/): an artifact holds files, so pull will not recreate it\n',
    );
  });

  it('pack action: the same warning in the log', async () => {
    const m = copySample(tmp.dir, 'with-empty-a');
    mkdirSync(join(m, 'empty'));
    const { ctx, recorded } = recordingContext(tmp.dir);
    await runPackAction(packInputs(m, `oci:${join(tmp.dir, 'with-empty-a-oci')}`), ctx);
    expect(recorded.log).toContain(
      'warning: an empty directory is not packed (empty/): an artifact holds files, so pull will not recreate it',
    );
  });

  it('CLI: a directory with nothing at all is exit 3 saying it is empty', async () => {
    const d = join(tmp.dir, 'nothing');
    mkdirSync(d);
    const r = await runCli(['pack', d, '-o', join(tmp.dir, 'nothing-oci')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`error: model directory ${d} is empty: nothing to pack\n`);
  });

  it('CLI: a symlink loop is reported as a loop, not as a missing file', async () => {
    const m = copySample(tmp.dir, 'loop');
    symlinkSync('b.bin', join(m, 'a.bin'));
    symlinkSync('a.bin', join(m, 'b.bin'));
    const r = await runCli(['pack', m, '-o', join(tmp.dir, 'loop-oci')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('error: a.bin is a symlink loop (a.bin -> b.bin leads back to itself)\n');
    expect(r.stderr).toContain('hint: fix or remove the link, or exclude it with --exclude a.bin\n');
    expect(r.stderr).not.toContain('does not exist');
  });
});

describe('signed layouts name the model, not a path of the machine', () => {
  let layout: string;
  let digest: string;
  beforeAll(async () => {
    layout = join(tmp.dir, 'abs', 'model-oci');
    digest = await packSample(tmp.dir, `oci:${layout}:v1`);
  });

  it('sign, attest and a promotion record into a layout: the subject is the model name', async () => {
    const ref = `oci:${layout}@${digest}`;
    expect((await runCli(['sign', ref, '--key', signer.key, '--no-tlog'])).status).toBe(0);
    expect((await runCli(['attest', ref, '--type', 'slsa', '--key', signer.key, '--no-tlog'])).status).toBe(0);
    const dst = join(tmp.dir, 'abs', 'promoted-oci');
    const p = await runCli([
      'promote',
      ref,
      `oci:${dst}:v1`,
      '--policy',
      policy,
      '--key',
      signer.key,
      '--no-tlog',
      '--no-progress',
    ]);
    expect([p.status, p.stderr]).toEqual([0, '']);
    const names = [...(await statementsOf(layout, digest)), ...(await statementsOf(dst, digest))].map((s) => s.name);
    expect(names).toHaveLength(5); // signature, provenance; copied: both; the promotion record
    // The name examples/sample-model's card gives (README.md model_name): the config's descriptor.name.
    expect(new Set(names)).toEqual(new Set(['modelship-sample-llama']));
    for (const n of names) expect(n).not.toContain(tmp.dir);
  });

  it('an artifact signed the old way (the layout path as the name) still verifies', async () => {
    const old = join(tmp.dir, 'abs', 'old-oci');
    const d = await packSample(tmp.dir, `oci:${old}:v1`);
    const store = await OciLayoutStore.open(old);
    try {
      await signArtifact({
        store,
        reference: d,
        name: `oci:${old}`,
        subjectName: `oci:${old}`,
        setup: await signingSetup({ key: { path: signer.key }, tlog: false }),
      });
    } finally {
      await store.close();
    }
    expect((await statementsOf(old, d)).map((s) => s.name)).toEqual([`oci:${old}`]);
    const r = await runCli(['verify', `oci:${old}@${d}`, '--policy', policy]);
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^PASS /);
  });
});

describe('promote: no progress line when it fails; into the place it is, nothing copied and no silent record', () => {
  let layout: string;
  let digest: string;
  beforeAll(async () => {
    layout = join(tmp.dir, 'same-oci');
    digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    expect((await runCli(['sign', `oci:${layout}@${digest}`, '--key', signer.key, '--no-tlog'])).status).toBe(0);
  });

  it('CLI: a refused promotion prints the report, no "promote: 0 B 0.0 MB/s"', async () => {
    const strict = join(tmp.dir, 'strict.yaml');
    writeFileSync(strict, `version: 1\nsigners:\n  - key: { path: ${keyPair('other').pub} }\n`);
    const r = await runCli([
      'promote',
      `oci:${layout}:v1`,
      `oci:${join(tmp.dir, 'refused')}`,
      '--policy',
      strict,
      '--no-record',
    ]);
    expect(r.status).toBe(9);
    expect(r.stdout).toContain('nothing was written to the destination');
    expect(r.stderr).not.toMatch(/promote: .*MB\/s/);
  });

  it('promote action: no progress line in the log either', async () => {
    const strict = join(tmp.dir, 'strict-a.yaml');
    writeFileSync(strict, `version: 1\nsigners:\n  - key: { path: ${keyPair('other-a').pub} }\n`);
    const { ctx, recorded } = recordingContext(tmp.dir);
    await expect(
      runPromoteAction(promoteInputs(`oci:${layout}:v1`, `oci:${join(tmp.dir, 'refused-a')}`, strict, false), ctx),
    ).rejects.toMatchObject({ code: 'POLICY' });
    expect(recorded.log.filter((l) => /MB\/s/.test(l))).toEqual([]);
  });

  const records = async (): Promise<number> =>
    (await statementsOf(layout, digest)).filter((s) => s.type.includes('/promotion/')).length;

  it('CLI: a new tag in the same layout is set without a copy, with a record; again, nothing changes', async () => {
    const args = [
      'promote',
      `oci:${layout}:v1`,
      `oci:${layout}:stable`,
      '--policy',
      policy,
      '--key',
      signer.key,
      '--no-tlog',
    ];
    const first = await runCli(args);
    expect([first.status, first.stderr]).toEqual([0, '']);
    expect(first.stdout).toContain(`source and destination are the same (oci:${layout}): nothing to copy\n`);
    expect(first.stdout).toContain('tags: stable\n');
    expect(layoutTags(layout).sort()).toEqual(['stable', 'v1']);
    expect(await records()).toBe(1);

    const again = await runCli(args);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('already tagged there: stable\n');
    expect(again.stdout).toContain('nothing changed: no tag to set, no promotion record added\n');
    expect(await records()).toBe(1);
  });

  it('promote action: the same place with nothing to change adds no record', async () => {
    const { ctx, recorded } = recordingContext(tmp.dir);
    await runPromoteAction(promoteInputs(`oci:${layout}:v1`, `oci:${layout}:stable`, policy, true), ctx);
    expect(recorded.outputs['record-digest']).toBe('');
    expect(recorded.log).toContain('nothing changed: no tag to set, no promotion record added');
    expect(await records()).toBe(1);
  });
});

function promoteInputs(source: string, destination: string, policyPath: string, record: boolean): PromoteInputs {
  return {
    source,
    destination,
    sourceRegistry: {},
    destinationRegistry: {},
    signing: { key: { path: signer.key }, tlog: false },
    policy: policyPath,
    tags: [],
    record,
    tuf: {},
    publicKeys: [],
    concurrency: 4,
    dryRun: false,
    variants: [],
    showSummary: true,
  };
}
