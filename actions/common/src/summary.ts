import * as core from '@actions/core';
import {
  formatBytes,
  safeHtml,
  untrustedHtml,
  type AttestResult,
  type PackResult,
  type ScanPredicate,
  type SignResult,
  SCAN_PREDICATE_TYPE,
  scanTableRows,
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
    addTable: (rows) => (core.summary.addTable(rows), s),
    addList: (items) => (core.summary.addList(items), s),
    write: async () => {
      if (show) await core.summary.write();
      else core.summary.emptyBuffer();
    },
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
): void {
  summary
    .addHeading(heading, 3)
    .addRaw(
      safeHtml`<p><code>${reference}</code><br/>digest <code>${result.descriptor.digest}</code>, ${formatBytes(result.size)}, ${result.layers.length} layers (${result.stats.uploaded} written, ${result.stats.skipped} already present)` +
        `${ignoredSummary(result)}</p>`,
    )
    .addTable([
      [
        { data: 'File', header: true },
        { data: 'Kind', header: true },
        { data: 'Size', header: true },
        { data: 'Digest', header: true },
      ],
      ...result.layers.map((l) => [
        untrustedHtml(l.path),
        untrustedHtml(l.kind),
        formatBytes(l.descriptor.size),
        safeHtml`<code>${l.descriptor.digest}</code>`,
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
