import type { Command } from 'commander';
import {
  ExtractConflictError,
  ModelshipError,
  copyTags,
  parseConcurrency,
  extractArtifact,
  formatBytes,
  isLayoutSpec,
  openTarget,
  copyWithVariants,
  resolveReference,
  summarizeVariants,
  type CopyStats,
} from '@modelship/core';
import { blobOutcome, json, progressFor, safe, transferTimings, type CliIO } from '../io.js';
import {
  addRegistryOptions,
  addVariantOptions,
  collect,
  registryAccessFromFlags,
  variantLines,
  variantRequestFromFlags,
  type RegistryFlags,
  type VariantFlags,
} from '../options.js';

interface TransferFlags extends RegistryFlags, VariantFlags {
  mountFrom?: string[];
  /** cp: tags to set besides the destination's (or the source's). */
  tag?: string[];
  json?: boolean;
  progress: boolean;
  referrers: boolean;
  concurrency: string;
}

function summary(stats: CopyStats): string {
  return (
    `${stats.blobsCopied} blobs copied (${formatBytes(stats.bytesCopied)}), ${stats.blobsMounted} mounted, ` +
    `${stats.blobsSkipped} already present; ${stats.manifestsCopied} manifests copied, ` +
    `${stats.referrersCopied} referrers`
  );
}

export function registerPush(program: Command, io: CliIO): void {
  const cmd = program
    .command('push')
    .description('copy an artifact (and its signatures/attestations) from an OCI layout to a registry')
    .argument('<source>', 'OCI layout: oci:DIR[:TAG|@DIGEST] or DIR[:TAG]')
    .argument('<destination>', 'registry reference HOST/REPO[:TAG]');
  addVariantOptions(cmd, {
    baseImage: true,
    what: 'publish this variant next to it (copied when the layout has it, else built from the layout)',
  });
  addCopyOptions(cmd).action(async (source: string, destination: string, flags: TransferFlags) => {
    if (!isLayoutSpec(source))
      throw new ModelshipError('USAGE', `push source "${source}" is not an OCI layout`, {
        hint: 'write oci:DIR[:TAG]; to copy between registries use `modelship promote SRC DST --policy P` (it verifies the artifact first), or pull --output then push',
      });
    await runTransfer(source, destination, flags, io, 'push');
  });
}

export function registerCp(program: Command, io: CliIO): void {
  const cmd = program
    .command('cp')
    .description(
      'copy an artifact with every referrer (signatures, attestations), no policy: registry or layout to registry or layout',
    )
    .argument('<source>', 'HOST/REPO:TAG|@DIGEST or oci:DIR[:TAG|@DIGEST] (a layout defaults to latest)')
    .argument('<destination>', 'HOST/REPO[:TAG] or oci:DIR[:TAG] (created if missing)')
    .option('-t, --tag <tag>', 'also set this tag in the destination (repeatable)', collect);
  addCopyOptions(cmd).action(async (source: string, destination: string, flags: TransferFlags) => {
    await runTransfer(source, destination, flags, io, 'cp');
  });
}

/** What push and cp share: referrers, mounts, concurrency, output, and the registry flags. */
function addCopyOptions(cmd: Command): Command {
  return addRegistryOptions(
    cmd
      .option('--no-referrers', 'do not copy referrers')
      .option('--mount-from <repo>', 'repository on the destination registry to mount blobs from (repeatable)', collect)
      .option('--concurrency <n>', 'blobs transferred at once', '4')
      .option('--json', 'print the result as JSON')
      .option('--no-progress', 'no progress output'),
  );
}

export function registerPull(program: Command, io: CliIO): void {
  const cmd = program
    .command('pull')
    .description('fetch an artifact from a registry into an OCI layout, or extract its files into a directory')
    .argument('<reference>', 'HOST/REPO[:TAG|@DIGEST] (or an OCI layout, to extract from it)')
    .option('-o, --output <layout>', 'OCI layout to write, optionally oci:DIR:TAG')
    .option('-x, --extract <dir>', 'write the model files into DIR (digest-verified, no path traversal)')
    .option('--overwrite', 'with --extract: replace files in DIR that differ from the artifact (default: refuse)')
    .option(
      '--include <glob>',
      'with --extract: only the files matching (repeatable; other layers are not downloaded)',
      collect,
    )
    .option('--no-referrers', 'do not copy referrers (with --output)')
    .option('--concurrency <n>', 'blobs transferred at once (with --extract too)', '4')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addRegistryOptions(cmd).action(
    async (
      reference: string,
      flags: TransferFlags & { output?: string; extract?: string; overwrite?: boolean; include?: string[] },
    ) => {
      if (!flags.output === !flags.extract)
        throw new ModelshipError('USAGE', 'pull needs exactly one of --output LAYOUT or --extract DIR');
      if (flags.overwrite && !flags.extract)
        throw new ModelshipError('USAGE', '--overwrite goes with --extract DIR', {
          hint: 'an OCI layout only ever gains content-addressed blobs; nothing there is overwritten',
        });
      if (flags.include && !flags.extract)
        throw new ModelshipError('USAGE', '--include goes with --extract DIR', {
          hint: 'an OCI layout holds the whole artifact (its manifest names every layer); extract to choose files',
        });
      if (flags.output) {
        const out = flags.output.startsWith('oci:') ? flags.output : `oci:${flags.output}`;
        await runTransfer(reference, out, flags, io, 'pull');
        return;
      }
      const src = await openTarget(reference, { registry: await registryAccessFromFlags(flags, io) });
      try {
        const root = await resolveReference(src.store, src.reference);
        const progress = progressFor(io, 'pull', flags.progress && !flags.json);
        const clock = transferTimings(io, flags.progress && !flags.json);
        progress.setTotal(0);
        const r = await extractArtifact(src.store, root, flags.extract!, {
          onBytes: (n) => progress.update(n),
          timings: clock.timings,
          overwrite: flags.overwrite === true,
          concurrency: parseConcurrency(flags.concurrency, '--concurrency'),
          ...(flags.include ? { include: flags.include } : {}),
        }).catch((e: unknown) => {
          if (e instanceof ExtractConflictError)
            throw new ModelshipError(e.code, e.message, {
              cause: e,
              hint: 'move them away, extract into an empty directory, or pass --overwrite to replace them',
            });
          throw e;
        });
        progress.finish();
        const timings = clock.done(r.bytes);
        const result = {
          reference: src.display,
          digest: root.digest,
          directory: flags.extract,
          files: r.files,
          bytes: r.bytes,
          timings,
        };
        io.out(
          flags.json
            ? json(result)
            : safe`extracted ${r.files.length} files (${formatBytes(r.bytes)}) into ${flags.extract}\ndigest: ${root.digest}\n`,
        );
      } finally {
        await src.store.close();
      }
    },
  );
}

async function runTransfer(
  source: string,
  destination: string,
  flags: TransferFlags,
  io: CliIO,
  verb: 'push' | 'pull' | 'cp',
): Promise<void> {
  const access = await registryAccessFromFlags(flags, io);
  const variants = await variantRequestFromFlags(flags, access);
  const src = await openTarget(source, { registry: access }).catch(async (e: unknown) => {
    await variants.close();
    throw e;
  });
  try {
    const dst = await openTarget(destination, { registry: access, create: true });
    try {
      const root = await resolveReference(src.store, src.reference ?? (isLayoutSpec(source) ? 'latest' : undefined));
      const tags = copyTags(root, src, dst, flags.tag, {
        destination: verb === 'pull' ? '--output' : 'destination',
        tag: '--tag',
      });
      const progress = progressFor(io, verb, flags.progress && !flags.json);
      const clock = transferTimings(io, flags.progress && !flags.json);
      const { stats, variants: published } = await copyWithVariants(src.store, dst.store, root, {
        concurrency: parseConcurrency(flags.concurrency, '--concurrency'),
        referrers: flags.referrers,
        tags,
        ...(flags.mountFrom ? { mountFrom: flags.mountFrom } : {}),
        onBytes: (n) => progress.update(n),
        onBlob: (desc, outcome) => progress.blob(blobOutcome(outcome), desc.size),
        timings: clock.timings,
        ...(variants.request ? { variants: variants.request } : {}),
      });
      progress.finish();
      const timings = clock.done(stats.bytesCopied);
      const reference = tags.length ? `${dst.base}:${tags[0]}` : `${dst.base}@${root.digest}`;
      const summaries = summarizeVariants(dst.base, published);
      io.out(
        flags.json
          ? json({
              reference,
              digest: root.digest,
              mediaType: root.mediaType,
              size: root.size,
              tags,
              stats,
              variants: summaries.map((v, i) => ({ ...v, built: published[i]!.built })),
              timings,
            })
          : safe`${summary(stats)}\nreference: ${reference}\n` +
              (tags.length > 1 ? safe`tags: ${tags.join(', ')}\n` : '') +
              safe`digest: ${root.digest}\n` +
              variantLines(summaries),
      );
    } finally {
      await dst.store.close();
    }
  } finally {
    await src.store.close();
    await variants.close();
  }
}
