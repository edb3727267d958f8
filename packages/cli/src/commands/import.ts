import type { Command } from 'commander';
import {
  IDENTIFIER_FAMILIES,
  formatHubReference,
  hubAccessFromEnv,
  importFromHub,
  parseChoice,
  parseConcurrency,
  parseHubReference,
  type IdentifierFamily,
  type ImportResult,
  ModelshipError,
} from '@modelship/core';
import { formatBytes, progressFor, safe, table, type CliIO, printResult } from '../io.js';
import {
  addFileSelectionOptions,
  addIdentifiersOption,
  addRegistryOptions,
  collect,
  registryAccessFromFlags,
  scanOptionsFromFlags,
  type FileSelectionFlags,
  type RegistryFlags,
} from '../options.js';
import { openPackTarget } from './pack.js';

interface ImportFlags extends RegistryFlags, FileSelectionFlags {
  output?: string;
  push?: string;
  tag?: string[];
  identifiers: string;
  concurrency: string;
  json?: boolean;
  progress: boolean;
}

export function registerImport(program: Command, io: CliIO): void {
  const cmd = program
    .command('import')
    .description(
      'import a Hugging Face Hub model into a registry or an OCI layout as the ModelPack pack would make of a clone, streaming (HF_ENDPOINT, HF_TOKEN)',
    )
    .argument('<source>', 'hf://ORG/NAME[@REVISION] (a branch, tag or commit; default main)')
    .option('--push <reference>', 'registry to push to: HOST/REPO[:TAG]')
    .option('-o, --output <layout>', 'OCI layout directory to write instead, optionally with :TAG')
    .option('-t, --tag <tag>', 'tag to set (repeatable; default: the tag in the target, else latest)', collect);
  addFileSelectionOptions(addIdentifiersOption(cmd), 'import', "the repository's root")
    .option('--concurrency <n>', 'files transferred at once', '4')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addRegistryOptions(cmd).action(async (source: string, flags: ImportFlags) => {
    const r = await runImport(source, flags, io);
    printResult(io, flags.json, r);
  });
}

async function runImport(source: string, flags: ImportFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  const ref = parseHubReference(source, 'source');
  if (flags.output && flags.push)
    throw new ModelshipError('USAGE', '--output and --push are exclusive: pick one target');
  if (!flags.output && !flags.push)
    throw new ModelshipError('USAGE', 'import needs a target: --push HOST/REPO[:TAG] or --output LAYOUT');
  const family = parseChoice<IdentifierFamily>(flags.identifiers, IDENTIFIER_FAMILIES, '--identifiers');
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency');
  const access = await hubAccessFromEnv(io.env);
  const { target, tags } = await openPackTarget(flags, await registryAccessFromFlags(flags, io), flags.output!);
  try {
    const result = await importFromHub({
      ref,
      access,
      target: target.store,
      tags,
      family,
      scan: scanOptionsFromFlags(flags),
      concurrency,
      progress: progressFor(io, 'import', flags.progress && !flags.json),
      warn: (m) => io.err(safe`warning: ${m}\n`),
    });
    const reference = `${target.base}:${tags[0]}`;
    return { text: render(result, reference), json: importJson(result, reference) };
  } finally {
    await target.store.close();
  }
}

function render(r: ImportResult, reference: string): string {
  const rows = [['FILE', 'KIND', 'SIZE', 'DIGEST', 'TRANSFER']];
  r.pack.layers.forEach((l, i) => {
    const f = r.files[i]!;
    rows.push([
      l.path,
      l.kind,
      formatBytes(l.descriptor.size),
      l.descriptor.digest.slice(0, 19),
      f.present ? 'present' : 'copied',
    ]);
  });
  const s = r.stats;
  const card = r.source.card;
  return (
    safe`imported hf://${r.source.repo}@${r.source.revision} (commit ${r.source.commit})\n` +
    table(rows) +
    `\n${r.files.length} layers: ${formatBytes(s.uploadedBytes)} transferred, ${formatBytes(s.skippedBytes)} already in the target; ` +
    `${formatBytes(s.hubBytes)} from the Hub\n` +
    (card.license ? safe`licence (card): ${card.license.join(', ')}\n` : '') +
    (card.baseModels ? safe`base model: ${card.baseModels.join(', ')}\n` : '') +
    (card.datasets ? safe`datasets: ${card.datasets.join(', ')}\n` : '') +
    safe`reference: ${reference}\ndigest: ${r.pack.descriptor.digest}\n`
  );
}

/** `--json` of an import (also what `mirror --json` lists per artifact). */
export function importJson(r: ImportResult, reference: string): unknown {
  return {
    reference,
    digest: r.pack.descriptor.digest,
    source: { ...r.source, reference: formatHubReference({ repo: r.source.repo, revision: r.source.commit }) },
    config: r.pack.config,
    layers: r.pack.layers.map((l, i) => ({
      path: l.path,
      kind: l.kind,
      mediaType: l.descriptor.mediaType,
      digest: l.descriptor.digest,
      size: l.descriptor.size,
      lfs: r.files[i]!.lfs,
      present: r.files[i]!.present,
      downloaded: r.files[i]!.downloaded,
    })),
    stats: r.stats,
    warnings: r.pack.warnings,
  };
}
