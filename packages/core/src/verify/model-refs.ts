import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import pLimit from 'p-limit';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml';
import { ModelshipError, toModelshipError, type ErrorCode } from '../errors.js';
import { isDigest } from '../oci.js';
import { parseReference } from '../reference.js';
import { isLayoutSpec, openTarget, splitLayoutSpec, type RegistryAccess } from '../target.js';
import { verifyArtifact, type VerifyOptions, type VerifyReport } from './evaluate.js';

/** Where a model reference was written: 1-based line and column, as editors and annotations count. */
export interface ModelRefLocation {
  file: string;
  line: number;
  column: number;
  /** Where in the file, for people: `Deployment/web volumes[model]`, `list entry`. */
  where: string;
}

export type ModelRefSource = 'list' | 'image-volume' | 'kserve';

export interface ModelRef extends ModelRefLocation {
  /** As written, minus a KServe URI scheme. */
  reference: string;
  source: ModelRefSource;
}

/**
 * References from a list file: one per line; blank lines, `#` lines and ` # trailing` comments
 * are ignored. Read line by line so a huge generated list does not sit in memory twice.
 */
export async function findModelRefsInList(file: string): Promise<ModelRef[]> {
  const refs: ModelRef[] = [];
  let lineNo = 0;
  try {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const raw of lines) {
      lineNo++;
      const ref = parseListLine(raw, file, lineNo);
      if (ref) refs.push(ref);
    }
  } catch (e) {
    // A line that is not one reference is already an error naming file:line: keep it.
    if (e instanceof ModelshipError) throw e;
    throw new ModelshipError('INPUT', `cannot read references file ${file}: ${(e as Error).message}`, { cause: e });
  }
  return refs;
}

/** Parses a list file's text (same rules as {@link findModelRefsInList}). */
export function parseModelRefsList(text: string, file: string): ModelRef[] {
  const refs: ModelRef[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const ref = parseListLine(raw, file, i + 1);
    if (ref) refs.push(ref);
  });
  return refs;
}

function parseListLine(raw: string, file: string, line: number): ModelRef | undefined {
  // A `#` opens a comment only at the start or after whitespace: references never contain
  // whitespace, and an `oci:` layout path might contain a `#` of its own.
  const body = raw.replace(/(^|\s)#.*$/, '').trimEnd();
  const start = body.search(/\S/);
  if (start < 0) return undefined;
  const reference = body.slice(start);
  if (/\s/.test(reference))
    throw new ModelshipError('INPUT', `${file}:${line}: "${reference}" is not one reference`, {
      hint: 'write one reference per line; comments start with #',
    });
  return { reference, file, line, column: start + 1, where: 'list entry', source: 'list' };
}

/** Kinds whose pod spec lives at a known path; anything else is searched as a whole. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ['spec'],
  PodTemplate: ['template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** KServe URI schemes that name an OCI artifact (modelcar, ImageVolume, init-container fetch). */
const KSERVE_OCI = /^oci(?:\+native|\+fetch)?:\/\//;

/**
 * Model references in Kubernetes manifests (multi-document YAML, `kind: List` too):
 *
 * - `volumes[].image.reference` — Kubernetes ImageVolume (KEP-4639), the way a ModelPack is
 *   mounted into a pod. Pods, pod templates of workload kinds, and any other object with
 *   that shape (Argo Rollouts, Knative, CRDs) since the shape is specific to image volumes.
 * - KServe `InferenceService` `storageUri: oci://…` (also `oci+native://`, `oci+fetch://`).
 *
 * Container `image:` fields are container images, not models, and are not reported: verify
 * those with a container-image admission policy.
 *
 * Malformed YAML is an INPUT error naming file:line:column.
 */
export function parseK8sManifests(text: string, file: string): ModelRef[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const refs: ModelRef[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = lineCounter.linePos(err.pos[0]);
      throw new ModelshipError(
        'INPUT',
        `${file}:${pos.line}:${pos.col}: not valid YAML: ${err.message.split('\n')[0]}`,
        { hint: 'fix the YAML, or leave this file out of the manifests list' },
      );
    }
    if (doc.contents) collectObject(doc, doc.contents, file, lineCounter, refs);
  }
  return refs;
}

/** Reads and parses every manifest file, in the order given. */
export async function findModelRefsInManifests(files: readonly string[]): Promise<ModelRef[]> {
  const refs: ModelRef[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ModelshipError('INPUT', `cannot read manifest ${file}`, { cause: e });
    }
    refs.push(...parseK8sManifests(text, file));
  }
  return refs;
}

function deref(doc: Document, node: unknown): unknown {
  // Aliases point at a node elsewhere in the document; the reference is written there.
  return isAlias(node) ? node.resolve(doc) : node;
}

function get(doc: Document, node: unknown, key: string): unknown {
  const n = deref(doc, node);
  if (!isMap(n)) return undefined;
  for (const pair of n.items) {
    const k = deref(doc, pair.key);
    if (isScalar(k) && k.value === key) return pair.value;
  }
  // `<<: *base` merge keys: look in the merged maps too.
  for (const pair of n.items) {
    const k = deref(doc, pair.key);
    if (isScalar(k) && k.value === '<<') {
      const src = deref(doc, pair.value);
      for (const m of isSeq(src) ? src.items : [src]) {
        const v = get(doc, m, key);
        if (v !== undefined) return v;
      }
    }
  }
  return undefined;
}

function scalarString(doc: Document, node: unknown): string | undefined {
  const n = deref(doc, node);
  return isScalar(n) && typeof n.value === 'string' ? n.value : undefined;
}

function location(node: unknown, lc: LineCounter): { line: number; column: number } {
  const range = (node as Node | undefined)?.range;
  const pos = lc.linePos(range ? range[0] : 0);
  return { line: pos.line, column: pos.col };
}

function collectObject(doc: Document, node: unknown, file: string, lc: LineCounter, out: ModelRef[]): void {
  const kind = scalarString(doc, get(doc, node, 'kind'));
  if (kind === 'List') {
    const items = deref(doc, get(doc, node, 'items'));
    if (isSeq(items)) for (const item of items.items) collectObject(doc, item, file, lc, out);
    return;
  }
  const name = scalarString(doc, get(doc, get(doc, node, 'metadata'), 'name'));
  const label = `${kind ?? 'object'}${name ? `/${name}` : ''}`;
  const path = kind ? POD_SPEC_PATHS[kind] : undefined;
  let root: unknown = node;
  if (path) {
    for (const key of path) root = get(doc, root, key);
    if (root === undefined) return;
  }
  walk(doc, root, (n) => {
    const volumes = deref(doc, get(doc, n, 'volumes'));
    if (!isSeq(volumes)) return;
    volumes.items.forEach((v, i) => {
      const image = get(doc, v, 'image');
      if (!isMap(deref(doc, image))) return;
      const refNode = get(doc, image, 'reference');
      const reference = scalarString(doc, refNode);
      if (reference === undefined) return;
      const vname = scalarString(doc, get(doc, v, 'name'));
      out.push({
        reference: reference.trim(),
        file,
        ...location(deref(doc, refNode), lc),
        where: `${label} volumes[${vname ?? i}]`,
        source: 'image-volume',
      });
    });
  });
  if (kind === 'InferenceService') {
    walk(doc, node, (n) => {
      const uriNode = get(doc, n, 'storageUri');
      const uri = scalarString(doc, uriNode)?.trim();
      if (!uri || !KSERVE_OCI.test(uri)) return;
      out.push({
        reference: uri.replace(KSERVE_OCI, ''),
        file,
        ...location(deref(doc, uriNode), lc),
        where: `${label} storageUri`,
        source: 'kserve',
      });
    });
  }
}

/** Visits every map under `node` (aliases not followed, so a reference is reported once, where written). */
function walk(doc: Document, node: unknown, visit: (map: unknown) => void): void {
  if (isMap(node)) {
    visit(node);
    for (const pair of node.items) walk(doc, pair.value, visit);
  } else if (isSeq(node)) {
    for (const item of node.items) walk(doc, item, visit);
  }
}

/**
 * Whether a reference names exactly one manifest by digest. A tag can be moved after the
 * check ran, so a verified tag says nothing about what the cluster pulls later.
 */
export function isPinnedByDigest(reference: string): boolean {
  try {
    if (isLayoutSpec(reference)) {
      const r = splitLayoutSpec(reference).reference;
      return r !== undefined && isDigest(r);
    }
    return parseReference(reference).digest !== undefined;
  } catch {
    return false;
  }
}

export interface ModelRefResult {
  reference: string;
  /** Every place the reference is written (verified once). */
  locations: ModelRefLocation[];
  ok: boolean;
  pinned: boolean;
  /** One line: why it failed, or what passed. */
  message: string;
  /** The verification report, when verification ran. */
  report?: VerifyReport;
  /** When verification could not run (not found, auth, network, malformed reference). */
  error?: { code: ErrorCode; message: string; hint?: string };
}

export interface VerifyModelRefsOptions extends Omit<VerifyOptions, 'store' | 'reference'> {
  refs: readonly ModelRef[];
  registry?: RegistryAccess;
  /** Verifications in flight at once (default 4). */
  concurrency?: number;
}

export interface VerifyModelRefsResult {
  ok: boolean;
  results: ModelRefResult[];
  checked: number;
  failed: number;
}

/**
 * Verifies each distinct reference once (bounded concurrency) against the policy with
 * {@link verifyArtifact}, and reports every location it is written at. A reference fails
 * when it is not pinned by digest, when the policy is not met, or when it cannot be
 * verified at all (missing, unauthorised, unreachable, malformed): each of those is a
 * result, not an exception, so one bad line does not hide the others.
 */
export async function verifyModelRefs(options: VerifyModelRefsOptions): Promise<VerifyModelRefsResult> {
  const { refs, registry, concurrency, ...verifyOptions } = options;
  const byRef = new Map<string, ModelRefLocation[]>();
  for (const r of refs) {
    const locs = byRef.get(r.reference) ?? [];
    locs.push({ file: r.file, line: r.line, column: r.column, where: r.where });
    byRef.set(r.reference, locs);
  }
  const limit = pLimit(concurrency ?? 4);
  const results = await Promise.all(
    [...byRef].map(([reference, locations]) => limit(() => verifyOne(reference, locations, registry, verifyOptions))),
  );
  const failed = results.filter((r) => !r.ok).length;
  return { ok: failed === 0, results, checked: results.length, failed };
}

async function verifyOne(
  reference: string,
  locations: ModelRefLocation[],
  registry: RegistryAccess | undefined,
  verifyOptions: Omit<VerifyOptions, 'store' | 'reference'>,
): Promise<ModelRefResult> {
  const pinned = isPinnedByDigest(reference);
  try {
    const target = await openTarget(reference, registry ? { registry } : {});
    let report: VerifyReport;
    try {
      if (!target.reference)
        throw new ModelshipError('USAGE', `"${reference}" names no tag or digest`, {
          hint: 'pin it by digest: REPO@sha256:…',
        });
      report = await verifyArtifact({ ...verifyOptions, store: target.store, reference: target.reference });
    } finally {
      await target.store.close();
    }
    const failedRules = report.checks.filter((c) => !c.ok);
    const pinHint = `pin it by digest (${target.base}@${report.subject.digest}): tags are mutable`;
    let message: string;
    if (!report.ok) {
      message = `does not meet ${report.policy.source}: ${failedRules.map((c) => `${c.rule} (${c.detail})`).join('; ')}`;
      if (!pinned) message += `; also ${pinHint}`;
    } else if (!pinned) {
      message = `verified, but not pinned by digest: ${pinHint}`;
    } else {
      message = `meets ${report.policy.source}`;
    }
    return { reference, locations, ok: report.ok && pinned, pinned, message, report };
  } catch (e) {
    const err = toModelshipError(e);
    // INTERNAL is a bug in modelship, not a finding about this reference.
    if (err.code === 'INTERNAL') throw err;
    return {
      reference,
      locations,
      ok: false,
      pinned,
      message: `cannot be verified: ${err.code}: ${err.message}${!pinned ? '; pin it by digest: tags are mutable' : ''}`,
      error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
    };
  }
}

/** GitHub workflow-command escaping of a message (`::error …::MESSAGE`). */
export function escapeWorkflowData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** GitHub workflow-command escaping of a property value (`file=…,title=…`). */
export function escapeWorkflowProperty(s: string): string {
  return escapeWorkflowData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export interface AnnotationProperties {
  file?: string;
  line?: number;
  col?: number;
  title?: string;
}

/**
 * A GitHub Actions `::error` workflow command, as `@actions/core` writes it, for tools
 * (the CLI) that print to a runner's log without depending on `@actions/core`.
 */
export function githubAnnotation(
  level: 'error' | 'warning' | 'notice',
  message: string,
  props: AnnotationProperties = {},
): string {
  const parts: string[] = [];
  if (props.file !== undefined) parts.push(`file=${escapeWorkflowProperty(props.file)}`);
  if (props.line !== undefined) parts.push(`line=${props.line}`);
  if (props.col !== undefined) parts.push(`col=${props.col}`);
  if (props.title !== undefined) parts.push(`title=${escapeWorkflowProperty(props.title)}`);
  return `::${level}${parts.length ? ` ${parts.join(',')}` : ''}::${escapeWorkflowData(message)}`;
}

/** One annotation per location of every failed reference. */
export function modelRefAnnotations(
  results: readonly ModelRefResult[],
): { message: string; title: string; location: ModelRefLocation }[] {
  const out: { message: string; title: string; location: ModelRefLocation }[] = [];
  for (const r of results) {
    if (r.ok) continue;
    for (const location of r.locations)
      out.push({
        location,
        title: r.pinned ? 'unverified model' : 'model not pinned by digest',
        message: `${r.reference} ${r.message}`,
      });
  }
  return out;
}
