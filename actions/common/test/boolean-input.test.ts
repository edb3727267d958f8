import { afterEach, describe, expect, it } from '@jest/globals';
import { booleanInput } from '../src/inputs.js';

const ENV = 'INPUT_PLAIN-HTTP';
afterEach(() => {
  delete process.env[ENV];
});

describe('booleanInput', () => {
  it('reads the YAML booleans, and empty as the action.yml default', () => {
    for (const [v, want] of [
      ['true', true],
      ['True', true],
      ['FALSE', false],
      ['false', false],
    ] as const) {
      process.env[ENV] = v;
      expect(booleanInput('plain-http', !want)).toBe(want);
    }
    process.env[ENV] = '';
    expect(booleanInput('plain-http', true)).toBe(true);
    delete process.env[ENV];
    expect(booleanInput('plain-http', false)).toBe(false);
  });

  it('anything else is a USAGE error naming the input and the value, not an internal error', () => {
    process.env[ENV] = 'yes';
    expect(() => booleanInput('plain-http', false)).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'input plain-http must be true or false, got "yes"' }),
    );
  });
});
