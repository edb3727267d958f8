import { describe, expect, it } from '@jest/globals';
import { ModelshipError, OPTION_WORDS, opt, renderOptions } from '../src/errors.js';
import { keylessSetup } from '../src/sign/keyless.js';

describe('settings named in core errors (opt)', () => {
  it('read in plain words without a front end, in its names with one, never as a raw mark', () => {
    const e = new ModelshipError('USAGE', `bad ${opt('tsaUrl')}`, { hint: `drop ${opt('noTlog')}` });
    expect(e.message).toBe(`bad ${OPTION_WORDS.tsaUrl}`);
    expect(e.hint).toBe(`drop ${OPTION_WORDS.noTlog}`);
    expect(e.render((k) => (k === 'tsaUrl' ? '--tsa-url' : undefined))).toEqual({
      message: 'bad --tsa-url',
      hint: `drop ${OPTION_WORDS.noTlog}`,
    });
    expect(e.template).toEqual({ message: `bad ${opt('tsaUrl')}`, hint: `drop ${opt('noTlog')}` });
    // A brace in quoted text that is not a known key is left alone.
    expect(renderOptions('tag {opt:nope} {x}')).toBe('tag {opt:nope} {x}');
  });

  it('core’s own hints name no front-end flag', async () => {
    const e = await keylessSetup({ tlog: false }).then(
      () => undefined,
      (x: unknown) => x as ModelshipError,
    );
    expect(e?.code).toBe('USAGE');
    expect(`${e!.message} ${e!.hint}`).not.toMatch(/--[a-z]|\{opt:/);
    expect(e!.template.hint).toContain(opt('tsaUrl'));
  });
});
