// Hostile registries: whatever referrer manifests and bundles a registry serves (malformed,
// oversized, wrong media types, digest mismatches, subjects of other artifacts), discovery
// sorts each referrer into "bundle", "rejected with a reason" or "not a bundle" and never
// throws anything but NETWORK; evaluation of a report never crashes, Notation signatures
// included. Also a zstd bomb.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest } from '../src/digest.js';
import { ModelshipError } from '../src/errors.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';
import type { ContentStore } from '../src/store.js';
import { discoverReferrers, MAX_BUNDLE_BYTES } from '../src/verify/discover.js';
import { extractLayer } from '../src/extract.js';
import { verifyBundle } from '../src/verify/bundles.js';
import { trustMaterial } from '../src/verify/trust.js';
import { generateKeyPairSync } from 'node:crypto';
import { zstdCompress } from '../src/compression.js';
import { verifyNotationReferrers } from '../src/notation/verify.js';

const BUNDLE_MT = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/**
 * A registry stand-in that serves whatever it was given, checking digests as real stores do
 * (a mismatch is INVALID) — unless `lie` is set for a digest, then it serves other bytes.
 */
class HostileStore implements ContentStore {
  readonly kind = 'registry' as const;
  readonly location = 'hostile.example/x';
  constructor(
    private readonly blobs: Map<string, Buffer>,
    private readonly list: unknown[],
  ) {}
  exists(d: Descriptor): Promise<boolean> {
    return Promise.resolve(this.blobs.has(d.digest));
  }
  fetch(d: Descriptor): Promise<Readable> {
    return this.fetchBytes(d).then((b) => Readable.from([b]));
  }
  fetchBytes(d: Descriptor, max = 4 * 1024 * 1024): Promise<Buffer> {
    const b = this.blobs.get(d.digest);
    if (!b) return Promise.reject(new ModelshipError('NOT_FOUND', `${d.digest} not found`));
    if (b.length > max) return Promise.reject(new ModelshipError('INVALID', `${d.digest} is over ${max} bytes`));
    if (sha256Digest(b) !== d.digest)
      return Promise.reject(new ModelshipError('INVALID', `${d.digest} digest mismatch`));
    return Promise.resolve(b);
  }
  push(): Promise<never> {
    return Promise.reject(new Error('read-only'));
  }
  ingest(): Promise<never> {
    return Promise.reject(new Error('read-only'));
  }
  resolve(): Promise<never> {
    return Promise.reject(new Error('unused'));
  }
  tag(): Promise<void> {
    return Promise.reject(new Error('read-only'));
  }
  referrers(): Promise<Descriptor[]> {
    return Promise.resolve(this.list as Descriptor[]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const subject: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest('the model'), size: 9 };
const other = sha256Digest('another model');

const json = fc.jsonValue({ maxDepth: 3 });
const bundleBytes = fc.oneof(
  json.map((v) => Buffer.from(JSON.stringify(v))),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.constant(Buffer.from('{"mediaType":"' + BUNDLE_MT + '","verificationMaterial":{}}')),
);
/** A referrer: a manifest (well-formed or not) whose one layer may be a bundle. */
const referrer = fc.record({
  bundle: bundleBytes,
  layerMediaType: fc.constantFrom(
    BUNDLE_MT,
    'application/vnd.dev.sigstore.bundle+json;version=0.2',
    'text/plain',
    '',
    'application/jose+json',
    'application/cose',
  ),
  notation: fc.boolean(),
  subjectDigest: fc.constantFrom(subject.digest, other, 'sha256:zz', ''),
  layerSize: fc.oneof(fc.constant(-1), fc.constant(MAX_BUNDLE_BYTES + 1), fc.constant(undefined), fc.nat()),
  layers: fc.constantFrom(0, 1, 2),
  garbageManifest: fc.option(json, { freq: 4 }),
  lieAboutManifest: fc.boolean(),
  listedMediaType: fc.constantFrom(OCI_MANIFEST, 'application/octet-stream', undefined),
});

describe('discoverReferrers against a hostile registry', () => {
  it('sorts every referrer into bundle / rejected / skipped, never throwing', async () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const trust = await trustMaterial({ publicKeys: [{ pem: pem as string }] });
    await fc.assert(
      fc.asyncProperty(fc.array(referrer, { maxLength: 5 }), fc.array(json, { maxLength: 2 }), async (refs, junk) => {
        const blobs = new Map<string, Buffer>();
        const list: unknown[] = [...junk];
        for (const r of refs) {
          const bd = sha256Digest(r.bundle);
          blobs.set(bd, r.bundle);
          const layer = { mediaType: r.layerMediaType, digest: bd, size: r.layerSize ?? r.bundle.length };
          const manifest = r.garbageManifest ?? {
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            ...(r.notation ? { artifactType: 'application/vnd.cncf.notary.signature' } : {}),
            annotations: { 'io.cncf.notary.x509chain.thumbprint#S256': '[]' },
            config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest('{}'), size: 2 },
            layers: Array.from({ length: r.layers }, () => layer),
            ...(r.subjectDigest ? { subject: { mediaType: OCI_MANIFEST, digest: r.subjectDigest, size: 9 } } : {}),
          };
          const mb = Buffer.from(JSON.stringify(manifest) ?? 'null');
          const md = sha256Digest(mb);
          blobs.set(md, r.lieAboutManifest ? Buffer.concat([mb, Buffer.from(' ')]) : mb);
          list.push({ mediaType: r.listedMediaType, digest: md, size: mb.length });
        }
        const store = new HostileStore(blobs, list);
        const { bundles, rejected, others } = await discoverReferrers(store, subject);
        // Other referrers keep only the few fields signature formats read.
        for (const o of others) {
          expect(o.manifest.annotations).toBeUndefined();
          expect(o.manifest.layers.length).toBeLessThanOrEqual(2);
        }
        // Notation: whatever the envelope holds, a reason, never an exception.
        for (const n of await verifyNotationReferrers(store, subject, others, []))
          if (!n.verification.ok) expect(n.verification.reason.length).toBeGreaterThan(0);
        expect(bundles.length + rejected.length).toBeLessThanOrEqual(list.length);
        for (const b of bundles) {
          // Only bundles whose manifest names this subject and whose bytes matched their digest.
          expect(blobs.get(b.bundleDigest)!.length).toBeLessThanOrEqual(MAX_BUNDLE_BYTES);
          // And whatever JSON it holds, verification answers with a reason instead of throwing.
          const v = verifyBundle(b.bundle, subject.digest, trust);
          expect(v.ok).toBe(false);
          if (!v.ok) expect(v.reason.length).toBeGreaterThan(0);
        }
        for (const r of rejected) expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('decompression bombs', () => {
  it('stops a tar+zstd layer that expands past its cap', async () => {
    const root = mkdtempSync(join(tmpdir(), 'modelship-zbomb-'));
    try {
      // A tar header plus 16 MiB of zeros: a few hundred bytes compressed.
      const header = Buffer.alloc(512);
      header.write('zeros.bin', 0);
      header.write('0000644\0', 100);
      header.write('0000000\0', 108);
      header.write('0000000\0', 116);
      header.write((16 * 1024 * 1024).toString(8).padStart(11, '0') + '\0', 124);
      header.write('00000000000\0', 136);
      header.write('        ', 148);
      header.write('0', 156);
      header.write('ustar\0', 257);
      header.write('00', 263);
      let sum = 0;
      for (const b of header) sum += b;
      header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
      const tar = Buffer.concat([header, Buffer.alloc(16 * 1024 * 1024), Buffer.alloc(1024)]);
      const parts: Buffer[] = [];
      for await (const c of zstdCompress(Readable.from([tar]), 'bomb')) parts.push(c as Buffer);
      const z = Buffer.concat(parts);
      expect(z.length).toBeLessThan(64 * 1024);
      const d: Descriptor = {
        mediaType: 'application/vnd.cncf.model.weight.v1.tar+zstd',
        digest: sha256Digest(z),
        size: z.length,
      };
      const err = await extractLayer(join(root, 'out'), d, Readable.from([z]), { maxExpandedBytes: 1024 * 1024 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ModelshipError);
      expect((err as ModelshipError).message).toMatch(/expands past/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
