import { describe, expect, it } from '@jest/globals';
import { sha256Digest } from '../src/digest.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  parseImageManifest,
  parseReferrerManifest,
  referrerEntry,
  summarizeManifest,
} from '../src/manifest.js';
import { DOCKER_MANIFEST_LIST, OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';

const EMPTY: Descriptor = { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 };
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const descOf = (b: Buffer, mediaType = OCI_MANIFEST): Descriptor => ({
  mediaType,
  digest: sha256Digest(b),
  size: b.length,
});

describe('manifest module', () => {
  it('tells manifest and index media types from blobs', () => {
    expect(isManifestMediaType(OCI_MANIFEST)).toBe(true);
    expect(isManifestMediaType(DOCKER_MANIFEST_LIST)).toBe(true);
    expect(isManifestMediaType('application/octet-stream')).toBe(false);
    expect(isManifestMediaType(undefined)).toBe(false);
    expect(isIndexMediaType(OCI_INDEX)).toBe(true);
    expect(isIndexMediaType(OCI_MANIFEST)).toBe(false);
  });

  it('types a referrer entry by artifactType, else an image manifest by its config media type', () => {
    const typed = json({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'a/b', config: EMPTY, layers: [] });
    const untyped = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: EMPTY,
      layers: [],
      annotations: { k: 'v', n: 1 },
    });
    const index = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], config: EMPTY });
    expect(referrerEntry(descOf(typed), summarizeManifest(typed)!)).toEqual({ ...descOf(typed), artifactType: 'a/b' });
    // Non-string annotation values are dropped: the entry is untrusted input to the next reader.
    expect(referrerEntry(descOf(untyped), summarizeManifest(untyped)!)).toEqual({
      ...descOf(untyped),
      artifactType: OCI_EMPTY,
      annotations: { k: 'v' },
    });
    expect(referrerEntry(descOf(index, OCI_INDEX), summarizeManifest(index)!)).toEqual(descOf(index, OCI_INDEX));
  });

  it('summarizes leniently: subject only when it is a descriptor, nothing for non-objects', () => {
    const subject = { mediaType: OCI_MANIFEST, digest: sha256Digest('s'), size: 1 };
    expect(summarizeManifest(json({ subject }))?.subject).toEqual(subject);
    expect(summarizeManifest(json({ subject: { digest: subject.digest } }))?.subject).toBeUndefined();
    expect(summarizeManifest(Buffer.from('[1]'))).toBeUndefined();
    expect(summarizeManifest(Buffer.from('{'))).toBeUndefined();
  });

  it('parseImageManifest refuses an index with the caller’s hint; parseReferrerManifest asks only for layers', () => {
    const index = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    expect(() => parseImageManifest(index, descOf(index, OCI_INDEX), 'pick one')).toThrow(
      expect.objectContaining({ code: 'INVALID', hint: 'pick one' }),
    );
    expect(parseReferrerManifest(json({ layers: [EMPTY] })).layers).toEqual([EMPTY]);
    expect(() => parseReferrerManifest(json({}))).toThrow(
      expect.objectContaining({ message: 'not an image manifest (no layers)' }),
    );
  });
});
