import type { ValidateFunction } from 'ajv/dist/2020.js';
import { readFile } from 'node:fs/promises';
import { attestArtifact, type AttestationKind } from '../attest/attest.js';
import { MOF_PREDICATE_TYPE } from '../attest/mof/predicate.js';
import { FILES_PREDICATE_TYPE } from '../attest/files.js';
import { SLSA_PROVENANCE_V1 } from '../attest/provenance.js';
import { CYCLONEDX_PREDICATE_TYPE } from '../attest/sbom/cyclonedx.js';
import { ModelshipError } from '../errors.js';
import { IDENTIFIER_FAMILIES, type IdentifierFamily } from '../mediatypes.js';
import type { Descriptor } from '../oci.js';
import { isValidTag, parseReference } from '../reference.js';
import { SCAN_PREDICATE_TYPE } from '../scan/predicate.js';
import { signArtifact } from '../sign/sign.js';
import { ANNOTATION_BUNDLE_PREDICATE_TYPE, COSIGN_SIGN_PREDICATE_TYPE, type SigningSetup } from '../sign/types.js';
import type { ContentStore } from '../store.js';
import { openTarget, type RegistryAccess } from '../target.js';
import { compileSchema, parseYamlDocument, yamlPath, type Segment } from '../yaml-document.js';
import type { HubAccess } from './access.js';
import { HubClient, type HubClientOptions } from './client.js';
import type { RangeOptions } from './download.js';
import { importFromHub, type ImportResult } from './import.js';
import { DEFAULT_REVISION, parseHubReference } from './reference.js';

/** JSON Schema (draft 2020-12) of a mirror file, version 1 (docs/mirror.md). */
export const MIRROR_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://modelship.dev/schemas/mirror-v1.json',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'models'],
  properties: {
    version: { const: 1 },
    models: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'target'],
        properties: {
          source: { type: 'string', pattern: '^hf://[^@]+$' },
          target: { type: 'string', minLength: 1 },
          revisions: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1 } },
          revisionPattern: { type: 'string', minLength: 2 },
          identifiers: { enum: [...IDENTIFIER_FAMILIES] },
          variants: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name'],
              properties: {
                name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,31}$' },
                include: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
                exclude: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
              },
            },
          },
        },
      },
    },
  },
} as const;

export interface MirrorVariant {
  name: string;
  include?: string[];
  exclude?: string[];
}

export interface MirrorModel {
  /** `hf://ORG/NAME`, as written. */
  source: string;
  repo: string;
  /** `HOST/REPO` of the registry repository it is mirrored to (no tag). */
  target: string;
  /** Branches, tags or commits; `main` when neither these nor a pattern are given. */
  revisions: string[];
  /** Anchored regex over the repository's branch and tag names. */
  revisionPattern?: string;
  identifiers?: IdentifierFamily;
  /** Each variant is an artifact of its own; absent: one artifact of every file. */
  variants: (MirrorVariant | undefined)[];
  line: number;
}

export interface MirrorFile {
  source: string;
  models: MirrorModel[];
}

const HINT = 'fix the mirror file; its format is documented in docs/mirror.md';

let validator: ValidateFunction | undefined;

interface RawModel {
  source: string;
  target: string;
  revisions?: string[];
  revisionPattern?: string;
  identifiers?: IdentifierFamily;
  variants?: MirrorVariant[];
}

/** Parses and validates a mirror file; every problem is an INPUT error naming `source:line`. */
export function parseMirrorFile(text: string, source: string): MirrorFile {
  validator ??= compileSchema(MIRROR_SCHEMA);
  const { raw, problems } = parseYamlDocument(text, source, validator, {
    hint: HINT,
    noun: 'mirror file',
    empty: 'the mirror file is empty (expected "version: 1" and "models")',
    pattern: (path, where) =>
      path[path.length - 1] === 'source'
        ? `${where} must be hf://ORG/NAME (revisions go in "revisions")`
        : path[path.length - 1] === 'name'
          ? `${where} must be lower-case letters, digits, ".", "_" or "-" (a tag suffix), at most 32`
          : undefined,
  });
  const models: MirrorModel[] = [];
  const seen = new Map<string, number>();
  (raw as { models: RawModel[] }).models.forEach((m, i) => {
    const at = (...p: Segment[]): Segment[] => ['models', i, ...p];
    const where = (...p: Segment[]): string => yamlPath(at(...p), 'the mirror file');
    let repo = '';
    try {
      repo = parseHubReference(m.source, where('source')).repo;
    } catch (e) {
      problems.add(at('source'), (e as Error).message);
    }
    try {
      const t = parseReference(m.target);
      if (t.tag || t.digest) problems.add(at('target'), `${where('target')} must name a repository without a tag`);
    } catch (e) {
      problems.add(at('target'), `${where('target')}: ${(e as Error).message}`);
    }
    if (m.revisionPattern !== undefined) {
      try {
        new RegExp(m.revisionPattern, 'u');
        if (!m.revisionPattern.startsWith('^') || !m.revisionPattern.endsWith('$'))
          problems.add(at('revisionPattern'), `${where('revisionPattern')} must be anchored (^...$)`);
      } catch (e) {
        problems.add(at('revisionPattern'), `${where('revisionPattern')} is not a regex: ${(e as Error).message}`);
      }
    }
    for (const [j, r] of (m.revisions ?? []).entries()) {
      try {
        parseHubReference(`hf://${repo || 'a/b'}@${r}`, where('revisions', j));
      } catch (e) {
        problems.add(at('revisions', j), (e as Error).message);
      }
    }
    const names = new Set<string>();
    for (const [j, v] of (m.variants ?? []).entries()) {
      if (names.has(v.name)) problems.add(at('variants', j), `${where('variants', j)}: variant "${v.name}" twice`);
      names.add(v.name);
    }
    const first = seen.get(m.source);
    if (first !== undefined)
      problems.add(at('source'), `${where('source')}: ${m.source} is mirrored already (models[${first}])`);
    seen.set(m.source, i);
    models.push({
      source: m.source,
      repo,
      target: m.target,
      revisions: m.revisions ?? (m.revisionPattern === undefined ? [DEFAULT_REVISION] : []),
      ...(m.revisionPattern !== undefined ? { revisionPattern: m.revisionPattern } : {}),
      ...(m.identifiers ? { identifiers: m.identifiers } : {}),
      variants: m.variants?.length ? m.variants : [undefined],
      line: problems.line(at()),
    });
  });
  if (problems.list.length > 0) problems.fail(source, 'mirror file', HINT);
  return { source, models };
}

export async function loadMirrorFile(path: string): Promise<MirrorFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read mirror file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseMirrorFile(text, path);
}

/** A revision name as a tag: what a tag cannot hold becomes `-` (`refs/pr/1` → `refs-pr-1`). */
export function revisionTag(revision: string, variant?: string): string {
  const suffix = variant ? `-${variant}` : '';
  let t = revision.replace(/[^A-Za-z0-9._-]/g, '-');
  if (!/^[A-Za-z0-9_]/.test(t)) t = `_${t}`;
  t = t.slice(0, 128 - suffix.length) + suffix;
  if (!isValidTag(t)) throw new ModelshipError('INTERNAL', `no tag for revision ${revision}`);
  return t;
}

/** One import of a mirror run: a model at a revision, in one variant. */
export interface MirrorJob {
  model: MirrorModel;
  revision: string;
  variant?: MirrorVariant;
}

/** The revisions to mirror: those named, then the branches and tags the pattern matches. */
export async function mirrorJobs(model: MirrorModel, client: HubClient): Promise<MirrorJob[]> {
  const revisions = [...model.revisions];
  if (model.revisionPattern !== undefined) {
    const re = new RegExp(model.revisionPattern, 'u');
    for (const r of await client.refs({ repo: model.repo }))
      if (re.test(r.name) && !revisions.includes(r.name)) revisions.push(r.name);
  }
  const tags = new Map<string, string>();
  for (const r of revisions) {
    const t = revisionTag(r);
    const other = tags.get(t);
    if (other !== undefined)
      throw new ModelshipError('INPUT', `${model.source}: revisions "${other}" and "${r}" would both be tagged ${t}`, {
        hint: 'name one of them by its commit, or narrow revisionPattern',
      });
    tags.set(t, r);
  }
  return revisions.flatMap((revision) =>
    model.variants.map((variant) => ({ model, revision, ...(variant ? { variant } : {}) })),
  );
}

export interface MirrorOptions {
  file: MirrorFile;
  /** Only this model (its `source`): one matrix job each. */
  only?: string;
  access: HubAccess;
  registry: RegistryAccess;
  /** Attestations each mirrored artifact must carry; missing ones are made. */
  attest?: AttestationKind[];
  /** Sign each mirrored artifact that carries no signature yet. */
  sign?: boolean;
  /** The signing setup, asked for only when something is to be signed. */
  signing?: () => Promise<SigningSetup>;
  env?: NodeJS.ProcessEnv;
  version?: string;
  concurrency?: number;
  client?: HubClientOptions;
  ranges?: Partial<RangeOptions>;
  warn?: (message: string) => void;
  /** Told about each artifact once it is mirrored. */
  onResult?: (r: MirrorResult) => void;
}

export interface MirrorResult {
  source: string;
  revision: string;
  variant?: string;
  commit: string;
  /** `HOST/REPO@sha256:…` */
  reference: string;
  digest: string;
  tags: string[];
  /** The target did not have this manifest before the run. */
  new: boolean;
  import: ImportResult;
  /** Per kind: the referrer written now, or `present` when the artifact had one. */
  attestations: { kind: AttestationKind; referrer: string | 'present' }[];
  signature?: string | 'present';
}

const PREDICATE_OF: Record<AttestationKind, string> = {
  slsa: SLSA_PROVENANCE_V1,
  mof: MOF_PREDICATE_TYPE,
  files: FILES_PREDICATE_TYPE,
  // attest's default SBOM format (attest/sbom).
  sbom: CYCLONEDX_PREDICATE_TYPE,
  scan: SCAN_PREDICATE_TYPE,
};

/** Predicate types of the signed referrers `desc` already has (from the annotation attach writes). */
async function attachedPredicates(store: ContentStore, desc: Descriptor): Promise<Set<string>> {
  const out = new Set<string>();
  for (const r of await store.referrers(desc)) {
    let type = r.annotations?.[ANNOTATION_BUNDLE_PREDICATE_TYPE];
    if (type === undefined) {
      // A referrers list without annotations: the referrer manifest has them.
      const m = JSON.parse((await store.fetchBytes(r)).toString('utf8')) as { annotations?: Record<string, string> };
      type = m.annotations?.[ANNOTATION_BUNDLE_PREDICATE_TYPE];
    }
    if (type) out.add(type);
  }
  return out;
}

/**
 * Brings the mirror's registry repositories up to date with the Hub: for each model, each
 * revision (named, or matching the pattern) and each variant, an import (which moves only
 * what the target lacks), then the attestations and the signature the artifact does not carry
 * yet. Run again with nothing new on the Hub, it uploads no blob and signs nothing.
 */
export async function mirror(options: MirrorOptions): Promise<MirrorResult[]> {
  const models = options.file.models.filter((m) => options.only === undefined || m.source === options.only);
  if (options.only !== undefined && models.length === 0)
    throw new ModelshipError('USAGE', `${options.only} is not a model of ${options.file.source}`, {
      hint: `name one of: ${options.file.models.map((m) => m.source).join(', ')}`,
    });
  const client = new HubClient(options.access, options.client);
  let setup: SigningSetup | undefined;
  const results: MirrorResult[] = [];
  for (const model of models) {
    for (const job of await mirrorJobs(model, client)) {
      const target = await openTarget(model.target, { registry: options.registry });
      try {
        const variant = job.variant?.name;
        const ref = { repo: model.repo, revision: job.revision };
        const imported = await importFromHub({
          ref,
          access: options.access,
          target: target.store,
          tags: [],
          ...(model.identifiers ? { family: model.identifiers } : {}),
          scan: {
            ...(job.variant?.include ? { include: job.variant.include } : {}),
            ...(job.variant?.exclude ? { exclude: job.variant.exclude } : {}),
          },
          ...(options.concurrency ? { concurrency: options.concurrency } : {}),
          ...(options.client ? { client: options.client } : {}),
          ...(options.ranges ? { ranges: options.ranges } : {}),
          ...(options.warn ? { warn: options.warn } : {}),
        });
        const desc = imported.pack.descriptor;
        const store = target.store;
        // Whether the manifest was new: import pushes it in any case (the same bytes).
        const tags = [...new Set([revisionTag(job.revision, variant), revisionTag(imported.source.commit, variant)])];
        const before = await Promise.all(tags.map((t) => store.resolve(t).catch(() => undefined)));
        const isNew = !before.some((d) => d?.digest === desc.digest);
        const attached = await attachedPredicates(store, desc);
        const attestations: MirrorResult['attestations'] = [];
        const missing = (options.attest ?? []).filter((k) => !attached.has(PREDICATE_OF[k]));
        for (const k of options.attest ?? [])
          if (!missing.includes(k)) attestations.push({ kind: k, referrer: 'present' });
        const needSign = options.sign === true && !attached.has(COSIGN_SIGN_PREDICATE_TYPE);
        if ((missing.length || needSign) && !setup) {
          if (!options.signing) throw new ModelshipError('INTERNAL', 'mirror: attest or sign without a signing setup');
          setup = await options.signing();
        }
        if (missing.length) {
          const r = await attestArtifact({
            store,
            reference: desc.digest,
            name: target.base,
            setup: setup!,
            kinds: missing,
            ...(options.env ? { env: options.env } : {}),
            ...(options.version ? { version: options.version } : {}),
          });
          for (const a of r.attestations)
            attestations.push({ kind: a.kind as AttestationKind, referrer: a.signed.referrer.digest });
        }
        let signature: MirrorResult['signature'];
        if (options.sign) {
          signature = needSign
            ? (await signArtifact({ store, reference: desc.digest, name: target.base, setup: setup! })).referrer.digest
            : 'present';
        }
        // Tags last: a tag names a complete, attested and signed artifact.
        for (const t of tags) await store.tag(desc, t);
        const result: MirrorResult = {
          source: model.source,
          revision: job.revision,
          ...(variant ? { variant } : {}),
          commit: imported.source.commit,
          reference: `${target.base}@${desc.digest}`,
          digest: desc.digest,
          tags,
          new: isNew,
          import: imported,
          attestations,
          ...(signature !== undefined ? { signature } : {}),
        };
        options.onResult?.(result);
        results.push(result);
      } finally {
        await target.store.close();
      }
    }
  }
  return results;
}
