import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as core from '@actions/core';
import { escapeHtml, keyValueInput, registryInputs, runAction, signingInputs } from '@modelship/action-common';
import { ModelshipError, digestHex, openTarget, signArtifact, signingSetup } from '@modelship/core';

export async function run(): Promise<void> {
  await runAction(async () => {
    // Secrets are masked inside signingInputs before anything can print them.
    const signing = signingInputs();
    const reference = core.getInput('reference', { required: true });
    const annotations = keyValueInput('annotations');

    const target = await openTarget(reference, { registry: registryInputs() });
    try {
      if (!target.reference)
        throw new ModelshipError('USAGE', `input reference "${reference}" names no tag or digest`, {
          hint: 'use HOST/REPO@sha256:... (e.g. the digest output of the pack step)',
        });
      const setup = await signingSetup(signing);
      const r = await signArtifact({
        store: target.store,
        reference: target.reference,
        name: target.base,
        setup,
        annotations,
      });
      const bundlePath =
        core.getInput('bundle-out') ||
        join(
          process.env.RUNNER_TEMP || process.cwd(),
          'modelship',
          `${digestHex(r.bundleDescriptor.digest)}.sigstore.json`,
        );
      await mkdir(dirname(bundlePath), { recursive: true });
      await writeFile(bundlePath, r.bundleBytes);

      core.setOutput('digest', r.subject.digest);
      core.setOutput('bundle-digest', r.bundleDescriptor.digest);
      core.setOutput('referrer-digest', r.referrer.digest);
      core.setOutput('signer-identity', r.identity.subject);
      core.setOutput('bundle-path', bundlePath);
      core.info(`signed ${target.base}@${r.subject.digest} as ${r.identity.subject}`);

      const log = r.tlogEntries.length
        ? r.tlogEntries.map((e) => `Rekor log index ${escapeHtml(e.logIndex)}`).join(', ')
        : 'none';
      await core.summary
        .addHeading('modelship sign', 3)
        .addTable([
          [
            { data: 'Artifact', header: true },
            { data: 'Signer', header: true },
            { data: 'Issuer', header: true },
            { data: 'Transparency log', header: true },
            { data: 'Timestamps', header: true },
            { data: 'Referrer', header: true },
          ],
          [
            `<code>${escapeHtml(target.base)}@${r.subject.digest}</code>`,
            escapeHtml(r.identity.subject),
            escapeHtml(r.identity.issuer ?? '(key)'),
            log,
            String(r.timestamps),
            `<code>${r.referrer.digest}</code>`,
          ],
        ])
        .write();
    } finally {
      await target.store.close();
    }
  });
}
