/**
 * `cosign verify --local-image DIR` verifies the index.json entry annotated
 * `kind: dev.cosignproject.cosign/image` and finds its bundles by scanning blobs/sha256 for
 * referrer manifests of that digest (sigstore/cosign pkg/cosign/verify.go
 * getLocalBundleDescriptors, constants in pkg/oci/layout/index.go). `cosignLocalBundles`
 * below re-implements that lookup. modelship's layouts must give it the artifact, and stay
 * valid OCI image indexes (image-spec v1.1.1 image-index-schema.json, read from the steering
 * repo's shared/data/schemas/oci) with every other annotation kept.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sharedDir } from './shared-dir.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Ajv as AjvCore } from 'ajv';
import AjvModule, { type ValidateFunction } from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { sha256Digest } from '../src/digest.js';
import { OciLayoutStore } from '../src/layout.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor, Index } from '../src/oci.js';
import { pack } from '../src/pack.js';
import { generateKeyPair, keySetup, loadPrivateKey } from '../src/sign/keys.js';
import { signArtifact } from '../src/sign/sign.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SAMPLE = join(REPO_ROOT, 'examples', 'sample-model');
const REF_NAME = 'org.opencontainers.image.ref.name';
const KIND = 'kind';
const IMAGE = 'dev.cosignproject.cosign/image';
const IMAGE_INDEX = 'dev.cosignproject.cosign/imageIndex';

function sharedSchemas(): string {
  return sharedDir(join('data', 'schemas', 'oci', 'image-spec-v1.1.1'));
}

/**
 * The image-spec schemas are draft-04 and refer to each other by file name
 * (`defs-descriptor.json#/definitions/…`) from inside sub-schemas with their own `id`s, which
 * move the base URI away from the files. Each file is registered under one URN per file name
 * and its `$ref`s are pointed there; the schema texts are otherwise used as published.
 */
// CommonJS packages: the class / function is `default` under ts-jest, the module itself under node.
type AjvDraft04 = AjvCore;
const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (o: object) => AjvDraft04;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: AjvDraft04,
) => void;

function indexValidator(): ValidateFunction {
  const dir = sharedSchemas();
  const ajv = new Ajv({ allErrors: true });
  addFormats(ajv);
  ajv.addKeyword('media'); // draft-04 hyper-schema annotation in defs.json; no validation meaning
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!v || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === '$ref' && typeof x === 'string' && /^[a-z-]+\.json(#|$)/.test(x) ? `urn:oci:${x}` : rewrite(x);
    }
    return out;
  };
  for (const f of ['defs.json', 'defs-descriptor.json', 'content-descriptor.json', 'image-index-schema.json']) {
    const schema = rewrite(JSON.parse(readFileSync(join(dir, f), 'utf8'))) as Record<string, unknown>;
    delete schema['id'];
    ajv.addSchema(schema, `urn:oci:${f}`);
  }
  return ajv.getSchema('urn:oci:image-index-schema.json')!;
}

/** cosign getLocalBundleDescriptors: the first `kind: …/image` entry, then blobs/ scanned for its referrers' bundle layers. */
function cosignLocalBundles(layout: string): { target: string; bundles: string[] } | undefined {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
  const target = index.manifests.find((m) => m.annotations?.[KIND] === IMAGE)?.digest;
  if (!target) return undefined;
  const bundles: string[] = [];
  const blobs = join(layout, 'blobs', 'sha256');
  for (const name of readdirSync(blobs)) {
    let m: { subject?: { digest?: string }; layers?: { mediaType?: string; digest: string }[] };
    try {
      m = JSON.parse(readFileSync(join(blobs, name), 'utf8')) as typeof m;
    } catch {
      continue;
    }
    if (m?.subject?.digest !== target) continue;
    for (const l of m.layers ?? [])
      if (l.mediaType?.startsWith('application/vnd.dev.sigstore.bundle')) bundles.push(l.digest);
  }
  return { target, bundles };
}

let tmp: string;
let validate: ValidateFunction;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'modelship-cosign-kind-'));
  validate = indexValidator();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function readIndex(layout: string): Index {
  return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
}

function expectValidIndex(layout: string): void {
  const ok = validate(readIndex(layout));
  expect(validate.errors ?? []).toEqual([]);
  expect(ok).toBe(true);
}

describe('index.json: the cosign target annotation', () => {
  it('the schema check can fail (a non-string annotation, a bad digest)', () => {
    const bad = {
      schemaVersion: 2,
      manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:XYZ!', size: 1, annotations: { kind: 1 } }],
    };
    expect(validate(bad)).toBe(false);
  });

  it('pack: the artifact entry carries kind …/image next to its ref.name; cosign finds it and its bundles', async () => {
    const layout = join(tmp, 'one');
    const store = await OciLayoutStore.open(layout, { create: true });
    try {
      const r = await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
      const entry = readIndex(layout).manifests.find((d) => d.digest === r.descriptor.digest)!;
      expect(entry.annotations).toEqual({ [REF_NAME]: 'v1', [KIND]: IMAGE });
      expectValidIndex(layout);

      const key = await loadPrivateKey({ pem: generateKeyPair().privateKeyPem });
      const signed = await signArtifact({ store, reference: 'v1', name: 'oci:m', setup: await keySetup(key) });
      // The referrer is a plain root: no cosign kind (…/sigs and …/atts are legacy signature images).
      const referrer = readIndex(layout).manifests.find((d) => d.digest === signed.referrer.digest)!;
      expect(referrer.annotations?.[KIND]).toBeUndefined();
      expect(readIndex(layout).manifests.filter((d) => d.annotations?.[KIND] !== undefined)).toHaveLength(1);
      expectValidIndex(layout);

      expect(cosignLocalBundles(layout)).toEqual({
        target: r.descriptor.digest,
        bundles: [signed.bundleDescriptor.digest],
      });
    } finally {
      await store.close();
    }
  });

  it('one target per layout: it follows the last tag; ref.name and other annotations stay', async () => {
    const layout = join(tmp, 'two');
    const store = await OciLayoutStore.open(layout, { create: true });
    try {
      const a = await pack({ dir: SAMPLE, target: store, tags: ['v1', 'latest'], cache: null });
      const b = await pack({
        dir: SAMPLE,
        target: store,
        tags: ['v2'],
        cache: null,
        createdAt: '2026-01-02T03:04:05Z',
      });
      expect(b.descriptor.digest).not.toBe(a.descriptor.digest);
      let index = readIndex(layout);
      expect(index.manifests.filter((d) => d.annotations?.[KIND] === IMAGE).map((d) => d.digest)).toEqual([
        b.descriptor.digest,
      ]);
      expect(index.manifests.filter((d) => d.digest === a.descriptor.digest).map((d) => d.annotations)).toEqual([
        { [REF_NAME]: 'v1' },
        { [REF_NAME]: 'latest' },
      ]);
      expectValidIndex(layout);

      // Tagging the first artifact again moves the target back, on both of its tagged entries.
      await store.tag(a.descriptor, 'stable');
      index = readIndex(layout);
      const kinds = index.manifests.filter((d) => d.annotations?.[KIND] !== undefined);
      expect(new Set(kinds.map((d) => d.digest))).toEqual(new Set([a.descriptor.digest]));
      expect(index.manifests.find((d) => d.digest === b.descriptor.digest)!.annotations).toEqual({ [REF_NAME]: 'v2' });
      expect(cosignLocalBundles(layout)?.target).toBe(a.descriptor.digest);
      expectValidIndex(layout);
      expect((await store.resolve('v2')).digest).toBe(b.descriptor.digest);
      expect(await store.tags()).toEqual(['v1', 'latest', 'v2', 'stable']);
    } finally {
      await store.close();
    }
  });

  it('an image index gets …/imageIndex, as cosign save writes it; the fallback tag gets none', async () => {
    const layout = join(tmp, 'index');
    const store = await OciLayoutStore.open(layout, { create: true });
    try {
      const empty = Buffer.from('{}');
      await store.push({ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }, empty);
      const manifestBytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
          layers: [],
        }),
      );
      const manifest: Descriptor = {
        mediaType: OCI_MANIFEST,
        digest: sha256Digest(manifestBytes),
        size: manifestBytes.length,
      };
      await store.push(manifest, manifestBytes);
      const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifest] }));
      const idx: Descriptor = { mediaType: OCI_INDEX, digest: sha256Digest(indexBytes), size: indexBytes.length };
      await store.push(idx, indexBytes);
      await store.tag(idx, 'multi');
      expect(readIndex(layout).manifests.find((d) => d.annotations?.[REF_NAME] === 'multi')!.annotations).toEqual({
        [REF_NAME]: 'multi',
        [KIND]: IMAGE_INDEX,
      });
      const fallback = `sha256-${manifest.digest.slice(7)}`;
      await store.tag(idx, fallback);
      expect(readIndex(layout).manifests.find((d) => d.annotations?.[REF_NAME] === fallback)!.annotations).toEqual({
        [REF_NAME]: fallback,
      });
      expectValidIndex(layout);
    } finally {
      await store.close();
    }
  });
});
