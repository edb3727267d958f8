import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  linesInput,
  listInput,
  logProgress,
  runAction,
  secretInput,
  signingInputs,
  tufInputs,
} from '@modelship/action-common';
import {
  ModelshipError,
  canSign,
  digestHex,
  formatBytes,
  isDigest,
  isLayoutSpec,
  loadPolicy,
  openTarget,
  promoteArtifact,
  safe,
  safeHtml,
  signingSetup,
  untrustedHtml,
  splitLayoutSpec,
  type ContentStore,
  type RegistryAccess,
  type SigningSetup,
  type VerifyReport,
} from '@modelship/core';

/** Recorded in the promotion record; the bundle has no package.json to read it from at run time. */
export const VERSION = '0.1.0';

/** Per-side credentials; docker config.json (per host) is used for a side without a username. */
function sideInputs(side: 'source' | 'destination'): RegistryAccess {
  const password = secretInput(`${side}-password`);
  const username = core.getInput(`${side}-username`);
  const access: RegistryAccess = {};
  if (core.getBooleanInput('plain-http')) access.plainHttp = true;
  if (core.getBooleanInput('insecure')) access.insecure = true;
  if (password && !username)
    throw new ModelshipError('USAGE', `input ${side}-password is set but ${side}-username is empty`, {
      hint: `set ${side}-username too`,
    });
  if (username) {
    access.username = username;
    if (password) access.password = password;
  }
  return access;
}

function concurrencyInput(): number {
  const v = core.getInput('concurrency') || '4';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new ModelshipError('USAGE', `input concurrency "${v}" must be an integer from 1 to 64`);
  return n;
}

export async function run(): Promise<void> {
  await runAction(async () => {
    // Secrets first, so nothing below can print them unmasked.
    const srcAccess = sideInputs('source');
    const dstAccess = sideInputs('destination');
    const signing = signingInputs();
    const source = core.getInput('source', { required: true });
    const destination = core.getInput('destination', { required: true });
    const policy = await loadPolicy(core.getInput('policy', { required: true }));
    const record = core.getInput('record') === '' ? true : core.getBooleanInput('record');
    const trustedRoot = core.getInput('trusted-root');
    const tuf = tufInputs();
    const concurrency = concurrencyInput();
    const publicKeys: { pem: string; name: string }[] = [];
    for (const path of linesInput('public-keys')) {
      try {
        publicKeys.push({ pem: await readFile(path, 'utf8'), name: path });
      } catch (e) {
        throw new ModelshipError('INPUT', `cannot read public key ${path}`, { cause: e });
      }
    }
    let setup: SigningSetup | undefined;
    if (record) {
      if (!canSign(signing))
        throw new ModelshipError('USAGE', 'promote signs a promotion record, and no signer is configured', {
          hint: 'set input key, or give the job `permissions: id-token: write` for keyless signing, or set record: false',
        });
      setup = await signingSetup(signing);
    }

    const src = await openTarget(source, { registry: srcAccess });
    let dstRegistry: ContentStore | undefined;
    try {
      if (!src.reference) throw new ModelshipError('USAGE', `input source "${source}" names no tag or digest`);
      let dstName: string;
      let dstRef: string | undefined;
      let dstStore: ContentStore | (() => Promise<ContentStore>);
      if (isLayoutSpec(destination)) {
        const { path, reference } = splitLayoutSpec(destination);
        dstName = `oci:${path}`;
        dstRef = reference;
        // Opening with create makes the directory: only once the policy passed.
        dstStore = async () => (await openTarget(`oci:${path}`, { create: true })).store;
      } else {
        const t = await openTarget(destination, { registry: dstAccess });
        dstName = t.base;
        dstRef = t.reference;
        dstStore = dstRegistry = t.store;
      }
      if (dstRef && isDigest(dstRef))
        throw new ModelshipError('USAGE', `input destination "${destination}" names a digest`, {
          hint: 'name the repository or layout, optionally with a tag',
        });
      const tags = [...(dstRef ? [dstRef] : []), ...listInput('tags')];
      if (!tags.length && !isDigest(src.reference)) tags.push(src.reference);

      const dir = join(process.env.RUNNER_TEMP || process.cwd(), 'modelship');
      let reportPath = '';
      const writeReport = async (r: VerifyReport): Promise<void> => {
        await mkdir(dir, { recursive: true });
        reportPath = join(dir, `promote-verify-${digestHex(r.subject.digest)}.json`);
        await writeFile(reportPath, JSON.stringify(r, null, 2));
        core.setOutput('report-path', reportPath);
      };
      let verified: VerifyReport | undefined;
      const progress = logProgress('promote');
      try {
        const r = await promoteArtifact({
          source: { store: src.store, reference: src.reference, name: src.base },
          destination: { store: dstStore, name: dstName },
          tags,
          policy,
          ...(trustedRoot ? { trustedRootPath: trustedRoot } : {}),
          tuf,
          publicKeys,
          ...(setup ? { recordSetup: setup } : {}),
          version: VERSION,
          concurrency,
          onVerified: (report) => {
            verified = report;
            for (const c of report.checks) core.info(safe`${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);
          },
          onBytes: (n) => progress.update(n),
        });
        progress.finish();
        await writeReport(r.report);
        const s = r.stats;
        core.setOutput('reference', r.reference);
        core.setOutput('digest', r.descriptor.digest);
        core.setOutput('blobs-copied', String(s.blobsCopied));
        core.setOutput('blobs-mounted', String(s.blobsMounted));
        core.setOutput('blobs-skipped', String(s.blobsSkipped));
        core.setOutput('bytes-copied', String(s.bytesCopied));
        core.setOutput('referrers-copied', String(s.referrersCopied));
        core.setOutput('record-digest', r.record?.referrer ?? '');
        core.info(safe`promoted ${src.base}@${r.descriptor.digest} -> ${r.reference}`);

        await core.summary
          .addHeading('modelship promote', 3)
          .addRaw(
            safeHtml`<p><code>${src.display}</code> → <code>${r.reference}</code>, verified against <code>${policy.source}</code> (${policy.digest})</p>`,
          )
          .addTable([
            [
              { data: 'Item', header: true },
              { data: 'Value', header: true },
            ],
            ['Digest', safeHtml`<code>${r.descriptor.digest}</code>`],
            ['Tags', untrustedHtml(r.tags.join(', ') || '(none)')],
            ['Blobs copied', `${s.blobsCopied} (${formatBytes(s.bytesCopied)})`],
            ['Blobs mounted', String(s.blobsMounted)],
            ['Blobs already present', String(s.blobsSkipped)],
            ['Referrers copied', String(s.referrersCopied)],
            [
              'Promotion record',
              r.record
                ? safeHtml`<code>${r.record.referrer}</code> signed by ${r.record.signer.subject}`
                : 'none (record: false)',
            ],
          ])
          .addTable([
            [
              { data: 'Rule', header: true },
              { data: 'Result', header: true },
              { data: 'Detail', header: true },
            ],
            ...r.report.checks.map((c) => [untrustedHtml(c.rule), c.ok ? 'pass' : 'FAIL', untrustedHtml(c.detail)]),
          ])
          .write();
      } catch (e) {
        progress.finish();
        const report = verified as VerifyReport | undefined;
        if (report && !report.ok) {
          await writeReport(report);
          await core.summary
            .addHeading('modelship promote: REFUSED', 3)
            .addRaw(
              safeHtml`<p><code>${src.base}@${report.subject.digest}</code> does not meet <code>${policy.source}</code>; nothing was written to <code>${dstName}</code>.</p>`,
            )
            .addTable([
              [
                { data: 'Rule', header: true },
                { data: 'Result', header: true },
                { data: 'Detail', header: true },
              ],
              ...report.checks.map((c) => [untrustedHtml(c.rule), c.ok ? 'pass' : 'FAIL', untrustedHtml(c.detail)]),
            ])
            .write();
        }
        throw e;
      }
    } finally {
      await dstRegistry?.close();
      await src.store.close();
    }
  });
}
