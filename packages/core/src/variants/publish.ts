/**
 * Publishing variants next to a primary: build each one in the target (or find it copied
 * there), link it to the primary, tag it `<tag>-<name>`. pack calls this with the model's
 * local files, push (copyWithVariants) with the source store's blobs.
 */
import { createReadStream } from 'node:fs';
import { copyGraph, type CopyOptions, type CopyStats } from '../copy.js';
import { ModelshipError } from '../errors.js';
import { modeFromAnnotations } from '../extract.js';
import { parseImageManifest } from '../manifest.js';
import { ANNOTATION_CREATED, layerFilepath, parseLayerMediaType } from '../mediatypes.js';
import type { Descriptor, Manifest, Platform } from '../oci.js';
import { buildCnaiVariant } from '../pack-manifest.js';
import type { ContentStore, ReadOnlyStore } from '../store.js';
import {
  ANNOTATION_VARIANT_BASE,
  buildVariantLink,
  linkedVariants,
  variantTag,
  type LinkedVariant,
  type VariantName,
} from './link.js';
import { buildModelcar, type ModelcarBase, type ModelcarFile } from './modelcar.js';

/** What a variant is made of, relative to its primary: what the signed variant record states. */
export interface VariantDerivation {
  /** Per model file: the primary's layer digest and the variant's (equal for cnai). */
  layers: { path: string; primary: string; variant: string }[];
  /** The config blob both share (cnai). */
  config?: string;
  /** modelcar: the image manifest of each platform. */
  platforms?: { platform: Platform; digest: string }[];
  /** modelcar on a base image. */
  base?: { name: string; digest: string };
}

export interface PublishedVariant extends VariantDerivation {
  name: VariantName;
  descriptor: Descriptor;
  /** Tags set on it (`<tag>-<name>`). */
  tags: string[];
  /** Built here (false: it came with the copy from the source). */
  built: boolean;
  /** Bytes of blobs only this variant has (0 for cnai: it shares every blob). */
  addedBytes: number;
}

export interface VariantRequest {
  names: VariantName[];
  /** modelcar only: the base image (for KServe's `oci://` modelcar, which runs a shell). */
  base?: ModelcarBase;
}

export interface PublishOptions {
  target: ContentStore;
  primary: { descriptor: Descriptor; manifest: Manifest; config: Record<string, unknown> };
  request: VariantRequest;
  /** The primary's tags: each variant gets `<tag>-<name>`. */
  tags: string[];
  /** The model files for a modelcar (pack: the local files); default: the primary's raw layers in `source`. */
  files?: ModelcarFile[];
  /** Where the primary's blobs are read from for a modelcar (default: the target). */
  source?: ReadOnlyStore;
  concurrency?: number;
  mountFrom?: string[];
  onLayer?: (file: ModelcarFile, layer: { digest: string; size: number; uploaded: boolean }) => void;
}

/** The model files of a primary in a store, for a modelcar: its raw layers (fetched and verified by the store). */
export function modelcarFilesFromStore(store: ReadOnlyStore, manifest: Manifest): ModelcarFile[] {
  return manifest.layers.map((l) => {
    const path = layerFilepath(l.annotations);
    if (parseLayerMediaType(l.mediaType)?.encoding !== 'raw' || !path)
      throw new ModelshipError('USAGE', `cannot make a modelcar from layer ${l.digest} (${l.mediaType}) here`, {
        hint: 'a modelcar is made from raw layers, or by pack from the model directory: pack with the modelcar variant',
      });
    return {
      path,
      mode: modeFromAnnotations(l.annotations),
      size: l.size,
      open: () => store.fetch(l),
    };
  });
}

/** The model files of a pack, read from disk (each checked against its raw layer's digest). */
export function modelcarFilesFromDisk(
  files: { path: string; absPath: string; mode: number; size: number }[],
  layers: Descriptor[],
  raw: boolean,
): ModelcarFile[] {
  return files.map((f, i) => ({
    path: f.path,
    mode: f.mode & 0o111 ? 0o755 : 0o644,
    size: f.size,
    open: () => createReadStream(f.absPath, { highWaterMark: 1 << 20 }),
    ...(raw ? { expect: layers[i]!.digest } : {}),
  }));
}

function createdOf(manifest: Manifest): string | undefined {
  return manifest.annotations?.[ANNOTATION_CREATED];
}

/** Builds, links and tags each requested variant in `target`. */
export async function publishVariants(options: PublishOptions): Promise<PublishedVariant[]> {
  const { target, primary } = options;
  const out: PublishedVariant[] = [];
  for (const name of [...new Set(options.request.names)]) {
    let published: Omit<PublishedVariant, 'tags'>;
    let linkExtra: Record<string, string> = {};
    if (name === 'cnai') {
      const built = buildCnaiVariant(primary.manifest);
      await target.push(built.descriptor, built.manifestBytes);
      published = {
        name,
        descriptor: built.descriptor,
        built: true,
        addedBytes: 0,
        config: primary.manifest.config.digest,
        layers: primary.manifest.layers.map((l) => ({
          path: layerFilepath(l.annotations) ?? '',
          primary: l.digest,
          variant: l.digest,
        })),
      };
    } else {
      const files = options.files ?? modelcarFilesFromStore(options.source ?? target, primary.manifest);
      const createdAt = createdOf(primary.manifest);
      const car = await buildModelcar({
        target,
        primary: primary.descriptor,
        modelConfig: primary.config,
        files,
        ...(options.request.base ? { base: options.request.base } : {}),
        ...(createdAt ? { createdAt } : {}),
        ...(options.concurrency ? { concurrency: options.concurrency } : {}),
        ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
        ...(options.onLayer ? { onLayer: options.onLayer } : {}),
      });
      linkExtra = { [ANNOTATION_VARIANT_BASE]: car.base?.digest ?? '' };
      published = {
        name,
        descriptor: car.descriptor,
        built: true,
        addedBytes: car.layers.filter((l) => l.uploaded).reduce((a, l) => a + l.descriptor.size, 0),
        layers: car.layers.map((l, i) => ({
          path: l.path,
          primary: primary.manifest.layers[i]!.digest,
          variant: l.descriptor.digest,
        })),
        platforms: car.manifests.map((m) => ({ platform: m.platform, digest: m.descriptor.digest })),
        ...(car.base ? { base: car.base } : {}),
      };
    }
    out.push(await linkAndTag(target, primary.descriptor, published, options.tags, linkExtra));
  }
  return out;
}

async function linkAndTag(
  target: ContentStore,
  primary: Descriptor,
  v: Omit<PublishedVariant, 'tags'>,
  tags: string[],
  extra: Record<string, string>,
): Promise<PublishedVariant> {
  const link = buildVariantLink(primary, v.descriptor, v.name, extra);
  await target.push(link.descriptor, link.manifestBytes);
  const variantTags = tags.map((t) => variantTag(t, v.name));
  for (const t of variantTags) await target.tag(v.descriptor, t);
  return { ...v, tags: variantTags };
}

/** The primary's manifest and ModelPack config JSON, read from `store`. */
export async function readPrimary(
  store: ReadOnlyStore,
  descriptor: Descriptor,
): Promise<{ descriptor: Descriptor; manifest: Manifest; config: Record<string, unknown> }> {
  const manifest = parseImageManifest(await store.fetchBytes(descriptor), descriptor, 'name the primary manifest');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse((await store.fetchBytes(manifest.config)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    throw new ModelshipError('INVALID', `config ${manifest.config.digest} of ${descriptor.digest} is not JSON`, {
      cause: e,
    });
  }
  return { descriptor, manifest, config };
}

export interface CopyWithVariantsOptions extends CopyOptions {
  /** Variants to publish at the destination: copied when the source links them, else built there. */
  variants?: VariantRequest;
}

export interface CopyWithVariantsResult {
  stats: CopyStats;
  /** Every variant of the root at the destination: those the copy brought, then those built. */
  variants: PublishedVariant[];
}

/**
 * The graph copy (push, pull) plus variants: the copy brings the variants the source links
 * (links are referrers); each is tagged `<tag>-<name>` at the destination, and a requested
 * variant the source lacks is built there from the source's blobs.
 */
export async function copyWithVariants(
  src: ReadOnlyStore,
  dst: ContentStore,
  root: Descriptor,
  options: CopyWithVariantsOptions = {},
): Promise<CopyWithVariantsResult> {
  const { variants: request, ...copy } = options;
  const stats = await copyGraph(src, dst, root, copy);
  const tags = options.tags ?? [];
  const linked: LinkedVariant[] = options.referrers === false ? [] : await linkedVariants(src, root);
  const out: PublishedVariant[] = [];
  for (const l of linked) {
    const variantTags = tags.map((t) => variantTag(t, l.name));
    for (const t of variantTags) await dst.tag(l.descriptor, t);
    out.push({ name: l.name, descriptor: l.descriptor, tags: variantTags, built: false, addedBytes: 0, layers: [] });
  }
  const missing = (request?.names ?? []).filter((n) => !linked.some((l) => l.name === n));
  if (missing.length) {
    const primary = await readPrimary(src, root);
    out.push(
      ...(await publishVariants({
        target: dst,
        primary,
        request: { ...request!, names: missing },
        tags,
        source: src,
        ...(options.concurrency ? { concurrency: options.concurrency } : {}),
        ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
      })),
    );
  }
  return { stats, variants: out };
}

/** How front ends list a variant (JSON output, action outputs): where to pull it by tag and by digest. */
export interface VariantSummary {
  name: VariantName;
  digest: string;
  mediaType: string;
  /** By tag (`<base>:<tag>-<name>`), else by digest. */
  reference: string;
  /** By digest, for deployments and verify. */
  pinnedReference: string;
  tags: string[];
}

export function summarizeVariants(
  base: string,
  variants: readonly { name: VariantName; descriptor: Descriptor; tags: string[] }[],
): VariantSummary[] {
  return variants.map((v) => ({
    name: v.name,
    digest: v.descriptor.digest,
    mediaType: v.descriptor.mediaType,
    reference: v.tags[0] ? `${base}:${v.tags[0]}` : `${base}@${v.descriptor.digest}`,
    pinnedReference: `${base}@${v.descriptor.digest}`,
    tags: v.tags,
  }));
}
