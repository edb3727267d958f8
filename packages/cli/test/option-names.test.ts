import { describe, expect, it } from '@jest/globals';
import type { Command } from 'commander';
import { OPTION_WORDS } from '@modelship/core';
import { buildProgram } from '../src/main.js';
import { CLI_OPTION_NAMES } from '../src/option-names.js';

function longFlags(cmd: Command, into = new Set<string>()): Set<string> {
  for (const o of cmd.options) if (o.long) into.add(o.long);
  for (const sub of cmd.commands) longFlags(sub, into);
  return into;
}

describe('the CLI names the settings core messages mention by its flags', () => {
  it('knows every key core uses, and each flag it names is one the program defines', () => {
    const io = { out: () => {}, err: () => {}, env: {} } as unknown as Parameters<typeof buildProgram>[0];
    const flags = longFlags(buildProgram(io));
    expect(Object.keys(CLI_OPTION_NAMES).sort()).toEqual(Object.keys(OPTION_WORDS).sort());
    for (const [key, name] of Object.entries(CLI_OPTION_NAMES))
      for (const flag of name.match(/--[a-z-]+/g) ?? [])
        expect([key, flag, flags.has(flag)]).toEqual([key, flag, true]);
  });
});
