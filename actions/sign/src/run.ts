import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as core from '@actions/core';
import { escapeHtml, keyValueInput, registryInputs, runAction, secretInput } from '@modelship/action-common';
import { ModelshipError, digestHex, keySourceFrom, openTarget, signArtifact, signingSetup } from '@modelship/core';

function tlogInput(): boolean | undefined {
  const v = core.getInput('tlog').trim().toLowerCase();
  if (v === '') return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ModelshipError('USAGE', `input tlog "${v}" must be true, false or empty`);
}

export async function run(): Promise<void> {
  await runAction(async () => {
    // Mask every secret before anything can print it.
    const key = secretInput('key');
    const keyPassword = secretInput('key-password');
    const identityToken = secretInput('identity-token');
    const reference = core.getInput('reference', { required: true });
    const entryType = core.getInput('rekor-entry-type');
    if (entryType && entryType !== 'dsse' && entryType !== 'intoto')
      throw new ModelshipError('USAGE', `input rekor-entry-type "${entryType}" is not dsse or intoto`);
    const annotations = keyValueInput('annotations');
    const tlog = tlogInput();

    const target = await openTarget(reference, { registry: registryInputs() });
    try {
      if (!target.reference)
        throw new ModelshipError('USAGE', `input reference "${reference}" names no tag or digest`, {
          hint: 'use HOST/REPO@sha256:... (e.g. the digest output of the pack step)',
        });
      const fulcioURL = core.getInput('fulcio-url');
      const rekorURL = core.getInput('rekor-url');
      const tsaURL = core.getInput('tsa-url');
      const setup = await signingSetup({
        ...(key ? { key: keySourceFrom(key) } : {}),
        ...(keyPassword ? { keyPassword } : {}),
        ...(identityToken ? { identityToken } : {}),
        ...(fulcioURL ? { fulcioURL } : {}),
        ...(rekorURL ? { rekorURL } : {}),
        ...(tsaURL ? { tsaURL } : {}),
        ...(tlog !== undefined ? { tlog } : {}),
        ...(entryType ? { rekorEntryType: entryType as 'dsse' | 'intoto' } : {}),
      });
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
