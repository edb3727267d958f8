import { appendFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  MODELSHIP_VERSION,
  formatBytes,
  hubAccessFromEnv,
  loadMirrorFile,
  mirror,
  parseAttestationKinds,
  parseConcurrency,
  safeHtml,
  type MirrorResult,
} from '@modelship/core';
import { safe, table, type CliIO, printResult } from '../io.js';
import { addSignerOptions, registryAccessFromFlags, signingSetupFromFlags, type SignerFlags } from '../options.js';

interface MirrorFlags extends SignerFlags {
  model?: string;
  list?: boolean;
  attest?: string;
  sign?: boolean;
  summary?: string;
  concurrency: string;
  json?: boolean;
}

export function registerMirror(program: Command, io: CliIO): void {
  const cmd = program
    .command('mirror')
    .description(
      'keep the Hugging Face Hub models of a mirror file in sync with their registry repositories (docs/mirror.md)',
    )
    .argument('<file>', 'mirror file (YAML)')
    .option('--model <source>', 'only this model of the file (hf://ORG/NAME): one job of a matrix')
    .option('--list', "print the file's models and stop (a matrix of jobs, with --json)")
    .option(
      '--attest <types>',
      'attestations every mirrored artifact carries (slsa, mof, files); missing ones are made',
    )
    .option('--sign', 'sign every mirrored artifact that has no signature yet')
    .option('--summary <file>', 'append a Markdown table of what was mirrored (e.g. $GITHUB_STEP_SUMMARY)')
    .option('--concurrency <n>', 'files transferred at once', '4')
    .option('--json', 'print the result as JSON');
  addSignerOptions(cmd).action(async (file: string, flags: MirrorFlags) => {
    printResult(io, flags.json, await runMirror(file, flags, io));
  });
}

async function runMirror(path: string, flags: MirrorFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  const file = await loadMirrorFile(path);
  if (flags.list) {
    const sources = file.models.map((m) => m.source);
    return { text: sources.map((s) => safe`${s}\n`).join(''), json: sources };
  }
  const attest = flags.attest ? parseAttestationKinds(flags.attest.split(','), '--attest') : [];
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency');
  const results = await mirror({
    file,
    ...(flags.model ? { only: flags.model } : {}),
    access: await hubAccessFromEnv(io.env),
    registry: await registryAccessFromFlags(flags, io),
    attest,
    sign: flags.sign === true,
    signing: () => signingSetupFromFlags(flags, io),
    env: io.env,
    version: MODELSHIP_VERSION,
    concurrency,
    warn: (m) => io.err(safe`warning: ${m}\n`),
  });
  if (flags.summary) await appendFile(flags.summary, summary(results));
  return { text: render(results), json: results.map(resultJson) };
}

function resultJson(r: MirrorResult): unknown {
  return {
    source: r.source,
    revision: r.revision,
    ...(r.variant ? { variant: r.variant } : {}),
    commit: r.commit,
    reference: r.reference,
    digest: r.digest,
    tags: r.tags,
    new: r.new,
    bytes: {
      transferred: r.import.stats.uploadedBytes,
      skipped: r.import.stats.skippedBytes,
      fromHub: r.import.stats.hubBytes,
    },
    attestations: r.attestations,
    ...(r.signature !== undefined ? { signature: r.signature } : {}),
  };
}

function render(results: MirrorResult[]): string {
  const rows = [['MODEL', 'REVISION', 'COMMIT', 'DIGEST', 'TRANSFERRED', 'SKIPPED', 'NEW']];
  for (const r of results)
    rows.push([
      `${r.source}${r.variant ? ` (${r.variant})` : ''}`,
      r.revision,
      r.commit.slice(0, 12),
      r.digest.slice(0, 19),
      formatBytes(r.import.stats.uploadedBytes),
      formatBytes(r.import.stats.skippedBytes),
      r.new ? 'yes' : 'no',
    ]);
  return table(rows);
}

/** The job summary: one row per artifact; every value from the Hub or the file is escaped for Markdown. */
function summary(results: MirrorResult[]): string {
  const head =
    '| model | revision | commit | digest | transferred | skipped | attestations | signature |\n' +
    '| --- | --- | --- | --- | --- | --- | --- | --- |\n';
  const rows = results.map((r) => {
    const att = r.attestations.map((a) => `${a.kind}: ${a.referrer === 'present' ? 'present' : 'new'}`).join(', ');
    const sig = r.signature === undefined ? '' : r.signature === 'present' ? 'present' : 'new';
    return (
      safeHtml`| ${r.source}${r.variant ? ` (${r.variant})` : ''} | ${r.revision} | <code>${r.commit}</code> | ` +
      safeHtml`<code>${r.reference}</code> | ${formatBytes(r.import.stats.uploadedBytes)} | ` +
      safeHtml`${formatBytes(r.import.stats.skippedBytes)} | ${att} | ${sig} |\n`
    );
  });
  return `### modelship mirror\n\n${head}${rows.join('')}\n`;
}
