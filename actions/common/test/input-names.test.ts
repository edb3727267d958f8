import { describe, expect, it, jest } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { keylessSetup, ModelshipError, OPTION_WORDS, opt, type OptionKey } from '@modelship/core';
import { runAction } from '../src/context.js';
import { ACTION_INPUT_NAMES, actionInputName } from '../src/input-names.js';

const ACTIONS = fileURLToPath(new URL('../..', import.meta.url));

/** Every input any action declares, from the action.yml files themselves. */
function declaredInputs(): Set<string> {
  const names = new Set<string>();
  for (const dir of readdirSync(ACTIONS)) {
    let text: string;
    try {
      text = readFileSync(join(ACTIONS, dir, 'action.yml'), 'utf8');
    } catch {
      continue;
    }
    for (const name of Object.keys((parse(text) as { inputs?: object }).inputs ?? {})) names.add(name);
  }
  return names;
}

describe('the actions name the settings core messages mention by their inputs', () => {
  it('knows every key core uses, each an input some action.yml declares', () => {
    const inputs = declaredInputs();
    expect(Object.keys(ACTION_INPUT_NAMES).sort()).toEqual(Object.keys(OPTION_WORDS).sort());
    for (const [key, input] of Object.entries(ACTION_INPUT_NAMES)) {
      if (input === null) continue;
      // `tlog: false` names the input tlog with the value that means the setting.
      expect([key, inputs.has(input.split(':')[0]!)]).toEqual([key, true]);
    }
  });

  it('renders a core error with the input names, and a key without an input in plain words', () => {
    const e = new ModelshipError('USAGE', `bad ${opt('tsaUrl')}`, { hint: `pass ${opt('force')}` });
    expect(e.render(actionInputName)).toEqual({ message: 'bad input tsa-url', hint: `pass ${OPTION_WORDS.force}` });
    expect(actionInputName('noTlog' satisfies OptionKey)).toBe('input tlog: false');
  });

  it('fails the step with a real core hint in the action’s words, not the CLI’s', async () => {
    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out.push(String(chunk));
      return true;
    });
    const saved = process.exitCode;
    try {
      // keyless signing without a tlog or a TSA: refused before any network.
      await runAction(async () => {
        await keylessSetup({ tlog: false });
      });
    } finally {
      write.mockRestore();
      process.exitCode = saved;
    }
    const failed = out.join('');
    expect(failed).toContain('USAGE: keyless signing without a transparency log needs a timestamp authority');
    expect(failed).toContain('drop input tlog: false) or pass input tsa-url');
    expect(failed).not.toMatch(/--[a-z]|\{opt:/);
  });
});
