/** What the scanner says about one file (docs/predicates.md, "Model scan"). */
export type ScanVerdict = 'safe' | 'unsafe' | 'unknown-format';
export const SCAN_VERDICTS: readonly ScanVerdict[] = ['safe', 'unsafe', 'unknown-format'];

export type FindingKind =
  /** A Python global a pickle imports (GLOBAL, STACK_GLOBAL, INST) that is not on the allow-list. */
  | 'global'
  /** EXT1/EXT2/EXT4: a global looked up in the loader's copyreg extension registry (unknowable here). */
  | 'extension'
  /** REDUCE/NEWOBJ/OBJ calling something that is not an imported global. */
  | 'call'
  /** A header that lies about the file: sizes, offsets, counts out of range or overlapping. */
  | 'header'
  /** A container (zip) whose structure hides or misplaces entries. */
  | 'container'
  /** ONNX external data outside the model directory. */
  | 'external-data';

export interface ScanFinding {
  kind: FindingKind;
  /** `dangerous`: on the deny-list (runs commands, code, network, files); `not-allowed`: not on the allow-list. */
  severity: 'dangerous' | 'not-allowed';
  /** `module.name` of the global, as the pickle spells it (`?` when it cannot be known). */
  global?: string;
  /** ONNX external data: the location the model names. */
  location?: string;
  /** The opcode that imported or called it (GLOBAL, STACK_GLOBAL, INST, REDUCE, EXT1, ...). */
  opcode?: string;
  /** The archive member it is in (`archive/data.pkl`). */
  entry?: string;
  /** Byte offset in the file or member of the first occurrence. */
  offset?: number;
  /** Occurrences of this same finding. */
  count: number;
  message: string;
}

export interface FileScanResult {
  /** Detected format: pickle, pytorch-zip, pytorch-legacy, numpy, npz, zip, safetensors, gguf, onnx, text, data, unknown. */
  format: string;
  verdict: ScanVerdict;
  findings: ScanFinding[];
  /** Why a file is `unknown-format`, and what was not looked at. */
  notes: string[];
}

/** Findings kept per file; the rest are counted in a note. */
const MAX_FINDINGS = 100;
const MAX_NOTES = 20;

/** Collects what parsers find in one file (and its archive members). */
export class ScanReport {
  format = 'unknown';
  private readonly findings = new Map<string, ScanFinding>();
  private readonly noteList: string[] = [];
  private dropped = 0;
  private unknownReason: string | undefined;

  finding(f: Omit<ScanFinding, 'count'>): void {
    const key = JSON.stringify([f.kind, f.global, f.opcode, f.entry, f.message]);
    const cur = this.findings.get(key);
    if (cur) {
      cur.count++;
      return;
    }
    if (this.findings.size >= MAX_FINDINGS) {
      this.dropped++;
      return;
    }
    this.findings.set(key, { ...f, count: 1 });
  }

  /** The file cannot be judged (not a format the scanner reads, or it could not be read to the end). */
  unknown(reason: string): void {
    this.unknownReason ??= reason;
    this.note(reason);
  }

  note(text: string): void {
    if (this.noteList.length < MAX_NOTES && !this.noteList.includes(text)) this.noteList.push(text);
  }

  get hasFindings(): boolean {
    return this.findings.size > 0;
  }

  result(): FileScanResult {
    const findings = [...this.findings.values()];
    const notes = [...this.noteList];
    if (this.dropped) notes.push(`${this.dropped} more finding(s) not listed`);
    const verdict: ScanVerdict = findings.length ? 'unsafe' : this.unknownReason ? 'unknown-format' : 'safe';
    return { format: this.format, verdict, findings, notes };
  }
}
