import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  addVerifySummary,
  linesInput,
  registryInputs,
  secretInput,
  showSummaryInput,
  tufInputs,
  type ActionContext,
  type Summary,
} from '@modelship/action-common';
import {
  ModelshipError,
  digestHex,
  loadPolicy,
  readPublicKeys,
  safe,
  verifyArtifact,
  withSubject,
  type RegistryAccess,
  type TufOptions,
} from '@modelship/core';
import { prCommentFromEvent, upsertPrComment, type PrComment } from './comment.js';
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
  /** Input github-token given: post (or update) the pull-request comment with the table. */
  comment?: PrComment;
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
  const githubToken = secretInput('github-token');
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
    ...(githubToken ? { comment: prCommentFromEvent(githubToken) } : {}),
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
      inputs.comment,
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

    const section = (s: Summary): Summary => addVerifySummary(s, report, subject.name);
    await section(ctx.summary).write();
    if (inputs.comment) await upsertPrComment(inputs.comment, section, ctx);
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
