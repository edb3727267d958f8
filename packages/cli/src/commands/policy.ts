import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  EXPORT_TARGETS,
  ModelshipError,
  exportPolicy,
  loadExportInputs,
  loadPolicy,
  parseChoice,
  type ExportTarget,
} from '@modelship/core';
import { untrustedLines, type CliIO } from '../io.js';
import { collect } from '../options.js';

interface ExportFlags {
  to: string;
  image?: string[];
  name?: string;
  trustRootRef?: string;
  output?: string;
}

export function registerPolicy(program: Command, io: CliIO): void {
  const policy = program.command('policy').description('work with verification policies (docs/policy.md)');
  policy
    .command('export')
    .description(
      'write the admission-controller policies that check what a modelship policy checks (docs/kubernetes.md)',
    )
    .argument('<policy>', 'the policy file (policy.yaml)')
    .requiredOption('--to <target>', `what to write: ${EXPORT_TARGETS.join(', ')}`)
    .option(
      '--image <pattern>',
      'image pattern the policy applies to, in the target\'s syntax (repeatable; required for kyverno-ivp and policy-controller, e.g. "ghcr.io/acme/models/**")',
      collect,
    )
    .option('--name <name>', 'metadata.name of the resources (default: modelship- and the policy file name)')
    .option('--trust-root-ref <name>', "policy-controller: the TrustRoot resource holding the policy's trust root")
    .option('--output <file>', 'write the YAML to this file instead of standard output')
    .action(async (file: string, flags: ExportFlags) => {
      await runExport(file, flags, io);
    });
}

async function runExport(file: string, flags: ExportFlags, io: CliIO): Promise<void> {
  const to = parseChoice<ExportTarget>(flags.to, EXPORT_TARGETS, '--to');
  if (to !== 'kyverno' && !flags.image?.length)
    throw new ModelshipError(
      'USAGE',
      `--to ${to} needs --image: it selects images by name, container images included`,
      {
        hint: "name the model repositories, e.g. --image 'ghcr.io/acme/models/**'",
      },
    );
  if (flags.trustRootRef !== undefined && to !== 'policy-controller')
    throw new ModelshipError('USAGE', '--trust-root-ref is for --to policy-controller only');
  const policy = await loadPolicy(file);
  const result = exportPolicy(policy, {
    to,
    ...(await loadExportInputs(policy, to)),
    ...(flags.image ? { images: flags.image } : {}),
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.trustRootRef !== undefined ? { trustRootRef: flags.trustRootRef } : {}),
  });
  for (const w of result.warnings) io.err(untrustedLines(`warning: ${w}\n`));
  if (flags.output !== undefined) {
    await writeFile(flags.output, result.yaml);
    return;
  }
  // The YAML quotes the policy (regexes, predicate types, an embedded trusted root). On a
  // runner's log a line that would start a workflow command must not pass; written to a file
  // it is inert, so that is the way out rather than an altered YAML.
  if (untrustedLines(result.yaml) !== result.yaml)
    throw new ModelshipError(
      'INPUT',
      'the generated YAML has a line a GitHub Actions runner would read as a workflow command (it starts with "::" or holds "##[")',
      { hint: 'write it to a file with --output' },
    );
  io.out(result.yaml);
}
