import type { Command } from 'commander';
import {
  ModelshipError,
  loadPolicy,
  readPublicKeys,
  withSubject,
  verifyArtifact,
  type VerifyReport,
} from '@modelship/core';
import {
  findModelRefsInList,
  findModelRefsInManifests,
  githubAnnotation,
  modelRefAnnotations,
  verifyModelRefs,
  type ModelRef,
  type Policy,
  type VerifyModelRefsOptions,
} from '@modelship/core';
import { json, safe, untrustedText, type CliIO } from '../io.js';
import {
  addRegistryOptions,
  addTufOptions,
  collect,
  registryAccessFromFlags,
  tufOptions,
  type RegistryFlags,
  type TufFlags,
} from '../options.js';

interface VerifyFlags extends RegistryFlags, TufFlags {
  policy: string;
  trustedRoot?: string;
  key?: string[];
  verifyFiles?: string;
  json?: boolean;
  refsFile?: string;
  k8sManifests?: string[];
  annotations?: string;
}

export function registerVerify(program: Command, io: CliIO): void {
  const cmd = program
    .command('verify')
    .description('verify the signatures and attestations of an artifact against a policy (exit 9 when it fails)')
    .argument('[reference]', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST (or --refs-file / --k8s-manifests)')
    .requiredOption('--policy <file>', 'policy YAML (docs/policy.md)')
    .option('--trusted-root <file>', 'pinned trusted_root.json (overrides the policy)')
    .option('--key <file>', 'extra public key PEM (repeatable)', collect)
    .option(
      '--verify-files <dir>',
      'also check a directory (mounted or extracted model) against the signed per-file manifest',
    )
    .option('--json', 'print the report as JSON')
    .option('--refs-file <file>', 'verify every model reference listed in FILE (one per line, # comments)')
    .option(
      '--k8s-manifests <files...>',
      'verify the model references in Kubernetes manifests (ImageVolume volumes[].image.reference, KServe storageUri oci://)',
    )
    .option('--annotations <format>', 'with --refs-file/--k8s-manifests: "github" prints ::error workflow commands');
  addRegistryOptions(addTufOptions(cmd)).action(async (reference: string | undefined, flags: VerifyFlags) => {
    const policy = await loadPolicy(flags.policy);
    const publicKeys = await readPublicKeys(flags.key);
    if (flags.refsFile || flags.k8sManifests) {
      if (reference) throw new ModelshipError('USAGE', 'give a reference, or --refs-file / --k8s-manifests, not both');
      if (flags.verifyFiles) throw new ModelshipError('USAGE', '--verify-files checks one model: give a reference');
      await verifyMany(
        flags,
        {
          policy,
          publicKeys,
          ...(flags.trustedRoot ? { trustedRootPath: flags.trustedRoot } : {}),
          tuf: tufOptions(flags),
          registry: await registryAccessFromFlags(flags, io),
        },
        io,
      );
      return;
    }
    if (!reference)
      throw new ModelshipError('USAGE', 'nothing to verify', {
        hint: 'give a reference, --refs-file FILE or --k8s-manifests FILE...',
      });
    if (flags.annotations) throw new ModelshipError('USAGE', '--annotations needs --refs-file or --k8s-manifests');
    const registry = await registryAccessFromFlags(flags, io);
    const { report, name } = await withSubject(reference, 'reference', registry, async (s) => ({
      name: s.name,
      report: await verifyArtifact({
        ...s,
        policy,
        ...(flags.trustedRoot ? { trustedRootPath: flags.trustedRoot } : {}),
        tuf: tufOptions(flags),
        publicKeys,
        ...(flags.verifyFiles ? { verifyFilesDir: flags.verifyFiles } : {}),
      }),
    }));
    io.out(flags.json ? json(report) : render(report, name));
    if (!report.ok) {
      const failed = report.checks.filter((c) => !c.ok).map((c) => c.rule);
      throw new ModelshipError(
        'POLICY',
        `${name}@${report.subject.digest} does not meet ${policy.source}: ${failed.join(', ')}`,
      );
    }
  });
}

function render(r: VerifyReport, base: string): string {
  const lines = [
    safe`${r.ok ? 'PASS' : 'FAIL'} ${base}@${r.subject.digest} (policy ${r.policy.source} ${r.policy.digest.slice(0, 19)})`,
  ];
  for (const c of r.checks) lines.push(safe`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);
  lines.push('bundles:');
  const bundleLine = (b: VerifyReport['bundles'][number]): string =>
    safe`  ${b.trusted ? 'trusted ' : b.verified ? 'verified' : 'rejected'} ${b.predicateType ?? '?'} ${b.signer?.subject ?? ''} ${b.reason ? `(${b.reason})` : ''}`.trimEnd();
  for (const b of r.bundles) lines.push(bundleLine(b));
  if (r.variant) {
    // The chain: this is a variant; the record names its primary, whose bundles follow.
    lines.push(
      safe`${r.variant.name} variant of ${base}@${r.variant.primary} (record signed by ${r.variant.recordSigner})`,
    );
    lines.push('primary bundles:');
    for (const b of r.variant.primaryBundles) lines.push(bundleLine(b));
  }
  return lines.join('\n') + '\n';
}

/** Many references from a list file and/or manifests: one line per reference, annotations on request. */
async function verifyMany(
  flags: VerifyFlags,
  options: Omit<VerifyModelRefsOptions, 'refs'> & { policy: Policy },
  io: CliIO,
): Promise<void> {
  if (flags.annotations !== undefined && flags.annotations !== 'github')
    throw new ModelshipError('USAGE', `--annotations "${flags.annotations}" is not supported`, {
      hint: 'use --annotations github',
    });
  const refs: ModelRef[] = [];
  if (flags.refsFile) refs.push(...(await findModelRefsInList(flags.refsFile)));
  if (flags.k8sManifests) refs.push(...(await findModelRefsInManifests(flags.k8sManifests)));
  const result = await verifyModelRefs({ ...options, refs });
  if (flags.json) io.out(json(result));
  else {
    const lines = result.results.map(
      (r) =>
        safe`${r.ok ? 'PASS' : 'FAIL'} ${r.reference} (${r.locations.map((l) => `${l.file}:${l.line}`).join(', ')})` +
        (r.ok ? '' : safe`\n  ${r.message}`),
    );
    if (!lines.length) lines.push('no model references found');
    io.out(lines.join('\n') + '\n');
  }
  if (flags.annotations === 'github')
    for (const a of modelRefAnnotations(result.results))
      io.out(
        // githubAnnotation escapes the message's line breaks; control characters are made visible too.
        githubAnnotation('error', untrustedText(a.message), {
          file: a.location.file,
          line: a.location.line,
          col: a.location.column,
          title: a.title,
        }) + '\n',
      );
  if (!result.ok)
    throw new ModelshipError(
      'POLICY',
      `${result.failed} of ${result.checked} model reference(s) failed verification against ${options.policy.source}`,
    );
}
