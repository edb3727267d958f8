import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  DigestCache,
  IDENTIFIER_FAMILIES,
  LAYER_ENCODINGS,
  ModelshipError,
  metadataOverrides,
  packTags,
  parseChoice,
  parseConcurrency,
  parseCreated,
  openTarget,
  pack,
  type IdentifierFamily,
  type LayerEncoding,
  type DryRunLog,
  type OpenedTarget,
  type RegistryAccess,
  type PackResult,
  summarizeVariants,
  untrustedText,
  type VariantSummary,
} from '@modelship/core';
import {
  dryRunTag,
  formatBytes,
  layerJson,
  progressFor,
  safe,
  table,
  transferTimings,
  type CliIO,
  printResult,
} from '../io.js';
import {
  addFileSelectionOptions,
  addIdentifiersOption,
  addRegistryOptions,
  addVariantOptions,
  collect,
  registryAccessFromFlags,
  scanOptionsFromFlags,
  variantLines,
  variantRequestFromFlags,
  type FileSelectionFlags,
  type RegistryFlags,
  type VariantFlags,
} from '../options.js';
import { renderScan, writeScanReport } from '../scan-output.js';

interface PackFlags extends RegistryFlags, FileSelectionFlags, VariantFlags {
  output?: string;
  push?: string;
  tag?: string[];
  name?: string;
  modelVersion?: string;
  family?: string;
  arch?: string;
  format?: string;
  paramSize?: string;
  precision?: string;
  quantization?: string;
  license?: string[];
  author?: string[];
  layerFormat: string;
  identifiers: string;
  created?: string | boolean;
  realFileMetadata?: boolean;
  cache: boolean;
  concurrency: string;
  mountFrom?: string[];
  dryRun?: boolean;
  json?: boolean;
  progress: boolean;
  scan?: boolean;
  scanOutput?: string;
}

export function registerPack(program: Command, io: CliIO): void {
  const base = program
    .command('pack')
    .description(
      'pack a model directory, or one model file, into a ModelPack artifact (an OCI layout by default, or a registry)',
    )
    .argument('<path>', 'model directory (Hugging Face, GGUF, ONNX, PyTorch checkout), or one model file (a .gguf)')
    .option('-o, --output <layout>', 'OCI layout directory to write, optionally with :TAG (default ./model-oci)')
    .option('--push <reference>', 'push to a registry instead: HOST/REPO[:TAG]')
    .option('-t, --tag <tag>', 'tag to set besides the one in the target (repeatable; with neither: latest)', collect)
    .option('--name <name>', 'descriptor.name (default: model card, GGUF name, or directory name)')
    .option('--model-version <version>', 'descriptor.version')
    .option('--family <family>', 'descriptor.family (e.g. llama3)')
    .option('--arch <architecture>', 'config.architecture (e.g. transformer)')
    .option('--format <format>', 'config.format (e.g. safetensors, gguf, onnx)')
    .option('--param-size <size>', 'config.paramSize (e.g. 8b, 1.5b, 125m)')
    .option('--precision <precision>', 'config.precision (e.g. bfloat16)')
    .option('--quantization <q>', 'config.quantization (e.g. awq, gptq, Q4_K_M)')
    .option('--license <spdx>', 'SPDX licence expression (repeatable; default: from the model card)', collect)
    .option('--author <author>', 'author (repeatable)', collect)
    .option('--layer-format <format>', `layer encoding: ${LAYER_ENCODINGS.join(', ')}`, 'raw');
  const cmd = addFileSelectionOptions(addIdentifiersOption(base), 'pack', 'the model directory')
    .option(
      '--created [time]',
      'record a creation time (RFC 3339; default now); off by default for reproducible digests',
    )
    .option('--real-file-metadata', 'record on-disk mode/uid/gid/mtime in layer annotations (not reproducible)')
    .option('--no-cache', 'hash every file: no digest cache, no Git LFS pointer digests')
    .option('--concurrency <n>', 'files transferred at once', '4')
    .option('--mount-from <repo>', 'repository on the same registry to mount known blobs from (repeatable)', collect)
    .option(
      '--dry-run',
      'write nothing: list the layers, digests and manifest digest pack would produce, and what the target has',
    )
    .option('--scan', 'scan every file for unsafe content (pickle imports, hostile headers) on the read pack makes')
    .option('--scan-output <file>', 'write the scan as JSON, for attest --type scan --scan-report (implies --scan)')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addVariantOptions(cmd, { baseImage: true, what: 'also publish this variant for other consumers' });
  addRegistryOptions(cmd).action(async (dir: string, flags: PackFlags) => {
    const result = await runPack(dir, flags, io);
    printResult(io, flags.json, result);
  });
}

async function runPack(dir: string, flags: PackFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  if (flags.output && flags.push)
    throw new ModelshipError('USAGE', '--output and --push are exclusive: pick one target');
  const layerFormat = parseChoice<LayerEncoding>(flags.layerFormat, LAYER_ENCODINGS, '--layer-format');
  const family = parseChoice<IdentifierFamily>(flags.identifiers, IDENTIFIER_FAMILIES, '--identifiers');
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency');
  const createdAt = parseCreated(flags.created, '--created');

  const access = await registryAccessFromFlags(flags, io);
  const variants = await variantRequestFromFlags(flags, access);
  const { target, tags } = await openPackTarget(flags, access, './model-oci').catch(async (e: unknown) => {
    await variants.close();
    throw e;
  });
  try {
    const metadata = metadataOverrides({
      name: flags.name,
      version: flags.modelVersion,
      family: flags.family,
      architecture: flags.arch,
      format: flags.format,
      paramSize: flags.paramSize,
      precision: flags.precision,
      quantization: flags.quantization,
      licenses: flags.license,
      authors: flags.author,
    });

    const progress = progressFor(io, 'pack', flags.progress && !flags.json);
    const clock = transferTimings(io, flags.progress && !flags.json && flags.dryRun !== true);
    const result = await pack({
      dir: resolve(dir),
      target: target.store,
      tags,
      family,
      layerFormat,
      scan: scanOptionsFromFlags(flags),
      metadata,
      ...(createdAt ? { createdAt } : {}),
      ...(flags.realFileMetadata ? { realFileMetadata: true } : {}),
      cache: flags.cache ? await DigestCache.open() : null,
      gitLfs: flags.cache,
      concurrency,
      ...(flags.mountFrom ? { mountFrom: flags.mountFrom } : {}),
      progress,
      timings: clock.timings,
      warn: (m) => io.err(safe`warning: ${m}\n`),
      ...(variants.request ? { variants: variants.request } : {}),
      ...(flags.scan || flags.scanOutput ? { securityScan: true } : {}),
    });
    const timings = clock.done(result.stats.bytesRead);
    if (flags.scanOutput && result.securityScan) await writeScanReport(flags.scanOutput, result.securityScan);
    const reference = `${target.base}:${tags[0]}`;
    const dryRun = target.store.dryRun;
    const summaries = summarizeVariants(target.base, result.variants);
    return {
      text: dryRun ? renderDryRun(result, reference, dryRun) : render(result, reference) + variantLines(summaries),
      json: {
        ...(toJson(result, reference, target.kind, target.store.location, summaries) as object),
        ...(dryRun ? { dryRun: dryRunJson(result, dryRun) } : { timings }),
      },
    };
  } finally {
    await target.store.close();
    await variants.close();
  }
}

/**
 * The target of `--push` or `--output` (else `fallback`, a layout) and the tags to set: what
 * pack and import write to.
 */
export async function openPackTarget(
  flags: { push?: string; output?: string; tag?: string[]; dryRun?: boolean },
  registry: RegistryAccess,
  fallback: string,
): Promise<{ target: OpenedTarget; tags: string[] }> {
  const targetSpec = flags.push ?? (flags.output ? flags.output : fallback);
  const target = await openTarget(flags.push ? targetSpec : layoutSpec(targetSpec), {
    create: true,
    ...(flags.dryRun ? { dryRun: true } : {}),
    registry,
  });
  try {
    return { target, tags: packTags(target, targetSpec, flags.tag, flags.push ? '--push' : '--output') };
  } catch (e) {
    await target.store.close();
    throw e;
  }
}

/** `--output DIR[:TAG]` always names a layout, even a relative path without ./ */
function layoutSpec(spec: string): string {
  return spec.startsWith('oci:') || spec.startsWith('oci-layout:') ? spec : `oci:${spec}`;
}

/** How many ignored paths the summary and the JSON name (the count is always whole). */
const IGNORED_SHOWN = 20;

/** "3 paths not packed (.gitignore: secret.env, cache/; the output layout: model-oci/)". */
function ignoredLine(r: PackResult): string {
  if (r.ignored.length === 0) return '';
  const byFile = new Map<string, string[]>();
  for (const i of r.ignored.slice(0, 5)) byFile.set(i.by, [...(byFile.get(i.by) ?? []), untrustedText(i.path)]);
  const more = r.ignored.length > 5 ? ', …' : '';
  const what = [...byFile].map(([by, paths]) => `${by}: ${paths.join(', ')}`).join('; ');
  const own = new Set(['the output layout', 'the digest cache']);
  const hint = r.ignored.some((i) => !own.has(i.by)) ? '; --no-ignore-files packs what ignore files leave out' : '';
  return `${r.ignored.length} ${r.ignored.length === 1 ? 'path' : 'paths'} not packed (${what}${more})${hint}\n`;
}

function render(r: PackResult, reference: string): string {
  const rows = [['FILE', 'KIND', 'SIZE', 'DIGEST']];
  for (const l of r.layers)
    rows.push([l.path, l.kind, formatBytes(l.descriptor.size), l.descriptor.digest.slice(0, 19)]);
  const up = r.stats.uploaded;
  return (
    table(rows) +
    `\n${r.layers.length} layers, ${formatBytes(r.size)}; ${up} written, ${r.stats.mounted} mounted, ` +
    `${r.stats.skipped} already present, ` +
    `${r.stats.cacheHits} digests from cache${r.stats.gitLfs ? `, ${r.stats.gitLfs} from Git LFS pointers` : ''}\n` +
    ignoredLine(r) +
    safe`reference: ${reference}\ndigest: ${r.descriptor.digest}\n` +
    (r.securityScan ? `\n${renderScan(r.securityScan)}` : '')
  );
}

function toJson(r: PackResult, reference: string, kind: string, location: string, variants: VariantSummary[]): unknown {
  return {
    reference,
    digest: r.descriptor.digest,
    mediaType: r.descriptor.mediaType,
    artifactType: r.manifest.artifactType,
    size: r.size,
    target: { kind, location },
    config: r.config,
    layers: r.layers.map((l) => ({ ...layerJson(l), uploaded: l.uploaded })),
    stats: r.stats,
    ignored: { count: r.ignored.length, paths: r.ignored.slice(0, IGNORED_SHOWN) },
    warnings: r.warnings,
    ...(r.securityScan ? { securityScan: r.securityScan } : {}),
    variants: variants.map((v, i) => ({ ...v, addedBytes: r.variants[i]!.addedBytes })),
  };
}

/** Whether the target has a blob the pack would write, from the dry run's log. */
function presence(log: DryRunLog, digest: string): 'already there' | 'would write' {
  return log.writes.find((w) => w.descriptor.digest === digest)?.present ? 'already there' : 'would write';
}

/**
 * `pack --dry-run`: every layer with its kind (and whether a spec or the name rules chose it),
 * media type, size and digest, and whether the target has it or a real run would write it;
 * then config, manifest and tags.
 */
function renderDryRun(r: PackResult, reference: string, log: DryRunLog): string {
  const rows = [['FILE', 'KIND', 'MEDIA TYPE', 'SIZE', 'DIGEST', 'IN THE TARGET']];
  for (const l of r.layers)
    rows.push([
      l.path,
      `${l.kind}${l.untested ? '' : ' (spec)'}`,
      l.descriptor.mediaType,
      formatBytes(l.descriptor.size),
      l.descriptor.digest,
      presence(log, l.descriptor.digest),
    ]);
  const fresh = log.writes.filter((w) => !w.present);
  const bytes = formatBytes(fresh.reduce((a, w) => a + w.descriptor.size, 0));
  return (
    table(rows) +
    safe`\nconfig: ${r.configDescriptor.digest} (${presence(log, r.configDescriptor.digest)})\n` +
    safe`manifest: ${r.descriptor.digest} (${presence(log, r.descriptor.digest)})\n` +
    safe`tags: ${log.tags.map(dryRunTag).join(', ')}\n` +
    ignoredLine(r) +
    `dry run: nothing was written; a real run would write ${fresh.length} of the ${log.writes.length} blobs ` +
    `(layers, config, manifest: ${bytes}) and find ${log.writes.length - fresh.length} in the target already\n` +
    safe`reference: ${reference}\ndigest: ${r.descriptor.digest}\n`
  );
}

function dryRunJson(r: PackResult, log: DryRunLog): unknown {
  const present = (digest: string): boolean => presence(log, digest) === 'already there';
  return {
    written: false,
    blobs: log.writes.map((w) => ({ ...w.descriptor, present: w.present })),
    config: { digest: r.configDescriptor.digest, present: present(r.configDescriptor.digest) },
    manifest: { digest: r.descriptor.digest, present: present(r.descriptor.digest) },
    tags: log.tags.map((t) => ({ tag: t.tag, digest: t.descriptor.digest, current: t.current ?? null })),
  };
}
