import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { ModelshipError } from '../errors.js';

/**
 * Strict reading of YAML spec files with line numbers in every message: unknown keys and
 * wrong types are errors (KitOps decodes Kitfiles with KnownFields(true)).
 */
export class YamlReader {
  private readonly lines = new LineCounter();
  readonly root: Node | null;

  constructor(
    private readonly text: string,
    readonly source: string,
    private readonly hint: string,
  ) {
    const doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: false });
    const err = doc.errors[0];
    if (err) {
      const line = this.lines.linePos(err.pos[0]).line;
      throw new ModelshipError(
        'INPUT',
        `${source}${line ? `:${line}` : ''}: invalid YAML: ${err.message.split('\n')[0]}`,
        {
          hint,
        },
      );
    }
    this.root = (doc.contents as Node | null) ?? null;
  }

  line(node: Node | null | undefined): number | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }

  fail(node: Node | null | undefined, message: string): never {
    const line = this.line(node);
    throw new ModelshipError('INPUT', `${this.source}${line ? `:${line}` : ''}: ${message}`, { hint: this.hint });
  }

  /** A mapping's entries, refusing keys outside `allowed`. */
  map(node: Node | null | undefined, where: string, allowed: readonly string[]): Map<string, Node | null> {
    if (!isMap(node)) this.fail(node, `${where} must be a mapping`);
    const out = new Map<string, Node | null>();
    for (const pair of (node as YAMLMap<unknown, unknown>).items as Pair<unknown, unknown>[]) {
      const keyNode = pair.key as Node | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined) this.fail(keyNode, `${where}: keys must be plain strings`);
      if (!allowed.includes(key))
        this.fail(keyNode, `unknown key "${key}" in ${where} (allowed: ${allowed.join(', ')})`);
      out.set(key, (pair.value as Node | null) ?? null);
    }
    return out;
  }

  /** A scalar as written: `version: 1.0` stays "1.0" instead of becoming the number 1. */
  string(node: Node | null | undefined, where: string): string {
    if (!isScalar(node) || node.value === null || typeof node.value === 'object')
      this.fail(node, `${where} must be a string`);
    if (typeof node.value === 'string') return node.value;
    const range = node.range;
    return range ? this.text.slice(range[0], range[1]).trim() : String(node.value);
  }

  optString(m: Map<string, Node | null>, key: string, where: string): string | undefined {
    if (!m.has(key)) return undefined;
    const node = m.get(key);
    if (isScalar(node) && node.value === null) return undefined;
    return this.string(node, `${where}.${key}`);
  }

  /** A list of strings; a single string is accepted as a one-item list. */
  stringList(node: Node | null | undefined, where: string): string[] {
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return [];
    if (!isSeq(node)) return [this.string(node, where)];
    return node.items.map((item, i) => this.string(item as Node, `${where}[${i}]`));
  }

  seq(node: Node | null | undefined, where: string): Node[] {
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return [];
    if (!isSeq(node)) this.fail(node, `${where} must be a list`);
    return node.items as Node[];
  }
}
