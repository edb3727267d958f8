// Property-based tests: whatever a registry, a layout or a user hands us, parsers either return
// a well-formed value or throw a ModelshipError with a stable code — never a TypeError, never a
// path outside the chosen directory.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { join, relative, isAbsolute } from 'node:path';
import { ModelshipError } from '../src/errors.js';
import { formatReference, parseReference, type Reference } from '../src/reference.js';
import { parsePolicy } from '../src/policy/parse.js';
import { parseManifest, summarizeManifest } from '../src/manifest.js';
import { parseFallbackIndex, wellFormedReferrers } from '../src/registry/referrers.js';
import { isDigest } from '../src/oci.js';
import { parseStatement } from '../src/sign/statement.js';
import { safeJoin } from '../src/extract.js';
import { readCapped } from '../src/streams.js';
import { Readable } from 'node:stream';
import { OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';

const RUNS = { numRuns: 300 };

/** Runs f; a thrown error must be a ModelshipError with one of `codes`. */
function onlyModelshipErrors<T>(f: () => T, codes: string[]): T | undefined {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof ModelshipError)) throw new Error(`threw a ${(e as Error)?.constructor?.name}: ${String(e)}`);
    expect(codes).toContain(e.code);
    return undefined;
  }
}

// JSON values that look a little like the documents in question, so the parsers' deeper
// branches are reached, not just the "not an object" guard.
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.string(),
    fc.constantFrom(OCI_MANIFEST, OCI_INDEX, 'sha256:' + 'a'.repeat(64), '../../etc/passwd', 2),
    fc.array(tie('value'), { maxLength: 4 }),
    tie('object'),
  ),
  object: fc.dictionary(
    fc.constantFrom(
      'schemaVersion',
      'mediaType',
      'manifests',
      'config',
      'layers',
      'subject',
      'digest',
      'size',
      'artifactType',
      'annotations',
      '_type',
      'predicateType',
      'predicate',
      '__proto__',
      'constructor',
    ),
    tie('value'),
    { maxKeys: 6 },
  ),
}));

const bytesOf = (v: unknown): Buffer => Buffer.from(JSON.stringify(v) ?? 'null');

describe('reference parsing', () => {
  it('any string parses to a valid reference or fails with USAGE', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.stringMatching(/^[a-z0-9.:/@_-]{0,80}$/)),
        (s) => {
          const r = onlyModelshipErrors(() => parseReference(s), ['USAGE']);
          if (r) {
            expect(r.repository.length).toBeGreaterThan(0);
            // What we parsed must survive a format/parse round trip unchanged.
            expect(parseReference(formatReference(r))).toEqual(r);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/).filter((c) => c.length > 0 && c.length < 20);
  const host = fc.oneof(
    fc.constantFrom('localhost', '127.0.0.1', '[::1]', 'ghcr.io', 'registry.example.com'),
    fc
      .tuple(
        component.filter((c) => /^[a-z0-9-]+$/.test(c) && !c.endsWith('-')),
        fc.constantFrom('.io', '.dev'),
      )
      .map(([a, b]) => a + b),
  );
  const generated: fc.Arbitrary<Reference> = fc
    .record({
      registry: fc
        .tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }))
        .map(([h, p]) => (p === undefined ? h : `${h}:${p}`)),
      repository: fc.array(component, { minLength: 1, maxLength: 4 }).map((a) => a.join('/')),
      tag: fc.option(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/), { nil: undefined }),
    })
    .chain((r) =>
      fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }).map((d) => {
        const out: Reference = { registry: r.registry, repository: r.repository };
        if (r.tag !== undefined) out.tag = r.tag;
        if (d) out.digest = 'sha256:' + Buffer.from(d).toString('hex');
        return out;
      }),
    );

  it('every well-formed reference round-trips', () => {
    fc.assert(
      fc.property(generated, (r) => {
        expect(parseReference(formatReference(r))).toEqual(r);
      }),
      RUNS,
    );
  });
});

describe('policy parsing', () => {
  it('arbitrary text is a policy or an INPUT error naming the file', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        try {
          parsePolicy(text, 'p.yaml');
        } catch (e) {
          expect(e).toBeInstanceOf(ModelshipError);
          expect((e as ModelshipError).code).toBe('INPUT');
          expect((e as ModelshipError).message).toMatch(/p\.yaml(:\d+)?: /);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary YAML documents near the schema are a policy or an INPUT error', () => {
    const signer = fc.oneof(
      fc.record({ github: fc.record({ repository: fc.string(), workflow: fc.string(), ref: fc.string() }) }),
      fc.record({ keyless: fc.record({ issuer: fc.string(), identity: fc.string() }) }),
      fc.record({ key: fc.oneof(fc.record({ path: fc.string() }), fc.record({ pem: fc.string() })) }),
      jsonish.value,
    );
    const doc = fc.record(
      {
        version: fc.oneof(fc.constant(1), jsonish.value),
        signers: fc.oneof(fc.array(signer, { maxLength: 3 }), jsonish.value),
        minSignatures: fc.oneof(fc.integer({ min: -2, max: 5 }), jsonish.value),
        require: jsonish.value,
        trust: jsonish.value,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(doc, (d) => {
        const text = JSON.stringify(d); // JSON is YAML
        const p = onlyModelshipErrors(() => parsePolicy(text, 'p.yaml'), ['INPUT']);
        if (p) {
          expect(p.signers.length).toBeGreaterThan(0);
          for (const s of p.signers)
            if (s.type === 'keyless') {
              expect(s.identity.startsWith('^')).toBe(true);
              expect(s.identity.endsWith('$')).toBe(true);
            }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('documents from a registry or layout', () => {
  const desc = { mediaType: OCI_MANIFEST, digest: 'sha256:' + 'b'.repeat(64), size: 1 };

  it('manifests: parsed with their lists, or INVALID', () => {
    fc.assert(
      fc.property(fc.oneof(jsonish.value, jsonish.object), fc.constantFrom(OCI_MANIFEST, OCI_INDEX), (v, mt) => {
        const m = onlyModelshipErrors(() => parseManifest(bytesOf(v), { ...desc, mediaType: mt }), ['INVALID']);
        if (m) {
          if ('manifests' in m && Array.isArray(m.manifests)) return;
          expect(Array.isArray((m as { layers: unknown }).layers)).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('manifests: raw bytes never crash the parser', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        onlyModelshipErrors(() => parseManifest(Buffer.from(b), desc), ['INVALID']);
        expect(() => summarizeManifest(Buffer.from(b))).not.toThrow();
      }),
      RUNS,
    );
  });

  it('fallback indexes: an index with a manifests list, or INVALID', () => {
    fc.assert(
      fc.property(fc.oneof(jsonish.value, jsonish.object), (v) => {
        const ix = onlyModelshipErrors(() => parseFallbackIndex(bytesOf(v), desc.digest, 'tag sha256-b…'), ['INVALID']);
        if (ix) {
          expect(ix.mediaType).toBe(OCI_INDEX);
          expect(Array.isArray(ix.manifests)).toBe(true);
          // What gets followed from it has digests that are safe in URLs and file names.
          for (const d of wellFormedReferrers(ix.manifests)) {
            expect(isDigest(d.digest)).toBe(true);
            expect(Number.isSafeInteger(d.size)).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('signed payloads: an in-toto statement, or INVALID', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          jsonish.value,
          fc.record({
            _type: fc.constantFrom('https://in-toto.io/Statement/v1', 'x'),
            subject: jsonish.value,
            predicateType: jsonish.value,
          }),
        ),
        (v) => {
          const s = onlyModelshipErrors(() => parseStatement(bytesOf(v)), ['INVALID']);
          if (s) {
            expect(Array.isArray(s.subject)).toBe(true);
            expect(typeof s.predicateType).toBe('string');
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('paths from artifacts (filepath annotations, tar entries)', () => {
  const root = join('/tmp', 'extract-root');
  const segment = fc.oneof(
    fc.constantFrom('..', '.', '', 'a', 'b.txt', '...', '..a', 'a..', '\\..', '..\\', '\0', '~', '%2e%2e'),
    fc.string({ maxLength: 6 }),
  );
  const hostilePath = fc.oneof(
    fc.string(),
    fc.array(segment, { maxLength: 6 }).map((a) => a.join('/')),
    fc.array(segment, { maxLength: 6 }).map((a) => '/' + a.join('/')),
  );

  it('a path either resolves strictly inside the root or is refused as INVALID', () => {
    fc.assert(
      fc.property(hostilePath, (p) => {
        const out = onlyModelshipErrors(() => safeJoin(root, p, 'layer x'), ['INVALID']);
        if (out !== undefined) {
          const rel = relative(root, out);
          expect(rel === '' || rel.startsWith('..') || isAbsolute(rel)).toBe(false);
          expect(out.includes('\0')).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('untrusted bodies are capped before parsing', () => {
  it('readCapped returns exactly the bytes up to the cap and refuses one byte more (INVALID)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.nat(3000),
        async (chunks, max) => {
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          const read = readCapped(Readable.from(chunks.map((c) => Buffer.from(c))), max, 'answer');
          if (all.length <= max) expect((await read).equals(all)).toBe(true);
          else {
            const e = await read.then(
              () => undefined,
              (x: unknown) => x,
            );
            expect(e).toBeInstanceOf(ModelshipError);
            expect((e as ModelshipError).code).toBe('INVALID');
            expect((e as ModelshipError).message).toContain(`answer is larger than ${max} bytes`);
          }
        },
      ),
      RUNS,
    );
  });
});
