import { writeFile } from 'node:fs/promises';
import { ModelshipError, scanTableRows, type ScanPredicate } from '@modelship/core';
import { safe, table } from './io.js';

/** The scan's file table, its findings table (when there are findings) and a summary line. */
export function renderScan(p: ScanPredicate): string {
  const rows = scanTableRows(p);
  return (
    table(rows.files) +
    (rows.findings.length > 1 ? `\n${table(rows.findings)}` : '') +
    safe`security scan: ${rows.summary}\n`
  );
}

/** Writes the scan predicate for a later `attest --type scan --scan-report FILE`. */
export async function writeScanReport(path: string, p: ScanPredicate): Promise<void> {
  try {
    await writeFile(path, JSON.stringify(p, null, 2) + '\n');
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot write the scan report ${path}: ${(e as Error).message}`, { cause: e });
  }
}
