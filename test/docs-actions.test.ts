import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
