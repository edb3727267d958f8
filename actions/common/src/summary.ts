import * as core from '@actions/core';
import {
  formatBytes,
  safeHtml,
  untrustedHtml,
  type AttestResult,
  type DryRunLog,
  type PackResult,
  type ScanPredicate,
  type SignResult,
  SCAN_PREDICATE_TYPE,
  scanTableRows,
  type VerifyModelRefsResult,
  type VerifyReport,
} from '@modelship/core';

export type SummaryTableRow = (string | { data: string; header?: boolean })[];

/**
 * The job summary an action builds: the subset of @actions/core's `summary` the actions use,
 * so that a test can pass a recorder and the runner gets core's own HTML. Values are HTML
 * already (untrustedHtml / safeHtml at the call site).
 */
export interface Summary {
  addHeading(text: string, level?: number): Summary;
  addRaw(html: string, addEOL?: boolean): Summary;
  addTable(rows: SummaryTableRow[]): Summary;
  addList(items: string[]): Summary;
  /** Appends what was built to the job summary, or drops it when `show-summary` is false. */
  write(): Promise<void>;
}

/** The runner's job summary (GITHUB_STEP_SUMMARY), written only when `show` (`show-summary`). */
export function jobSummary(show: boolean): Summary {
  const s: Summary = {
    addHeading: (text, level) => (core.summary.addHeading(text, level), s),
    addRaw: (html, addEOL) => (core.summary.addRaw(html, addEOL), s),
    addTable: (rows) => (core.summary.addRaw(tableHtml(rows), true), s),
    addList: (items) => (core.summary.addList(items), s),
    write: async () => {
      if (show) await core.summary.write();
      else core.summary.emptyBuffer();
    },
  };
  return s;
}

/**
 * A table's HTML with every cell closed. @actions/core's own addTable leaves an empty cell
 * unclosed (`<td>` with no `</td>`: its wrap() drops the closing tag of empty content), which
 * shifts the columns of what follows in some renderers. Cells are HTML already.
 */
export function tableHtml(rows: SummaryTableRow[]): string {
  const cell = (c: SummaryTableRow[number]): string => {
    const { data, header } = typeof c === 'string' ? { data: c, header: false } : c;
    const tag = header ? 'th' : 'td';
    return `<${tag}>${data}</${tag}>`;
  };
  return `<table>${rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('')}</table>`;
}

/**
 * A Summary that renders to one HTML string instead of the job summary: a pull-request
 * comment built by the same section builders. The markup is what @actions/core's summary
 * writes (`<h3>`, `<table><tr><th>…`, `<ul><li>`), except that every cell is closed, empty ones
 * too. `write` does nothing: the caller takes `html()`.
 */
export function htmlSummary(): Summary & { html(): string } {
  const parts: string[] = [];
  const s: Summary & { html(): string } = {
    addHeading: (text, level = 1) => {
      const h = `h${Math.min(Math.max(Number(level) || 1, 1), 6)}`;
      parts.push(`<${h}>${text}</${h}>`);
      return s;
    },
    addRaw: (html, addEOL) => (parts.push(addEOL ? `${html}\n` : html), s),
    addTable: (rows) => (parts.push(tableHtml(rows)), s),
    addList: (items) => (parts.push(`<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>`), s),
    write: async () => {},
    html: () => parts.join('\n'),
  };
  return s;
}

/** The Rule / Result / Detail table of a verification report (verify and promote). */
export function checksTable(checks: VerifyReport['checks']): SummaryTableRow[] {
  return [
    [
      { data: 'Rule', header: true },
      { data: 'Result', header: true },
      { data: 'Detail', header: true },
    ],
    ...checks.map((c) => [untrustedHtml(c.rule), c.ok ? 'pass' : 'FAIL', untrustedHtml(c.detail)]),
  ];
}

/** ", 2 paths not packed (.gitignore: secret.env; the output layout: model-oci/)", HTML-escaped. */
function ignoredSummary(result: PackResult): string {
  if (result.ignored.length === 0) return '';
  const shown = result.ignored
    .slice(0, 5)
    .map((i) => `<code>${untrustedHtml(i.path)}</code> (${untrustedHtml(i.by)})`)
    .join(', ');
  return `<br/>${result.ignored.length} not packed: ${shown}${result.ignored.length > 5 ? ', …' : ''}`;
}

/** The scan's file table and, when there are any, its findings (every value from the model escaped). */
export function addScanSummary(summary: Summary, p: ScanPredicate, heading = 'Security scan'): void {
  const rows = scanTableRows(p);
  const header = (r: string[]): SummaryTableRow => r.map((data) => ({ data, header: true }));
  const body = (r: string[]): SummaryTableRow => r.map(untrustedHtml);
  summary
    .addHeading(heading, 4)
    .addRaw(`<p>${untrustedHtml(rows.summary)}</p>`)
    .addTable([header(rows.files[0]!), ...rows.files.slice(1).map(body)]);
  if (rows.findings.length > 1) summary.addTable([header(rows.findings[0]!), ...rows.findings.slice(1).map(body)]);
}

/** Adds the pack heading and layer table. */
export function addPackSummary(
  summary: Summary,
  result: PackResult,
  reference: string,
  heading = 'modelship pack',
  dryRun?: DryRunLog,
): void {
  const has = (digest: string): boolean => dryRun?.writes.find((w) => w.descriptor.digest === digest)?.present === true;
  const counts = dryRun
    ? `${result.stats.uploaded} would be written, ${result.stats.skipped} already in the target`
    : `${result.stats.uploaded} written, ${result.stats.skipped} already present`;
  summary
    .addHeading(heading, 3)
    .addRaw(
      safeHtml`<p><code>${reference}</code><br/>digest <code>${result.descriptor.digest}</code>, ${formatBytes(result.size)}, ${result.layers.length} layers (${counts})` +
        `${ignoredSummary(result)}</p>`,
    )
    .addTable([
      [
        { data: 'File', header: true },
        { data: 'Kind', header: true },
        ...(dryRun ? [{ data: 'Media type', header: true }] : []),
        { data: 'Size', header: true },
        { data: 'Digest', header: true },
        ...(dryRun ? [{ data: 'In the target', header: true }] : []),
      ],
      ...result.layers.map((l) => [
        untrustedHtml(l.path),
        untrustedHtml(l.kind),
        ...(dryRun ? [untrustedHtml(l.descriptor.mediaType)] : []),
        formatBytes(l.descriptor.size),
        safeHtml`<code>${l.descriptor.digest}</code>`,
        ...(dryRun ? [has(l.descriptor.digest) ? 'already there' : 'would write'] : []),
      ]),
    ]);
  if (result.variants.length)
    summary.addTable([
      [
        { data: 'Variant', header: true },
        { data: 'Tags', header: true },
        { data: 'Added', header: true },
        { data: 'Digest', header: true },
      ],
      ...result.variants.map((v) => [
        untrustedHtml(v.name),
        untrustedHtml(v.tags.join(', ')),
        formatBytes(v.addedBytes),
        safeHtml`<code>${v.descriptor.digest}</code>`,
      ]),
    ]);
  if (result.securityScan) addScanSummary(summary, result.securityScan);
}

interface MofSummary {
  components?: { name: string; status?: string; license?: string; location?: string }[];
  evaluation?: { class?: number; label?: string; reasons?: string[] };
}

/** The MOF predicate of an attest result, if one was made. */
export function mofOf(result: Pick<AttestResult, 'attestations'>): MofSummary | undefined {
  return result.attestations.find((a) => a.kind === 'mof')?.predicate as MofSummary | undefined;
}

/** Adds the attestation table and the MOF components. */
export function addAttestSummary(
  summary: Summary,
  result: AttestResult,
  base: string,
  heading = 'modelship attest',
): void {
  summary
    .addHeading(heading, 3)
    .addRaw(safeHtml`<p>Subject <code>${base}@${result.facts.descriptor.digest}</code></p>`)
    .addTable([
      [
        { data: 'Predicate type', header: true },
        { data: 'Signer', header: true },
        { data: 'Referrer', header: true },
      ],
      ...result.attestations.map((a) => [
        untrustedHtml(a.predicateType),
        untrustedHtml(a.signed.identity.subject),
        safeHtml`<code>${a.signed.referrer.digest}</code>`,
      ]),
    ]);
  const scan = result.attestations.find((a) => a.predicateType === SCAN_PREDICATE_TYPE);
  if (scan) addScanSummary(summary, scan.predicate as unknown as ScanPredicate);
  const mof = mofOf(result);
  if (!mof) return;
  summary.addHeading(`MOF: ${untrustedHtml(mof.evaluation?.label ?? `class ${mof.evaluation?.class ?? '?'}`)}`, 4);
  summary.addTable([
    [
      { data: 'Component', header: true },
      { data: 'Status', header: true },
      { data: 'Licence', header: true },
      { data: 'Location', header: true },
    ],
    ...(mof.components ?? []).map((c) => [
      untrustedHtml(c.name),
      untrustedHtml(c.status ?? ''),
      untrustedHtml(c.license ?? ''),
      untrustedHtml(c.location ?? ''),
    ]),
  ]);
  if (mof.evaluation?.reasons?.length) summary.addList(mof.evaluation.reasons.map(untrustedHtml));
}

/** Adds the signature table. */
export function addSignSummary(summary: Summary, r: SignResult, base: string, heading = 'modelship sign'): void {
  const log = r.tlogEntries.length
    ? r.tlogEntries.map((e) => safeHtml`Rekor log index ${e.logIndex}`).join(', ')
    : 'none';
  summary.addHeading(heading, 3).addTable([
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

/** The policy line under a verify heading; the policy path is the user's, its digest ours. */
function policyLine(policy: { source: string; digest: string }): string {
  return safeHtml`against <code>${policy.source}</code> (${policy.digest})`;
}

/** One reference verified (actions/verify `reference`): heading, subject, checks and bundles. */
export function addVerifySummary(summary: Summary, report: VerifyReport, name: string): Summary {
  return summary
    .addHeading(`modelship verify: ${report.ok ? 'passed' : 'FAILED'}`, 3)
    .addRaw(safeHtml`<p><code>${name}@${report.subject.digest}</code> ` + `${policyLine(report.policy)}</p>`)
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
        untrustedHtml(bundleStatus(b)),
      ]),
    ]);
}

/**
 * Every model reference of a PR check (references-file, manifests): one row per reference
 * with where it is written and why it failed. Reference, locations and messages come from the
 * change under review and from registries, so each is escaped.
 */
export function addModelRefsSummary(
  summary: Summary,
  result: VerifyModelRefsResult,
  policy: { source: string; digest: string },
): Summary {
  const heading =
    result.checked === 0
      ? 'modelship verify: no model references found'
      : `modelship verify: ${result.ok ? 'passed' : 'FAILED'} (${result.checked - result.failed} of ${result.checked} model references verified)`;
  summary
    .addHeading(heading, 3)
    .addRaw(`<p>${policyLine(policy)}</p>`)
    .addTable([
      [
        { data: 'Reference', header: true },
        { data: 'Result', header: true },
        { data: 'Where', header: true },
        { data: 'Detail', header: true },
      ],
      ...result.results.map((r) => [
        safeHtml`<code>${r.reference}</code>`,
        r.ok ? 'pass' : 'FAIL',
        r.locations.map((l) => untrustedHtml(`${l.file}:${l.line}`)).join('<br>'),
        untrustedHtml(r.message),
      ]),
    ]);
  // Every signature and attestation found, Sigstore bundles and Notation signatures alike, with
  // who signed it and what verification made of it.
  const signatures = result.results.flatMap((r) =>
    (r.report?.bundles ?? []).map((b) => ({ reference: r.reference, b })),
  );
  if (signatures.length)
    summary.addTable([
      [
        { data: 'Reference', header: true },
        { data: 'Signature', header: true },
        { data: 'Signer', header: true },
        { data: 'Status', header: true },
      ],
      ...signatures.map(({ reference, b }) => [
        safeHtml`<code>${reference}</code>`,
        b.format === 'notation'
          ? 'Notation'
          : untrustedHtml(b.predicateType ? `Sigstore ${b.predicateType}` : 'Sigstore'),
        untrustedHtml(b.signer?.subject ?? ''),
        untrustedHtml(bundleStatus(b)),
      ]),
    ]);
  return summary;
}

function bundleStatus(b: VerifyReport['bundles'][number]): string {
  return b.trusted ? 'trusted' : b.verified ? `verified, ${b.reason ?? ''}` : `rejected: ${b.reason ?? ''}`;
}
