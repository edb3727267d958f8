import { describe, expect, it } from '@jest/globals';
import { ModelshipError } from '../src/errors.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import { referrersFallbackTag, type Descriptor } from '../src/oci.js';
import { copyTags, settableTag } from '../src/request/copy-tags.js';
import { parseDuration } from '../src/request/duration.js';
import { requireNoReference } from '../src/request/reference.js';

const root: Descriptor = { mediaType: OCI_MANIFEST, digest: `sha256:${'a'.repeat(64)}`, size: 10 };
const labels = { destination: 'destination', tag: '--tag' };
const dst = (reference?: string) => ({ ...(reference ? { reference } : {}), display: 'reg/x' });

function thrown(fn: () => unknown): ModelshipError {
  try {
    fn();
  } catch (e) {
    return e as ModelshipError;
  }
  throw new Error('did not throw');
}

describe('copyTags: the tags cp, push and pull --output set', () => {
  it('the destination’s tag, else the source’s, then every extra one, once each', () => {
    expect(copyTags(root, { reference: 'v1' }, dst('prod'), ['stable'], labels)).toEqual(['prod', 'stable']);
    expect(copyTags(root, { reference: 'v1' }, dst(), ['stable', 'v1'], labels)).toEqual(['v1', 'stable']);
    expect(copyTags(root, { reference: root.digest }, dst(), undefined, labels)).toEqual([]);
    expect(copyTags(root, { reference: root.digest }, dst(root.digest), ['x'], labels)).toEqual(['x']);
  });

  it('refuses a destination digest other than the source’s, and a referrers index tag', () => {
    const other = `sha256:${'b'.repeat(64)}`;
    const e = thrown(() => copyTags(root, {}, dst(other), [], labels));
    expect([e.code, e.message]).toEqual([
      'USAGE',
      `destination reg/x names digest ${other}, but the source is ${root.digest}`,
    ]);
    const fallback = referrersFallbackTag(root.digest);
    expect(thrown(() => copyTags(root, {}, dst(), [fallback], labels)).message).toBe(
      `--tag "${fallback}" is a referrers index tag (sha256-<hex>), not a tag to set`,
    );
    expect(thrown(() => settableTag(fallback, 'tag')).code).toBe('USAGE');
    expect(settableTag('sha256-not-hex', 'tag')).toBe('sha256-not-hex');
  });
});

describe('parseDuration', () => {
  it('takes whole numbers with s, m, h, d, and 0', () => {
    expect(['0', '30s', '15m', '2h', '7d'].map((v) => parseDuration(v, '--min-age'))).toEqual([
      0, 30_000, 900_000, 7_200_000, 604_800_000,
    ]);
  });
  it('refuses anything else, naming the flag', () => {
    for (const bad of ['', '1', '-1h', '1.5h', '2 hours', 'h'])
      expect([bad, thrown(() => parseDuration(bad, '--min-age')).message]).toEqual([
        bad,
        `--min-age "${bad}" is not a duration`,
      ]);
  });
});

describe('requireNoReference: ls and gc take a whole repository or layout', () => {
  it('refuses a tag or digest', () => {
    expect(() => requireNoReference({}, 'oci:x', 'layout')).not.toThrow();
    expect(thrown(() => requireNoReference({ reference: 'v1' }, 'oci:x:v1', 'layout')).message).toBe(
      'layout "oci:x:v1" names v1, but this takes a whole repository or layout',
    );
  });
});
