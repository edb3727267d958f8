/**
 * The variant record: a signed in-toto statement, attached to a variant, naming the primary
 * it was made from and how (docs/predicates.md, "Variant record"). It is what lets the
 * primary's provenance, MOF and per-file attestations speak for the variant: `verify` of a
 * variant finds a trusted record and follows it to the primary (verify/evaluate.ts).
 *
 * Before modelship signs anything about a variant it did not build in the same run, it checks
 * that the variant really is the primary's (checkVariant): a link is an unsigned referrer that
 * anyone who can push may add, and signing it unchecked would sign someone else's manifest.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { isModelshipError } from '../errors.js';
import { parseImageManifest, parseManifest } from '../manifest.js';
import {
  ANNOTATION_BASE_DIGEST,
  ANNOTATION_BASE_NAME,
  OCI_IMAGE_CONFIG,
  OCI_LAYER_TAR,
  layerFilepath,
} from '../mediatypes.js';
import type { Descriptor, Manifest } from '../oci.js';
import { buildCnaiVariant } from '../pack-manifest.js';
import { signArtifact, type SignOptions, type SignResult } from '../sign/sign.js';
import { buildStatement } from '../sign/statement.js';
import type { SigningSetup } from '../sign/types.js';
import type { ContentStore, ReadOnlyStore } from '../store.js';
import { linkedVariants, type LinkedVariant, type VariantName } from './link.js';
import { modelcarLayerStream } from './modelcar.js';
import { modelcarFilesFromStore, readPrimary, type PublishedVariant, type VariantDerivation } from './publish.js';

export const VARIANT_PREDICATE_TYPE = 'https://modelship.dev/attestations/variant/v0.1';

/** The predicate of a variant record (docs/predicates.md). */
export interface VariantPredicate extends VariantDerivation {
  variant: VariantName;
  primary: { name: string; digest: string; mediaType: string; size: number };
  tool: { name: 'modelship'; version?: string };
  [key: string]: unknown;
}

/** A variant to sign or attest along with its primary, and what it was made of. */
export type CoveredVariant = Pick<PublishedVariant, 'name' | 'descriptor' | 'layers' | 'config' | 'platforms' | 'base'>;

export function buildVariantPredicate(
  repository: string,
  primary: Descriptor,
  v: CoveredVariant,
  version?: string,
): VariantPredicate {
  return {
    variant: v.name,
    primary: { name: repository, digest: primary.digest, mediaType: primary.mediaType, size: primary.size },
    ...(v.config ? { config: v.config } : {}),
    layers: v.layers,
    ...(v.platforms ? { platforms: v.platforms } : {}),
    ...(v.base ? { base: v.base } : {}),
    tool: { name: 'modelship', ...(version ? { version } : {}) },
  };
}

/** Signs and attaches the record of `v` (subject: the variant's digest). */
export async function recordVariant(options: {
  store: ContentStore;
  name: string;
  setup: SigningSetup;
  primary: Descriptor;
  variant: CoveredVariant;
  version?: string;
}): Promise<SignResult> {
  const predicate = buildVariantPredicate(options.name, options.primary, options.variant, options.version);
  return signArtifact({
    store: options.store,
    reference: options.variant.descriptor.digest,
    name: options.name,
    setup: options.setup,
    statement: (s) => buildStatement({ name: options.name, digest: s.digest }, VARIANT_PREDICATE_TYPE, predicate),
  });
}

export type VariantCheck = { ok: true; variant: CoveredVariant } | { ok: false; reason: string };

async function sha256Of(stream: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk);
  return `sha256:${h.digest('hex')}`;
}

/**
 * Whether `linked` is what modelship makes from `primary`: the cnai variant must be exactly the
 * manifest buildCnaiVariant gives; a modelcar's last layers on every platform must be the tar
 * layers of the primary's files (re-derived: one read of the model, nothing written), listed
 * in its rootfs.diff_ids. A modelcar's base layers are taken as named (base annotations).
 */
export async function checkVariant(
  store: ReadOnlyStore,
  primary: { descriptor: Descriptor; manifest: Manifest },
  linked: LinkedVariant,
  options: { concurrency?: number } = {},
): Promise<VariantCheck> {
  try {
    if (linked.name === 'cnai') {
      const expected = buildCnaiVariant(primary.manifest);
      if (expected.descriptor.digest !== linked.descriptor.digest)
        return {
          ok: false,
          reason: `not the cnai form of ${primary.descriptor.digest} (expected ${expected.descriptor.digest})`,
        };
      return {
        ok: true,
        variant: {
          name: 'cnai',
          descriptor: expected.descriptor,
          config: primary.manifest.config.digest,
          layers: primary.manifest.layers.map((l) => ({
            path: layerFilepath(l.annotations) ?? '',
            primary: l.digest,
            variant: l.digest,
          })),
        },
      };
    }
    const doc = parseManifest(await store.fetchBytes(linked.descriptor), linked.descriptor);
    if (!('manifests' in doc) || doc.manifests.length === 0)
      return { ok: false, reason: 'a modelcar is an image index' };
    const n = primary.manifest.layers.length;
    let model: Descriptor[] | undefined;
    const platforms: NonNullable<CoveredVariant['platforms']> = [];
    for (const m of doc.manifests) {
      if (!m.platform) return { ok: false, reason: `index entry ${m.digest} names no platform` };
      const img = parseImageManifest(await store.fetchBytes(m), m, 'a modelcar platform');
      if (img.config.mediaType !== OCI_IMAGE_CONFIG)
        return { ok: false, reason: `${m.digest} has no OCI image config` };
      const config = JSON.parse((await store.fetchBytes(img.config)).toString('utf8')) as {
        rootfs?: { diff_ids?: unknown };
      };
      const diffIds = config.rootfs?.diff_ids;
      const tail = img.layers.slice(-n);
      if (img.layers.length < n || tail.some((l) => l.mediaType !== OCI_LAYER_TAR))
        return { ok: false, reason: `${m.digest} does not end with one tar layer per model file` };
      if (
        !Array.isArray(diffIds) ||
        diffIds.length !== img.layers.length ||
        tail.some((l, i) => diffIds[diffIds.length - n + i] !== l.digest)
      )
        return { ok: false, reason: `${m.digest}: rootfs.diff_ids does not list its layers` };
      if (model && tail.some((l, i) => l.digest !== model![i]!.digest))
        return { ok: false, reason: 'its platforms carry different model layers' };
      model = tail;
      platforms.push({ platform: m.platform, digest: m.digest });
    }
    const files = modelcarFilesFromStore(store, primary.manifest);
    const limit = pLimit(options.concurrency ?? 4);
    const digests = await Promise.all(
      files.map((f) => limit(async () => sha256Of(modelcarLayerStream(f, await f.open()) as AsyncIterable<Buffer>))),
    );
    const bad = digests.findIndex((d, i) => d !== model![i]!.digest);
    if (bad >= 0) return { ok: false, reason: `its layer for ${files[bad]!.path} is not that file of the primary` };
    const baseName = doc.annotations?.[ANNOTATION_BASE_NAME];
    const baseDigest = doc.annotations?.[ANNOTATION_BASE_DIGEST];
    return {
      ok: true,
      variant: {
        name: 'modelcar',
        descriptor: linked.descriptor,
        layers: files.map((f, i) => ({
          path: f.path,
          primary: primary.manifest.layers[i]!.digest,
          variant: digests[i]!,
        })),
        platforms,
        ...(baseName && baseDigest ? { base: { name: baseName, digest: baseDigest } } : {}),
      },
    };
  } catch (e) {
    if (isModelshipError(e) && (e.code === 'NETWORK' || e.code === 'AUTH')) throw e;
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

export interface SkippedVariant {
  name: VariantName;
  digest: string;
  reason: string;
}

/**
 * The variants sign and attest cover with `primary`: `given` ones (built in this run), else
 * every linked variant that checkVariant accepts; the others are returned as skipped.
 */
export async function variantsToCover(
  store: ReadOnlyStore,
  primary: Descriptor,
  given?: CoveredVariant[],
): Promise<{ covered: CoveredVariant[]; skipped: SkippedVariant[] }> {
  if (given) return { covered: given, skipped: [] };
  const linked = await linkedVariants(store, primary);
  if (!linked.length) return { covered: [], skipped: [] };
  const p = await readPrimary(store, primary);
  const covered: CoveredVariant[] = [];
  const skipped: SkippedVariant[] = [];
  const seen = new Set<string>();
  for (const l of linked) {
    if (seen.has(l.descriptor.digest)) continue;
    seen.add(l.descriptor.digest);
    const c = await checkVariant(store, p, l);
    if (c.ok) covered.push(c.variant);
    else skipped.push({ name: l.name, digest: l.descriptor.digest, reason: c.reason });
  }
  return { covered, skipped };
}

/** A variant named in a trusted record, as verify reports it. */
export function parseVariantPredicate(predicate: Record<string, unknown>): VariantPredicate | undefined {
  const p = predicate as Partial<VariantPredicate>;
  if (typeof p.variant !== 'string' || !p.primary || typeof p.primary.digest !== 'string') return undefined;
  if (!Array.isArray(p.layers)) return undefined;
  return p as VariantPredicate;
}

export interface SignedVariant {
  name: VariantName;
  descriptor: Descriptor;
  /** The signature (cosign's predicate), as on the primary. */
  signature: SignResult;
  /** The variant record naming the primary. */
  record: SignResult;
}

export interface SignWithVariantsResult {
  primary: SignResult;
  variants: SignedVariant[];
  /** Linked variants not signed because they are not what modelship makes from the primary. */
  skipped: SkippedVariant[];
}

/**
 * `sign` of a primary: its signature, then for every variant (built in this run, or linked
 * and checked) a signature over the variant's digest and its variant record.
 */
export async function signWithVariants(
  options: SignOptions & { variants?: CoveredVariant[] | false; version?: string },
): Promise<SignWithVariantsResult> {
  const { variants: given, version, ...sign } = options;
  const primary = await signArtifact(sign);
  const { covered, skipped } =
    given === false ? { covered: [], skipped: [] } : await variantsToCover(sign.store, primary.subject, given);
  const variants: SignedVariant[] = [];
  for (const v of covered) {
    const signature = await signArtifact({ ...sign, reference: v.descriptor.digest });
    const record = await recordVariant({
      store: sign.store,
      name: sign.name,
      setup: sign.setup,
      primary: primary.subject,
      variant: v,
      ...(version ? { version } : {}),
    });
    variants.push({ name: v.name, descriptor: v.descriptor, signature, record });
  }
  return { primary, variants, skipped };
}
