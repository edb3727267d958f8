import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ModelshipError, loadPolicy, openTarget, verifyArtifact, type VerifyReport } from '@modelship/core';
import type { CliIO } from '../io.js';
import { addRegistryOptions, collect, registryAccess, type RegistryFlags } from '../options.js';

interface VerifyFlags extends RegistryFlags {
  policy: string;
  trustedRoot?: string;
  key?: string[];
  verifyFiles?: string;
  json?: boolean;
}

export function registerVerify(program: Command, io: CliIO): void {
  const cmd = program
    .command('verify')
    .description('verify the signatures and attestations of an artifact against a policy (exit 9 when it fails)')
    .argument('<reference>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .requiredOption('--policy <file>', 'policy YAML (docs/policy.md)')
    .option('--trusted-root <file>', 'pinned trusted_root.json (overrides the policy)')
    .option('--key <file>', 'extra public key PEM (repeatable)', collect)
    .option(
      '--verify-files <dir>',
      'also check a directory (mounted or extracted model) against the signed per-file manifest',
    )
    .option('--json', 'print the report as JSON');
  addRegistryOptions(cmd).action(async (reference: string, flags: VerifyFlags) => {
    const policy = await loadPolicy(flags.policy);
    const publicKeys: { pem: string; name: string }[] = [];
    for (const path of flags.key ?? []) {
      try {
        publicKeys.push({ pem: await readFile(path, 'utf8'), name: path });
      } catch (e) {
        throw new ModelshipError('INPUT', `cannot read public key ${path}`, { cause: e });
      }
    }
    const target = await openTarget(reference, { registry: await registryAccess(flags, io) });
    let report: VerifyReport;
    try {
      if (!target.reference) throw new ModelshipError('USAGE', `"${reference}" names no tag or digest to verify`);
      report = await verifyArtifact({
        store: target.store,
        reference: target.reference,
        policy,
        ...(flags.trustedRoot ? { trustedRootPath: flags.trustedRoot } : {}),
        publicKeys,
        ...(flags.verifyFiles ? { verifyFilesDir: flags.verifyFiles } : {}),
      });
    } finally {
      await target.store.close();
    }
    io.out(flags.json ? JSON.stringify(report, null, 2) + '\n' : render(report, target.base));
    if (!report.ok) {
      const failed = report.checks.filter((c) => !c.ok).map((c) => c.rule);
      throw new ModelshipError(
        'POLICY',
        `${target.base}@${report.subject.digest} does not meet ${policy.source}: ${failed.join(', ')}`,
      );
    }
  });
}

function render(r: VerifyReport, base: string): string {
  const lines = [
    `${r.ok ? 'PASS' : 'FAIL'} ${base}@${r.subject.digest} (policy ${r.policy.source} ${r.policy.digest.slice(0, 19)})`,
  ];
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);
  lines.push('bundles:');
  for (const b of r.bundles)
    lines.push(
      `  ${b.trusted ? 'trusted ' : b.verified ? 'verified' : 'rejected'} ${b.predicateType ?? '?'} ${b.signer?.subject ?? ''} ${b.reason ? `(${b.reason})` : ''}`.trimEnd(),
    );
  return lines.join('\n') + '\n';
}
