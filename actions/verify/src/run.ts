import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  checksTable,
  linesInput,
  registryInputs,
  showSummaryInput,
  tufInputs,
  type ActionContext,
} from '@modelship/action-common';
import {
  ModelshipError,
  digestHex,
  loadPolicy,
  readPublicKeys,
  safe,
  safeHtml,
  untrustedHtml,
  verifyArtifact,
  withSubject,
  type RegistryAccess,
  type TufOptions,
} from '@modelship/core';
import { verifyReferences } from './refs.js';

export interface Inputs {
  reference: string;
  referencesFile: string;
  manifests: string[];
  policy: string;
  trustedRoot?: string;
  tuf: TufOptions;
  verifyFiles?: string;
  publicKeys: string[];
  registry: RegistryAccess;
  showSummary: boolean;
}

/** Reads the verify action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const reference = core.getInput('reference');
  const referencesFile = core.getInput('references-file');
  const manifests = linesInput('manifests');
  if (reference && (referencesFile || manifests.length))
    throw new ModelshipError('USAGE', 'input reference cannot be combined with references-file or manifests', {
      hint: 'verify one reference with reference, or many with references-file and/or manifests',
    });
  if (!reference && !referencesFile && !manifests.length)
    throw new ModelshipError('USAGE', 'nothing to verify: set reference, references-file or manifests');
  const policy = core.getInput('policy', { required: true });
  const trustedRoot = core.getInput('trusted-root');
  const tuf = tufInputs();
  const verifyFiles = core.getInput('verify-files');
  if (!reference && verifyFiles)
    throw new ModelshipError('USAGE', 'input verify-files checks one model: use it with reference, not with many');
  return {
    reference,
    referencesFile,
    manifests,
    policy,
    ...(trustedRoot ? { trustedRoot } : {}),
    tuf,
    ...(verifyFiles ? { verifyFiles } : {}),
    publicKeys: linesInput('public-keys'),
    registry: registryInputs(),
    showSummary: showSummaryInput(),
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const policy = await loadPolicy(inputs.policy);
  const { reference, trustedRoot, tuf, verifyFiles } = inputs;
  const publicKeys = await readPublicKeys(inputs.publicKeys);
  if (!reference) {
    await verifyReferences(
      {
        referencesFile: inputs.referencesFile,
        manifests: inputs.manifests,
        registry: inputs.registry,
        verify: {
          policy,
          publicKeys,
          ...(trustedRoot ? { trustedRootPath: trustedRoot } : {}),
          tuf,
        },
      },
      ctx,
    );
    return;
  }
  await withSubject(reference, 'input reference', inputs.registry, async (subject) => {
    const report = await verifyArtifact({
      ...subject,
      policy,
      publicKeys,
      ...(trustedRoot ? { trustedRootPath: trustedRoot } : {}),
      tuf,
      ...(verifyFiles ? { verifyFilesDir: verifyFiles } : {}),
    });
    await mkdir(ctx.tempDir, { recursive: true });
    const reportPath = join(ctx.tempDir, `verify-${digestHex(report.subject.digest)}.json`);
    await writeFile(reportPath, JSON.stringify(report, null, 2));
    ctx.setOutput('verified', String(report.ok));
    ctx.setOutput('digest', report.subject.digest);
    ctx.setOutput('report-path', reportPath);
    ctx.setOutput('checked', '1');
    ctx.setOutput('failed', report.ok ? '0' : '1');
    for (const c of report.checks) ctx.info(safe`${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);

    await ctx.summary
      .addHeading(`modelship verify: ${report.ok ? 'passed' : 'FAILED'}`, 3)
      .addRaw(
        safeHtml`<p><code>${subject.name}@${report.subject.digest}</code> against <code>${policy.source}</code> (${policy.digest})</p>`,
      )
      .addTable(checksTable(report.checks))
      .addTable([
        [
          { data: 'Bundle', header: true },
          { data: 'Predicate type', header: true },
          { data: 'Signer', header: true },
          { data: 'Status', header: true },
        ],
        ...report.bundles.map((b) => [
          safeHtml`<code>${b.bundle || b.referrer}</code>`,
          untrustedHtml(b.predicateType ?? ''),
          untrustedHtml(b.signer?.subject ?? ''),
          untrustedHtml(
            b.trusted ? 'trusted' : b.verified ? `verified, ${b.reason ?? ''}` : `rejected: ${b.reason ?? ''}`,
          ),
        ]),
      ])
      .write();
    if (!report.ok)
      throw new ModelshipError(
        'POLICY',
        `${subject.name}@${report.subject.digest} does not meet ${policy.source}: ${report.checks
          .filter((c) => !c.ok)
          .map((c) => c.rule)
          .join(', ')}`,
      );
  });
}
