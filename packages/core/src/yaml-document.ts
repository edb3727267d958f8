/**
 * A YAML file checked against a JSON Schema, every problem named by `file:line`: the policy
 * file (policy/parse.ts) and the mirror file (hub/mirror.ts) are read this way.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ModelshipError } from './errors.js';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
// ajv-formats is CommonJS: depending on the loader the function is the default export or its `.default`.
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/** A draft 2020-12 schema compiled with every error reported and the standard formats. */
export function compileSchema(schema: object): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

export type Segment = string | number;

function pathOf(instancePath: string): Segment[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `require.slsa.ref`, `models[2].source`; `root` for the document itself. */
export function yamlPath(path: readonly Segment[], root: string): string {
  if (path.length === 0) return root;
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Collects problems with line numbers against one parsed document. */
export class Problems {
  readonly list: { line: number; message: string }[] = [];

  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  node(path: readonly Segment[]): Node | undefined {
    if (path.length === 0) return (this.doc.contents as Node | null) ?? undefined;
    const n = this.doc.getIn(path, true) as Node | undefined;
    return n ?? undefined;
  }

  /** Line of the node at `path`, or of the key named `key` inside the mapping at `path`; nearest ancestor otherwise. */
  line(path: readonly Segment[], key?: string): number {
    if (key !== undefined) {
      const map = this.node(path);
      if (isMap(map)) {
        const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
        const k = pair?.key as Node | undefined;
        if (k?.range) return this.lines.linePos(k.range[0]).line;
      }
    }
    for (let n = path.length; n >= 0; n--) {
      const node = this.node(path.slice(0, n));
      if (node?.range) return this.lines.linePos(node.range[0]).line;
    }
    return 1;
  }

  add(path: readonly Segment[], message: string, key?: string): void {
    this.list.push({ line: this.line(path, key), message });
  }

  /** Every problem, sorted by line, as one INPUT error about the `noun` ("policy"). */
  fail(source: string, noun: string, hint: string): never {
    const sorted = [...this.list].sort((a, b) => a.line - b.line);
    const lines = [...new Set(sorted.map((p) => `${source}:${p.line}: ${p.message}`))];
    const message =
      lines.length === 1 ? lines[0]! : `invalid ${noun} (${lines.length} problems):\n  ${lines.join('\n  ')}`;
    throw new ModelshipError('INPUT', message, { hint });
  }
}

export interface YamlDocumentOptions {
  hint: string;
  /** What the document is, in messages ("policy": "the policy", "invalid policy"). */
  noun: string;
  /** What a failed `pattern` means at `path`, where the generic "must match /…/" would not help. */
  pattern?: (path: readonly Segment[], where: string) => string | undefined;
  /** The message for an empty document. */
  empty: string;
  /**
   * The caller's rules beyond the schema. They run even when the schema check failed, so that
   * every problem of a file is listed at once; `refused(path)` says the schema already reported
   * the value at `path` (or a mapping around it), which a rule then leaves alone.
   */
  rules?: (problems: Problems, raw: unknown, refused: (path: readonly Segment[]) => boolean) => void;
}

function describeAjv(e: ErrorObject, o: YamlDocumentOptions): { path: Segment[]; key?: string; message: string } {
  const path = pathOf(e.instancePath);
  const where = yamlPath(path, `the ${o.noun}`);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p['additionalProperty']);
      const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
      const allowed = props ? ` (allowed: ${Object.keys(props).join(', ')})` : '';
      return { path, key, message: `unknown key "${key}" in ${where}${allowed}` };
    }
    case 'required':
      return { path, message: `${where}: missing required key "${String(p['missingProperty'])}"` };
    case 'const':
      return { path, message: `${where} must be ${JSON.stringify(p['allowedValue'])}` };
    case 'minProperties':
    case 'maxProperties': {
      const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
      const names = props ? Object.keys(props).join(', ') : '';
      return { path, message: `${where} must have exactly one of: ${names}` };
    }
    case 'pattern':
      return {
        path,
        message: o.pattern?.(path, where) ?? `${where} has an invalid value (must match ${String(p['pattern'])})`,
      };
    case 'format':
      return { path, message: `${where} must be a ${String(p['format'])}` };
    case 'enum':
      return {
        path,
        message: `${where} must be one of: ${(p['allowedValues'] as unknown[]).map(String).join(', ')}`,
      };
    default:
      return { path, message: `${where} ${e.message ?? e.keyword}` };
  }
}

/**
 * Parses `text` (one YAML document, at most 100 aliases expanded) and validates it. Invalid
 * YAML or a schema violation is an INPUT error naming `source:line` for each problem; the
 * returned `problems` collects the caller's own checks, with lines.
 */
export function parseYamlDocument(
  text: string,
  source: string,
  validate: ValidateFunction,
  o: YamlDocumentOptions,
): { raw: unknown; problems: Problems } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = lines.linePos(err.pos[0]).line;
    throw new ModelshipError('INPUT', `${source}:${line}: invalid YAML: ${err.message.split('\n')[0]}`, {
      hint: o.hint,
    });
  }
  const problems = new Problems(doc, lines);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    // Unresolved aliases and alias bombs only surface when the document is materialised.
    throw new ModelshipError('INPUT', `${source}: invalid YAML: ${(e as Error).message}`, { hint: o.hint });
  }
  if (raw === null || raw === undefined) {
    problems.add([], o.empty);
    problems.fail(source, o.noun, o.hint);
  }
  const schemaFailed = new Set<string>();
  if (!validate(raw)) {
    for (const e of validate.errors ?? []) {
      const d = describeAjv(e, o);
      problems.add(d.path, d.message, d.key);
      if (e.keyword !== 'additionalProperties') schemaFailed.add(e.instancePath);
    }
  }
  const refused = (path: readonly Segment[]): boolean =>
    path.some((_, n) =>
      schemaFailed.has(
        path
          .slice(0, n + 1)
          .map((x) => `/${x}`)
          .join(''),
      ),
    );
  o.rules?.(problems, raw, refused);
  if (problems.list.length > 0) problems.fail(source, o.noun, o.hint);
  return { raw, problems };
}
