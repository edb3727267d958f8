import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import { linesInput, registryInputs, runAction, tufInputs } from '@modelship/action-common';
import {
  ModelshipError,
  digestHex,
  loadPolicy,
  openTarget,
  safe,
  safeHtml,
  untrustedHtml,
  verifyArtifact,
} from '@modelship/core';
import { verifyReferences } from './refs.js';

export async function run(): Promise<void> {
  await runAction(async () => {
    const reference = core.getInput('reference');
    const referencesFile = core.getInput('references-file');
    const manifests = linesInput('manifests');
    if (reference && (referencesFile || manifests.length))
      throw new ModelshipError('USAGE', 'input reference cannot be combined with references-file or manifests', {
        hint: 'verify one reference with reference, or many with references-file and/or manifests',
      });
    if (!reference && !referencesFile && !manifests.length)
      throw new ModelshipError('USAGE', 'nothing to verify: set reference, references-file or manifests');
    const policy = await loadPolicy(core.getInput('policy', { required: true }));
    const trustedRoot = core.getInput('trusted-root');
    const tuf = tufInputs();
    const verifyFiles = core.getInput('verify-files');
    const publicKeys: { pem: string; name: string }[] = [];
    for (const path of linesInput('public-keys')) {
      try {
        publicKeys.push({ pem: await readFile(path, 'utf8'), name: path });
      } catch (e) {
        throw new ModelshipError('INPUT', `cannot read public key ${path}`, { cause: e });
      }
    }
    if (!reference) {
      if (verifyFiles)
        throw new ModelshipError('USAGE', 'input verify-files checks one model: use it with reference, not with many');
      await verifyReferences({
        referencesFile,
        manifests,
        registry: registryInputs(),
        verify: {
          policy,
          publicKeys,
          ...(trustedRoot ? { trustedRootPath: trustedRoot } : {}),
          tuf,
        },
      });
      return;
    }
    const target = await openTarget(reference, { registry: registryInputs() });
    try {
      if (!target.reference) throw new ModelshipError('USAGE', `input reference "${reference}" names no tag or digest`);
      const report = await verifyArtifact({
        store: target.store,
        reference: target.reference,
        policy,
        publicKeys,
        ...(trustedRoot ? { trustedRootPath: trustedRoot } : {}),
        tuf,
        ...(verifyFiles ? { verifyFilesDir: verifyFiles } : {}),
      });
      const dir = join(process.env.RUNNER_TEMP || process.cwd(), 'modelship');
      await mkdir(dir, { recursive: true });
      const reportPath = join(dir, `verify-${digestHex(report.subject.digest)}.json`);
      await writeFile(reportPath, JSON.stringify(report, null, 2));
      core.setOutput('verified', String(report.ok));
      core.setOutput('digest', report.subject.digest);
      core.setOutput('report-path', reportPath);
      core.setOutput('checked', '1');
      core.setOutput('failed', report.ok ? '0' : '1');
      for (const c of report.checks) core.info(safe`${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);

      await core.summary
        .addHeading(`modelship verify: ${report.ok ? 'passed' : 'FAILED'}`, 3)
        .addRaw(
          safeHtml`<p><code>${target.base}@${report.subject.digest}</code> against <code>${policy.source}</code> (${policy.digest})</p>`,
        )
        .addTable([
          [
            { data: 'Rule', header: true },
            { data: 'Result', header: true },
            { data: 'Detail', header: true },
          ],
          ...report.checks.map((c) => [untrustedHtml(c.rule), c.ok ? 'pass' : 'FAIL', untrustedHtml(c.detail)]),
        ])
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
          `${target.base}@${report.subject.digest} does not meet ${policy.source}: ${report.checks
            .filter((c) => !c.ok)
            .map((c) => c.rule)
            .join(', ')}`,
        );
    } finally {
      await target.store.close();
    }
  });
}
