import type { Command } from 'commander';
import {
  ModelshipError,
  convertArtifact,
  formatBytes,
  isDigest,
  mountSourcesFor,
  openTarget,
  parseConcurrency,
  resolveReference,
  type ConvertResult,
} from '@modelship/core';
import { layerJson, printResult, progressFor, safe, table, type CliIO } from '../io.js';
import { addRegistryOptions, collect, registryAccessFromFlags, type RegistryFlags } from '../options.js';

interface ConvertFlags extends RegistryFlags {
  tag?: string[];
  mountFrom?: string[];
  concurrency: string;
  json?: boolean;
  progress: boolean;
}

export function registerConvert(program: Command, io: CliIO): void {
  const cmd = program
    .command('convert')
    .description(
      'convert a KitOps ModelKit or a Docker Model Runner artifact into a ModelPack (raw layers; raw blobs reused by mount or copy, archives unpacked into one layer per file)',
    )
    .argument('<source>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .argument('<destination>', 'HOST/REPO[:TAG] or oci:DIR[:TAG]')
    .option(
      '-t, --tag <tag>',
      'tag to set (repeatable; default: the destination tag, else the source tag, else latest)',
      collect,
    )
    .option('--mount-from <repo>', 'repository on the destination registry to mount blobs from (repeatable)', collect)
    .option('--concurrency <n>', 'blobs transferred at once', '4')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addRegistryOptions(cmd).action(async (source: string, destination: string, flags: ConvertFlags) => {
    printResult(io, flags.json, await runConvert(source, destination, flags, io));
  });
}

async function runConvert(
  source: string,
  destination: string,
  flags: ConvertFlags,
  io: CliIO,
): Promise<{ text: string; json: unknown }> {
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency');
  const access = await registryAccessFromFlags(flags, io);
  const src = await openTarget(source, { registry: access });
  try {
    const dst = await openTarget(destination, { registry: access, create: true });
    try {
      if (dst.reference && isDigest(dst.reference))
        throw new ModelshipError('USAGE', `destination "${destination}" names a digest`, {
          hint: 'name a tag (or none): convert computes the digest',
        });
      const root = await resolveReference(src.store, src.reference);
      const tags = flags.tag?.length
        ? flags.tag
        : [dst.reference ?? (src.reference && !isDigest(src.reference) ? src.reference : 'latest')];
      const progress = progressFor(io, 'convert', flags.progress && !flags.json);
      progress.setTotal(0);
      const r = await convertArtifact({
        source: src.store,
        root,
        target: dst.store,
        tags,
        concurrency,
        mountFrom: [...(flags.mountFrom ?? []), ...mountSourcesFor(src.store, dst.store)],
        onBytes: (n) => progress.update(n),
        warn: (m) => io.err(safe`warning: ${m}\n`),
      });
      progress.finish();
      const reference = `${dst.base}:${tags[0]}`;
      return { text: render(r, src.display, reference), json: toJson(r, src.display, reference) };
    } finally {
      await dst.store.close();
    }
  } finally {
    await src.store.close();
  }
}

function render(r: ConvertResult, source: string, reference: string): string {
  const rows = [['FILE', 'KIND', 'SIZE', 'BLOB']];
  for (const l of r.layers)
    rows.push([l.path, l.kind, formatBytes(l.descriptor.size), l.reused ? 'reused' : 'from archive']);
  const s = r.stats;
  return (
    table(rows) +
    safe`\nconverted ${source} (${r.from}) into a ModelPack: ${r.layers.length} layers; ` +
    `reused blobs: ${s.blobsCopied} copied (${formatBytes(s.bytesCopied)}), ${s.blobsMounted} mounted, ${s.blobsSkipped} already present; ` +
    `${r.rewritten} files unpacked from archives\n` +
    safe`reference: ${reference}\ndigest: ${r.descriptor.digest}\n`
  );
}

function toJson(r: ConvertResult, source: string, reference: string): unknown {
  return {
    source,
    from: r.from,
    reference,
    digest: r.descriptor.digest,
    mediaType: r.descriptor.mediaType,
    artifactType: r.manifest.artifactType,
    config: r.config,
    layers: r.layers.map((l) => ({ ...layerJson(l), reused: l.reused, from: l.from })),
    stats: r.stats,
    rewritten: r.rewritten,
    warnings: r.warnings,
  };
}
