import type { ArtifactFacts } from '../attest/facts.js';
import { ModelshipError, opt } from '../errors.js';
import { MODELSHIP_VERSION } from '../request/version.js';
import { SCAN_VERDICTS, type FileScanResult, type ScanFinding, type ScanVerdict } from './report.js';

/** The model scan predicate (docs/predicates.md, "Model scan"). */
export const SCAN_PREDICATE_TYPE = 'https://modelship.dev/attestations/scan/v0.1';

/**
 * The scanner's own version: bumped whenever the allow-list, the deny-list or a format rule
 * changes, so a verdict can be traced to the rules that made it.
 */
export const SCANNER = { name: 'modelship-scan', version: '1.0.0' } as const;

export interface ScannedFile extends FileScanResult {
  /** POSIX path in the model (the layer's filepath, or the entry's path inside a tar layer). */
  path: string;
  /** Digest of the layer that holds the file. */
  layer: string;
  /** sha256 of the file itself, when it is the layer's (raw layers). */
  digest?: string;
  size: number;
}

export interface ScanPredicate {
  scanner: { name: string; version: string; modelship: string };
  scannedAt: string;
  summary: { files: number; safe: number; unsafe: number; unknownFormat: number };
  files: ScannedFile[];
}

export function buildScanPredicate(files: ScannedFile[], now: Date = new Date()): ScanPredicate {
  const count = (v: ScanVerdict): number => files.filter((f) => f.verdict === v).length;
  return {
    scanner: { name: SCANNER.name, version: SCANNER.version, modelship: MODELSHIP_VERSION },
    scannedAt: now.toISOString(),
    summary: {
      files: files.length,
      safe: count('safe'),
      unsafe: count('unsafe'),
      unknownFormat: count('unknown-format'),
    },
    files: [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  };
}

/** Layers of the artifact that no file of the scan belongs to. */
export function unscannedLayers(predicate: ScanPredicate, facts: Pick<ArtifactFacts, 'layers'>): string[] {
  const layers = new Set(predicate.files.map((f) => f.layer));
  return facts.layers.filter((l) => !layers.has(l.digest)).map((l) => l.path || l.digest);
}

/**
 * A scan made earlier (by `pack --scan`) taken for this artifact: it must be this scanner's,
 * and name exactly the artifact's layers (each raw layer's file by its path and digest).
 */
export function checkScanFor(predicate: unknown, facts: ArtifactFacts, source: string): ScanPredicate {
  const p = parseScanPredicate(predicate, source);
  if (p.scanner.name !== SCANNER.name || p.scanner.version !== SCANNER.version)
    throw new ModelshipError(
      'USAGE',
      `${source} was made by ${p.scanner.name} ${p.scanner.version}, not ${SCANNER.name} ${SCANNER.version}`,
      { hint: `scan again (pack with ${opt('securityScan')}, or attest without ${opt('scanReport')})` },
    );
  const missing = unscannedLayers(p, facts);
  const layers = new Set(facts.layers.map((l) => l.digest));
  const foreign = p.files.filter((f) => !layers.has(f.layer)).map((f) => f.path);
  const rawByPath = new Map(facts.layers.filter((l) => l.raw).map((l) => [l.path, l.digest]));
  const moved = p.files.filter((f) => rawByPath.has(f.path) && rawByPath.get(f.path) !== f.layer).map((f) => f.path);
  if (missing.length || foreign.length || moved.length)
    throw new ModelshipError(
      'INVALID',
      `${source} is not a scan of ${facts.name}@${facts.descriptor.digest} (${[
        missing.length ? `not scanned: ${missing.join(', ')}` : '',
        foreign.length ? `not in the artifact: ${foreign.join(', ')}` : '',
        moved.length ? `other content: ${moved.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')})`,
      { hint: 'use the report of the pack that made this artifact, or scan it from the store' },
    );
  return p;
}

/** Shape checks of a scan predicate read from a file or a signed statement. */
export function parseScanPredicate(v: unknown, source: string): ScanPredicate {
  const p = v as Partial<ScanPredicate> | null;
  const bad = (why: string): never => {
    throw new ModelshipError('INVALID', `${source} is not a model scan predicate: ${why}`);
  };
  if (!p || typeof p !== 'object') return bad('not an object');
  if (!p.scanner || typeof p.scanner.name !== 'string' || typeof p.scanner.version !== 'string')
    return bad('no scanner');
  if (!Array.isArray(p.files)) return bad('no files');
  for (const [i, f] of p.files.entries()) {
    if (!f || typeof f.path !== 'string' || typeof f.layer !== 'string' || !SCAN_VERDICTS.includes(f.verdict))
      return bad(`files[${i}] has no path, layer or verdict`);
    if (!Array.isArray(f.findings)) return bad(`files[${i}] has no findings list`);
  }
  return p as ScanPredicate;
}

export interface ScanRequirementLike {
  /** Verdicts that fail the check. */
  deny: ScanVerdict[];
  allowUnknownFormats: boolean;
}

/** One line per failing file: `model.bin: unsafe (posix.system, subprocess.Popen)`. */
export function failingFiles(p: ScanPredicate, req: ScanRequirementLike): string[] {
  const denied = new Set<ScanVerdict>(req.deny);
  if (!req.allowUnknownFormats) denied.add('unknown-format');
  return p.files
    .filter((f) => denied.has(f.verdict))
    .map((f) => {
      const what = f.findings.length ? findingNames(f.findings) : (f.notes[0] ?? '');
      return `${f.path}: ${f.verdict}${what ? ` (${what})` : ''}`;
    });
}

/** `posix.system, builtins.eval and 2 more`: the names a finding list holds. */
export function findingNames(findings: readonly ScanFinding[], max = 3): string {
  const names = [...new Set(findings.map((f) => f.global ?? f.location ?? f.message))];
  return names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', ');
}

/**
 * The rows front ends print (CLI table, job summary): one per file, then one per finding.
 * Every cell but the headers is untrusted (file, member and global names come from the
 * model): the front end neutralises each as it prints it.
 */
export function scanTableRows(p: ScanPredicate): { files: string[][]; findings: string[][]; summary: string } {
  const files = [
    ['FILE', 'FORMAT', 'VERDICT', 'NOTE'],
    ...p.files.map((f) => [f.path, f.format, f.verdict, f.verdict === 'unknown-format' ? (f.notes[0] ?? '') : '']),
  ];
  const findings = [
    ['FILE', 'MEMBER', 'FINDING', 'SEVERITY', 'OPCODE', 'COUNT'],
    ...p.files.flatMap((f) =>
      f.findings.map((x) => [
        f.path,
        x.entry ?? '',
        x.global ?? x.location ?? x.message,
        x.severity,
        x.opcode ?? x.kind,
        String(x.count),
      ]),
    ),
  ];
  const s = p.summary;
  return {
    files,
    findings,
    summary: `${s.files} file(s): ${s.safe} safe, ${s.unsafe} unsafe, ${s.unknownFormat} unknown-format (${p.scanner.name} ${p.scanner.version})`,
  };
}
