import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  booleanInput,
  checksTable,
  concurrencyInput,
  linesInput,
  listInput,
  logProgress,
  registryInputs,
  showSummaryInput,
  signingInputs,
  tufInputs,
  variantsInput,
  type ActionContext,
} from '@modelship/action-common';
import {
  MODELSHIP_VERSION,
  digestHex,
  formatBytes,
  loadPolicy,
  openTarget,
  planPromotion,
  promoteArtifact,
  readPublicKeys,
  safe,
  safeHtml,
  signingSetup,
  summarizeVariants,
  untrustedHtml,
  type ContentStore,
  type PromoteResult,
  type RegistryAccess,
  type SigningOptions,
  type TufOptions,
  type VariantName,
  type VerifyReport,
} from '@modelship/core';

export interface Inputs {
  source: string;
  destination: string;
  sourceRegistry: RegistryAccess;
  destinationRegistry: RegistryAccess;
  signing: SigningOptions;
  policy: string;
  tags: string[];
  record: boolean;
  trustedRoot?: string;
  tuf: TufOptions;
  publicKeys: string[];
  concurrency: number;
  dryRun: boolean;
  showSummary: boolean;
  variants: VariantName[];
}

/** Reads the promote action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  // Per-side credentials; docker config.json (per host) is used for a side without a username.
  const sourceRegistry = registryInputs('source-');
  const destinationRegistry = registryInputs('destination-');
  const signing = signingInputs();
  const trustedRoot = core.getInput('trusted-root');
  return {
    source: core.getInput('source', { required: true }),
    destination: core.getInput('destination', { required: true }),
    sourceRegistry,
    destinationRegistry,
    signing,
    policy: core.getInput('policy', { required: true }),
    tags: listInput('tags'),
    record: booleanInput('record', true),
    ...(trustedRoot ? { trustedRoot } : {}),
    tuf: tufInputs(),
    publicKeys: linesInput('public-keys'),
    concurrency: concurrencyInput(),
    dryRun: booleanInput('dry-run', false),
    showSummary: showSummaryInput(),
    variants: variantsInput(false).names,
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const plan = planPromotion({
    source: inputs.source,
    destination: inputs.destination,
    tags: inputs.tags,
    record: inputs.record,
    signing: inputs.signing,
    labels: { source: 'input source', destination: 'input destination', key: 'input key', noRecord: 'record: false' },
  });
  const policy = await loadPolicy(inputs.policy);
  const publicKeys = await readPublicKeys(inputs.publicKeys);
  const setup = plan.record ? await signingSetup(inputs.signing) : undefined;

  const src = await openTarget(inputs.source, { registry: inputs.sourceRegistry });
  let dstRegistry: ContentStore | undefined;
  try {
    let dstName: string;
    let dstStore: ContentStore | (() => Promise<ContentStore>);
    const planned = plan.destination;
    const how = inputs.dryRun ? { dryRun: true } : {};
    if (planned.kind === 'oci-layout') {
      dstName = planned.base;
      // Opening with create makes the directory: only once the policy passed.
      dstStore = async () => (await openTarget(planned.base, { create: true, ...how })).store;
    } else {
      const t = await openTarget(planned.spec, { registry: inputs.destinationRegistry, ...how });
      dstName = t.base;
      dstStore = dstRegistry = t.store;
    }
    const tags = plan.tags;

    let reportPath = '';
    const writeReport = async (r: VerifyReport): Promise<void> => {
      await mkdir(ctx.tempDir, { recursive: true });
      reportPath = join(ctx.tempDir, `promote-verify-${digestHex(r.subject.digest)}.json`);
      await writeFile(reportPath, JSON.stringify(r, null, 2));
      ctx.setOutput('report-path', reportPath);
    };
    let verified: VerifyReport | undefined;
    const progress = logProgress(ctx, 'promote');
    try {
      const r = await promoteArtifact({
        source: { store: src.store, reference: plan.sourceReference, name: src.base },
        destination: { store: dstStore, name: dstName },
        tags,
        policy,
        ...(inputs.trustedRoot ? { trustedRootPath: inputs.trustedRoot } : {}),
        tuf: inputs.tuf,
        publicKeys,
        ...(setup ? { recordSetup: setup } : {}),
        version: MODELSHIP_VERSION,
        concurrency: inputs.concurrency,
        onVerified: (report) => {
          verified = report;
          for (const c of report.checks) ctx.info(safe`${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);
        },
        onBytes: (n) => progress.update(n),
        variants: inputs.variants,
      });
      if (!r.dryRun && !r.sameLocation) progress.finish();
      await writeReport(r.report);
      const s = r.stats;
      ctx.setOutput('reference', r.reference);
      ctx.setOutput('digest', r.descriptor.digest);
      ctx.setOutput('blobs-copied', String(s.blobsCopied));
      ctx.setOutput('blobs-mounted', String(s.blobsMounted));
      ctx.setOutput('blobs-skipped', String(s.blobsSkipped));
      ctx.setOutput('bytes-copied', String(s.bytesCopied));
      ctx.setOutput('referrers-copied', String(s.referrersCopied));
      ctx.setOutput('record-digest', r.record?.referrer ?? '');
      const variants = summarizeVariants(dstName, r.variants).map((v, i) => ({
        ...v,
        recordDigest: r.variants[i]!.record?.referrer ?? '',
      }));
      ctx.setOutput('variants', JSON.stringify(variants));
      const written = writtenLines(
        r,
        `${src.base}@${r.descriptor.digest}`,
        inputs.signing.key ? 'input key' : 'keyless, OIDC',
      );
      for (const line of written) ctx.info(line);
      for (const v of variants) ctx.info(safe`promoted ${v.name} variant -> ${v.reference} (${v.digest})`);

      await ctx.summary
        .addHeading(r.dryRun ? 'modelship promote (dry run: nothing written)' : 'modelship promote', 3)
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
              : untrustedHtml(written[written.length - 1]!),
          ],
          ...variants.map((v) => [
            untrustedHtml(`Variant ${v.name}`),
            safeHtml`<code>${v.reference}</code> (${v.digest})`,
          ]),
        ])
        .addTable(checksTable(r.report.checks))
        .write();
    } catch (e) {
      // No progress line for a promotion that failed ("promote: 0 B 0.0 MB/s" said nothing).
      const report = verified as VerifyReport | undefined;
      if (report && !report.ok) {
        await writeReport(report);
        await ctx.summary
          .addHeading('modelship promote: REFUSED', 3)
          .addRaw(
            safeHtml`<p><code>${src.base}@${report.subject.digest}</code> does not meet <code>${policy.source}</code>; nothing was written to <code>${dstName}</code>.</p>`,
          )
          .addTable(checksTable(report.checks))
          .write();
      }
      throw e;
    }
  } finally {
    await dstRegistry?.close();
    await src.store.close();
  }
}

/**
 * What the step did, line by line for the log; the last line says what became of the record.
 * A dry run says what would be copied, tagged and signed; a promotion into the place the
 * artifact already is says that nothing was copied.
 */
function writtenLines(r: PromoteResult, from: string, signer: string): string[] {
  const lines: string[] = [];
  if (r.sameLocation) {
    lines.push(safe`source and destination are the same: nothing to copy`);
    if (r.sameLocation.tagsUnchanged.length)
      lines.push(safe`already tagged there: ${r.sameLocation.tagsUnchanged.join(', ')}`);
  }
  const nothing = r.sameLocation !== undefined && r.tags.length === 0;
  if (r.dryRun) {
    for (const kind of ['blob', 'manifest', 'referrer'] as const) {
      const writes = r.dryRun.log.writes.filter((w) => w.kind === kind);
      const fresh = writes.filter((w) => !w.present);
      if (writes.length)
        lines.push(
          `dry run: ${fresh.length} ${kind}s would be copied, ${writes.length - fresh.length} are in the destination`,
        );
    }
    for (const t of r.dryRun.log.tags)
      lines.push(safe`dry run: tag ${t.tag} would be set${t.current ? ` (it names ${t.current} now)` : ''}`);
    lines.push(
      r.dryRun.record
        ? `dry run: a promotion record would be signed (${signer}) and attached`
        : nothing
          ? 'dry run: nothing would change (no tag to set, no record)'
          : 'dry run: no promotion record (record: false)',
    );
    return lines;
  }
  lines.push(safe`promoted ${from} -> ${r.reference}`);
  lines.push(
    r.record
      ? safe`promotion record ${r.record.referrer}`
      : nothing
        ? 'nothing changed: no tag to set, no promotion record added'
        : 'none (record: false)',
  );
  return lines;
}
