import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as core from '@actions/core';
import { digestHex, safe, safeHtml, untrustedHtml, type SignResult } from '@modelship/core';

/**
 * Writes the bundle (to `bundle-out`, else under RUNNER_TEMP) and sets the sign outputs
 * bundle-digest, referrer-digest, signer-identity and bundle-path (digest is the caller's).
 */
export async function setSignOutputs(r: SignResult, base: string): Promise<void> {
  const bundlePath =
    core.getInput('bundle-out') ||
    join(
      process.env.RUNNER_TEMP || process.cwd(),
      'modelship',
      `${digestHex(r.bundleDescriptor.digest)}.sigstore.json`,
    );
  await mkdir(dirname(bundlePath), { recursive: true });
  await writeFile(bundlePath, r.bundleBytes);
  core.setOutput('bundle-digest', r.bundleDescriptor.digest);
  core.setOutput('referrer-digest', r.referrer.digest);
  core.setOutput('signer-identity', r.identity.subject);
  core.setOutput('bundle-path', bundlePath);
  core.info(safe`signed ${base}@${r.subject.digest} as ${r.identity.subject}`);
}

/** Adds the signature table to the job summary (the caller writes it). */
export function addSignSummary(r: SignResult, base: string, heading = 'modelship sign'): void {
  const log = r.tlogEntries.length
    ? r.tlogEntries.map((e) => safeHtml`Rekor log index ${e.logIndex}`).join(', ')
    : 'none';
  core.summary.addHeading(heading, 3).addTable([
    [
      { data: 'Artifact', header: true },
      { data: 'Signer', header: true },
      { data: 'Issuer', header: true },
      { data: 'Transparency log', header: true },
      { data: 'Timestamps', header: true },
      { data: 'Referrer', header: true },
    ],
    [
      safeHtml`<code>${base}@${r.subject.digest}</code>`,
      untrustedHtml(r.identity.subject),
      untrustedHtml(r.identity.issuer ?? '(key)'),
      log,
      String(r.timestamps),
      safeHtml`<code>${r.referrer.digest}</code>`,
    ],
  ]);
}
