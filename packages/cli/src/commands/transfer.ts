import type { Command } from 'commander';
import {
  ExtractConflictError,
  ModelshipError,
  parseConcurrency,
  extractArtifact,
  formatBytes,
  isDigest,
  isLayoutSpec,
  openTarget,
  copyWithVariants,
  resolveReference,
  summarizeVariants,
  type CopyStats,
} from '@modelship/core';
import { json, progressFor, safe, type CliIO } from '../io.js';
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
    .argument('<destination>', 'registry reference HOST/REPO[:TAG]')
    .option('--no-referrers', 'do not copy referrers')
    .option('--mount-from <repo>', 'repository on the destination registry to mount blobs from (repeatable)', collect)
    .option('--concurrency <n>', 'blobs transferred at once', '4')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addVariantOptions(cmd, {
    baseImage: true,
    what: 'publish this variant next to it (copied when the layout has it, else built from the layout)',
  });
  addRegistryOptions(cmd).action(async (source: string, destination: string, flags: TransferFlags) => {
    if (!isLayoutSpec(source))
      throw new ModelshipError('USAGE', `push source "${source}" is not an OCI layout`, {
        hint: 'write oci:DIR[:TAG]; to copy between registries use `modelship promote` (later) or pull then push',
      });
    await runTransfer(source, destination, flags, io, 'push');
  });
}

export function registerPull(program: Command, io: CliIO): void {
  const cmd = program
    .command('pull')
    .description('fetch an artifact from a registry into an OCI layout, or extract its files into a directory')
    .argument('<reference>', 'HOST/REPO[:TAG|@DIGEST] (or an OCI layout, to extract from it)')
    .option('-o, --output <layout>', 'OCI layout to write, optionally oci:DIR:TAG')
    .option('-x, --extract <dir>', 'write the model files into DIR (digest-verified, no path traversal)')
    .option('--overwrite', 'with --extract: replace files in DIR that differ from the artifact (default: refuse)')
    .option('--no-referrers', 'do not copy referrers (with --output)')
    .option('--concurrency <n>', 'blobs transferred at once', '4')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addRegistryOptions(cmd).action(
    async (reference: string, flags: TransferFlags & { output?: string; extract?: string; overwrite?: boolean }) => {
      if (!flags.output === !flags.extract)
        throw new ModelshipError('USAGE', 'pull needs exactly one of --output LAYOUT or --extract DIR');
      if (flags.overwrite && !flags.extract)
        throw new ModelshipError('USAGE', '--overwrite goes with --extract DIR', {
          hint: 'an OCI layout only ever gains content-addressed blobs; nothing there is overwritten',
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
        progress.setTotal(0);
        const r = await extractArtifact(src.store, root, flags.extract!, {
          onBytes: (n) => progress.update(n),
          overwrite: flags.overwrite === true,
        }).catch((e: unknown) => {
          if (e instanceof ExtractConflictError)
            throw new ModelshipError(e.code, e.message, {
              cause: e,
              hint: 'move them away, extract into an empty directory, or pass --overwrite to replace them',
            });
          throw e;
        });
        progress.finish();
        const result = {
          reference: src.display,
          digest: root.digest,
          directory: flags.extract,
          files: r.files,
          bytes: r.bytes,
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
  verb: 'push' | 'pull',
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
      if (dst.reference && isDigest(dst.reference) && dst.reference !== root.digest)
        throw new ModelshipError('USAGE', `destination digest ${dst.reference} differs from the source ${root.digest}`);
      const tag =
        dst.reference && !isDigest(dst.reference)
          ? dst.reference
          : src.reference && !isDigest(src.reference)
            ? src.reference
            : undefined;
      const progress = progressFor(io, verb, flags.progress && !flags.json);
      const { stats, variants: published } = await copyWithVariants(src.store, dst.store, root, {
        concurrency: parseConcurrency(flags.concurrency, '--concurrency'),
        referrers: flags.referrers,
        tags: tag ? [tag] : [],
        ...(flags.mountFrom ? { mountFrom: flags.mountFrom } : {}),
        onBytes: (n) => progress.update(n),
        ...(variants.request ? { variants: variants.request } : {}),
      });
      progress.finish();
      const reference = tag ? `${dst.base}:${tag}` : `${dst.base}@${root.digest}`;
      const summaries = summarizeVariants(dst.base, published);
      io.out(
        flags.json
          ? json({
              reference,
              digest: root.digest,
              mediaType: root.mediaType,
              size: root.size,
              stats,
              variants: summaries.map((v, i) => ({ ...v, built: published[i]!.built })),
            })
          : safe`${summary(stats)}\nreference: ${reference}\ndigest: ${root.digest}\n` + variantLines(summaries),
      );
    } finally {
      await dst.store.close();
    }
  } finally {
    await src.store.close();
    await variants.close();
  }
}
