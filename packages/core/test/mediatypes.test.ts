import { describe, expect, it } from '@jest/globals';
import { layerMediaType, parseLayerMediaType } from '../src/mediatypes.js';
import { referrersFallbackTag } from '../src/oci.js';

describe('media types', () => {
  it('round-trips every kind and encoding in both families', () => {
    for (const family of ['cncf', 'cnai'] as const)
      for (const kind of ['weight', 'weight.config', 'doc', 'code', 'dataset'] as const)
        for (const encoding of ['raw', 'tar', 'tar+gzip', 'tar+zstd'] as const)
          expect(parseLayerMediaType(layerMediaType(family, kind, encoding))).toEqual({ family, kind, encoding });
  });
  it('names the tar type without a suffix and raw with .raw', () => {
    expect(layerMediaType('cncf', 'weight', 'tar')).toBe('application/vnd.cncf.model.weight.v1.tar');
    expect(layerMediaType('cnai', 'weight.config', 'raw')).toBe('application/vnd.cnai.model.weight.config.v1.raw');
    expect(parseLayerMediaType('application/vnd.cncf.model.weight.v1.gguf')).toBeUndefined();
  });
  it('builds the referrers fallback tag', () => {
    const d = 'sha256:' + 'ab'.repeat(32);
    expect(referrersFallbackTag(d)).toBe('sha256-' + 'ab'.repeat(32));
  });
});
