import { lstatSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, join as joinPath, resolve as resolvePath } from 'node:path';
import { copyGraph, noCopy, type CopyStats } from './copy.js';
import type { Timings } from './timings.js';
import { ModelshipError } from './errors.js';
import type { Descriptor } from './oci.js';
import type { Policy } from './policy/types.js';
import { isValidTag, parseReference } from './reference.js';
import { signArtifact } from './sign/sign.js';
import { buildStatement } from './sign/statement.js';
import type { SigningOptions } from './sign/setup.js';
import type { InTotoStatement, SignerIdentity, SigningSetup } from './sign/types.js';
import { mountSourcesFor, type ContentStore, type DryRunLog, type ReadOnlyStore } from './store.js';
import { verifyArtifact, type VerifyReport } from './verify/evaluate.js';
import { isVariantLink, linkedVariants, variantTag, type VariantName } from './variants/link.js';
import type { TufOptions } from './verify/tuf.js';

export const PROMOTION_PREDICATE_TYPE = 'https://modelship.dev/attestations/promotion/v0.1';

export interface PromoteEndpoint {
  /** `host/repo` or `oci:DIR`: the statement subject name and what reports print. */
  name: string;
}

export interface PromoteSource extends PromoteEndpoint {
  store: ReadOnlyStore;
  /** Tag or digest in `store`; resolved to a digest once, and only that digest is verified and copied. */
  reference: string;
}

export interface PromoteDestination extends PromoteEndpoint {
  /**
   * The destination store, or a function that opens it. A function is called only after the
   * policy passed, so a refused promotion does not even create a layout directory; the store
   * it returns is closed by promoteArtifact.
   */
  store: ContentStore | (() => Promise<ContentStore>);
}

export interface PromoteOptions {
  source: PromoteSource;
  destination: PromoteDestination;
  /** Tags to set in the destination once everything (artifact, referrers, record) is there. */
  tags?: string[];
  policy: Policy;
  /** Overrides `policy.trust.trustedRoot`. */
  trustedRootPath?: string;
  /** TUF mirror / initial root / cache / offline for keyless policies (as verify). */
  tuf?: TufOptions;
  /** Extra public keys (PEM) besides the policy's key signers. */
  publicKeys?: { pem: string; name?: string }[];
  /** Signs the promotion record; without it no record is written (the caller decided --no-record). */
  recordSetup?: SigningSetup;
  /** Who promoted; default GITHUB_ACTOR, else the OS user. */
  actor?: string;
  /** modelship version, recorded in the promotion record. */
  version?: string;
  env?: NodeJS.ProcessEnv;
  /** Blob transfers in flight at once (default 4). */
  concurrency?: number;
  /**
   * Repositories on the destination registry to try as mount sources. Default: the source
   * repository when both sides are repositories of the same registry host.
   */
  mountFrom?: string[];
  /** The verification report, before anything is copied (also when it failed). */
  onVerified?: (report: VerifyReport) => void;
  onBytes?: (bytes: number) => void;
  onBlob?: (desc: Descriptor, outcome: 'copied' | 'mounted' | 'skipped') => void;
  /** Where the copy's time goes (timings.ts). */
  timings?: Timings;
  now?: () => Date;
  /**
   * Variants to promote with it (variants/link.ts): each must be linked to the source, carry a
   * trusted variant record naming it, and meet the policy itself; it is copied with its
   * referrers, tagged `<tag>-<name>` and gets its own promotion record. Variants not named
   * stay behind.
   */
  variants?: VariantName[];
}

export interface PromotedVariant {
  name: VariantName;
  descriptor: Descriptor;
  reference: string;
  tags: string[];
  report: VerifyReport;
  record?: PromotionRecordSummary;
}

export interface PromotionRecordSummary {
  /** Digest of the referrer manifest that carries the bundle. */
  referrer: string;
  bundle: string;
  signer: SignerIdentity;
  statement: InTotoStatement;
}

export interface PromoteResult {
  /** The promoted manifest (same digest as the source: manifests are copied byte for byte). */
  descriptor: Descriptor;
  /** `<destination name>@<digest>`. */
  reference: string;
  /** The tags set (a dry run: that would be set). */
  tags: string[];
  report: VerifyReport;
  stats: CopyStats;
  record?: PromotionRecordSummary;
  /**
   * Source and destination are one repository (or layout): nothing was copied, only `tags`
   * (those not naming the digest there yet) were set, and a record written for them. When
   * every tag named it already, `tagsUnchanged` lists them and nothing was written at all.
   */
  sameLocation?: { tagsUnchanged: string[] };
  /**
   * The destination was a dry-run store (DryRunStore: `--dry-run`): `log` says what would be
   * written and tagged; no record was signed (`record` says whether a real run signs one).
   */
  dryRun?: { log: DryRunLog; record: boolean };
  variants: PromotedVariant[];
}

/** The predicate of a promotion record (docs/predicates.md). */
export interface PromotionPredicate {
  source: { name: string; reference: string; digest: string };
  destination: { name: string; digest: string; tags: string[] };
  policy: { source: string; digest: string };
  verdict: {
    ok: boolean;
    checks: { rule: string; ok: boolean; detail: string }[];
    trustedBundles: { predicateType: string; signer: string; issuer?: string }[];
  };
  promotedAt: string;
  actor: string;
  tool: { name: 'modelship'; version?: string };
  /** The GitHub Actions run that promoted, when there is one. */
  run?: { url: string; repository: string; workflowRef?: string };
  /** For a variant promoted with its primary: its name and the primary's digest. */
  variant?: { name: string; primary: string };
  [key: string]: unknown;
}

/** GITHUB_ACTOR in Actions, else the OS user name, else "unknown". */
export function defaultActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GITHUB_ACTOR) return env.GITHUB_ACTOR;
  try {
    return userInfo().username || env.USER || 'unknown';
  } catch {
    // userInfo throws for uids without a passwd entry (containers).
    return env.USER || env.USERNAME || 'unknown';
  }
}

/**
 * Whether signing options can produce a signature without further input: a key, an explicit
 * token, or an OIDC source in the environment. Lets promote say "--no-record or --key" up
 * front instead of failing after the copy when the record cannot be signed.
 */
export function canSign(options: SigningOptions, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(
    options.key ||
    options.identityToken ||
    env.SIGSTORE_ID_TOKEN ||
    env.ACTIONS_ID_TOKEN_REQUEST_URL ||
    env.GITHUB_ACTIONS === 'true',
  );
}

/**
 * The form `promote.destinations` is matched against, so that one place cannot be spelled in
 * a way that slips past an anchored pattern: a registry `host/repo` gets the host lower-cased
 * and Docker Hub's aliases folded into `docker.io/...` (parseReference); an `oci:` layout
 * becomes `oci:` plus its absolute real path (symlinks resolved; a part that does not exist
 * yet is appended as written). A `..` segment is refused outright: the kernel resolves it
 * after symlinks, a string compare before them, and the two disagree.
 */
export function normalizeDestination(name: string): string {
  if (name.startsWith('oci:')) {
    const path = name.slice('oci:'.length);
    if (path.split(/[/\\]/).includes('..'))
      throw new ModelshipError('USAGE', `destination ${name} has a ".." path segment`, {
        hint: 'name the layout directory by a path without ".." (an absolute path, for one)',
      });
    let existing = resolvePath(path);
    const rest: string[] = [];
    for (;;) {
      try {
        existing = realpathSync.native(existing);
        break;
      } catch (e) {
        const parent = dirname(existing);
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === existing)
          throw new ModelshipError('INPUT', `cannot resolve destination ${name}: ${(e as Error).message}`, {
            cause: e,
          });
        // A dangling symlink would be followed when the layout is created: where it points is
        // not known here, so it is refused rather than judged by its own name.
        if (lstatSync(existing, { throwIfNoEntry: false }))
          throw new ModelshipError('INPUT', `destination ${name} goes through a symlink that points nowhere`, {
            hint: 'promote to the real directory, or fix the symlink',
          });
        rest.unshift(basename(existing));
        existing = parent;
      }
    }
    return `oci:${joinPath(existing, ...rest)}`;
  }
  const ref = parseReference(name);
  return `${ref.registry.toLowerCase()}/${ref.repository}`;
}

/**
 * Refuses a destination that none of the policy's `promote.destinations` matches. The
 * patterns were checked (anchored, valid) by the policy parser; the name is normalised first
 * (normalizeDestination).
 */
export function checkDestinationAllowed(policy: Policy, destinationName: string): void {
  const patterns = policy.promote.destinations;
  if (patterns === undefined) return;
  const name = normalizeDestination(destinationName);
  if (!patterns.some((p) => new RegExp(p, 'u').test(name)))
    throw new ModelshipError(
      'POLICY',
      `${policy.source} does not allow promotion to ${name === destinationName ? name : `${destinationName} (${name})`}`,
      { hint: `promote.destinations allows: ${patterns.join(', ')}` },
    );
}

/**
 * Whether two promote endpoints name one place: the same registry repository (host case and
 * Docker Hub aliases folded) or the same layout directory (symlinks resolved), as
 * normalizeDestination spells them. A name it cannot normalise is not the same as anything.
 */
export function sameLocation(a: string, b: string): boolean {
  try {
    return normalizeDestination(a) === normalizeDestination(b);
  } catch {
    return false;
  }
}

/** The digest `tag` names in `store`, or undefined when it names nothing. */
async function tagDigest(store: ReadOnlyStore, tag: string): Promise<string | undefined> {
  try {
    return (await store.resolve(tag)).digest;
  } catch (e) {
    if (e instanceof ModelshipError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
}

function githubRun(env: NodeJS.ProcessEnv): PromotionPredicate['run'] {
  const server = env.GITHUB_SERVER_URL;
  const repo = env.GITHUB_REPOSITORY;
  const id = env.GITHUB_RUN_ID;
  if (!server || !repo || !id) return undefined;
  const attempt = env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : '';
  return {
    url: `${server}/${repo}/actions/runs/${id}${attempt}`,
    repository: repo,
    ...(env.GITHUB_WORKFLOW_REF ? { workflowRef: env.GITHUB_WORKFLOW_REF } : {}),
  };
}

export function buildPromotionPredicate(input: {
  source: { name: string; reference: string };
  destinationName: string;
  descriptor: Descriptor;
  tags: string[];
  report: VerifyReport;
  actor: string;
  version?: string;
  now: Date;
  env: NodeJS.ProcessEnv;
  variant?: { name: string; primary: string };
}): PromotionPredicate {
  const run = githubRun(input.env);
  return {
    source: { name: input.source.name, reference: input.source.reference, digest: input.descriptor.digest },
    destination: { name: input.destinationName, digest: input.descriptor.digest, tags: input.tags },
    policy: { source: input.report.policy.source, digest: input.report.policy.digest },
    verdict: {
      ok: input.report.ok,
      checks: input.report.checks.map((c) => ({ rule: c.rule, ok: c.ok, detail: c.detail })),
      trustedBundles: input.report.bundles
        .filter((b) => b.trusted && b.signer)
        .map((b) => ({
          predicateType: b.predicateType ?? '',
          signer: b.signer!.subject,
          ...(b.signer!.issuer ? { issuer: b.signer!.issuer } : {}),
        })),
    },
    promotedAt: input.now.toISOString(),
    actor: input.actor,
    tool: { name: 'modelship', ...(input.version ? { version: input.version } : {}) },
    ...(run ? { run } : {}),
    ...(input.variant ? { variant: input.variant } : {}),
  };
}

/**
 * The source's variants to promote: for each name, the first linked variant that has a
 * trusted variant record naming `root` and meets the policy. A name without one refuses the
 * whole promotion (POLICY), before anything is written.
 */
async function selectVariants(
  options: PromoteOptions,
  root: Descriptor,
): Promise<{ name: VariantName; descriptor: Descriptor; link: Descriptor; report: VerifyReport }[]> {
  const names = [...new Set(options.variants ?? [])];
  if (!names.length) return [];
  const { source, policy } = options;
  const linked = await linkedVariants(source.store, root);
  const out: { name: VariantName; descriptor: Descriptor; link: Descriptor; report: VerifyReport }[] = [];
  for (const name of names) {
    const reasons: string[] = [];
    let chosen: (typeof out)[number] | undefined;
    for (const l of linked.filter((x) => x.name === name)) {
      const report = await verifyArtifact({
        store: source.store,
        reference: l.descriptor.digest,
        policy,
        ...(options.trustedRootPath ? { trustedRootPath: options.trustedRootPath } : {}),
        ...(options.tuf ? { tuf: options.tuf } : {}),
        ...(options.publicKeys ? { publicKeys: options.publicKeys } : {}),
      });
      if (report.variant?.primary !== root.digest) {
        reasons.push(`${l.descriptor.digest}: no trusted variant record naming ${root.digest}`);
        continue;
      }
      if (!report.ok) {
        const failed = report.checks.filter((c) => !c.ok);
        reasons.push(`${l.descriptor.digest}: ${failed.map((c) => `${c.rule} (${c.detail})`).join('; ')}`);
        continue;
      }
      chosen = { name, descriptor: l.descriptor, link: l.link, report };
      break;
    }
    if (!chosen)
      throw new ModelshipError(
        'POLICY',
        `${source.name}@${root.digest} has no ${name} variant that meets ${policy.source}; nothing was promoted${
          reasons.length ? `: ${reasons.join('; ')}` : ' (none is linked to it)'
        }`,
        {
          hint: `release it with the ${name} variant (signed, so it carries its variant record), or promote without it`,
        },
      );
    out.push(chosen);
  }
  return out;
}

/**
 * Promotes one artifact: verify the source digest against the policy, copy it with every
 * referrer (recursively) to the destination, tag it there, and attach a signed promotion
 * record. The source reference is resolved once and everything after works on that digest,
 * so a tag moved during the promotion cannot slip unverified content through. A failed
 * policy throws POLICY before the destination is touched.
 */
export async function promoteArtifact(options: PromoteOptions): Promise<PromoteResult> {
  const { source, destination, policy } = options;
  const env = options.env ?? process.env;
  const tags = [...new Set(options.tags ?? [])];
  for (const t of tags)
    if (!isValidTag(t))
      throw new ModelshipError('USAGE', `invalid tag "${t}"`, {
        hint: 'a tag matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}',
      });
  checkDestinationAllowed(policy, destination.name);

  const root = await source.store.resolve(source.reference);
  const report = await verifyArtifact({
    store: source.store,
    reference: root.digest,
    policy,
    ...(options.trustedRootPath ? { trustedRootPath: options.trustedRootPath } : {}),
    ...(options.tuf ? { tuf: options.tuf } : {}),
    ...(options.publicKeys ? { publicKeys: options.publicKeys } : {}),
  });
  options.onVerified?.(report);
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok);
    throw new ModelshipError(
      'POLICY',
      `${source.name}@${root.digest} does not meet ${policy.source}; nothing was promoted: ${failed
        .map((c) => `${c.rule} (${c.detail})`)
        .join('; ')}`,
      { hint: 'run `modelship verify` on the source for the full report', cause: report },
    );
  }

  const selected = await selectVariants(options, root);
  const keepLinks = new Set(selected.map((v) => v.link.digest));

  const opened = typeof destination.store === 'function';
  const dst = typeof destination.store === 'function' ? await destination.store() : destination.store;
  try {
    // Promoting into the place it comes from copies nothing; only the tags can change, and
    // the record is about them. With no tag to change there is nothing to promote: no record.
    const same = sameLocation(source.name, destination.name);
    let setTags = tags;
    let stats: CopyStats = noCopy();
    let sameResult: PromoteResult['sameLocation'];
    if (same) {
      const unchanged: string[] = [];
      for (const t of tags) if ((await tagDigest(dst, t)) === root.digest) unchanged.push(t);
      setTags = tags.filter((t) => !unchanged.includes(t));
      sameResult = { tagsUnchanged: unchanged };
    } else {
      const mountFrom = options.mountFrom ?? mountSourcesFor(source.store, dst);
      // Variants travel as referrers of the primary (their links): only the selected ones go.
      stats = await copyGraph(source.store, dst, root, {
        concurrency: options.concurrency ?? 4,
        referrers: true,
        skipReferrer: (r, subject) => subject.digest === root.digest && isVariantLink(r) && !keepLinks.has(r.digest),
        ...(mountFrom.length ? { mountFrom } : {}),
        ...(options.onBytes ? { onBytes: options.onBytes } : {}),
        ...(options.onBlob ? { onBlob: options.onBlob } : {}),
        ...(options.timings ? { timings: options.timings } : {}),
      });
    }
    const nothingToDo = same && setTags.length === 0;

    const now = (options.now ?? (() => new Date()))();
    const actor = options.actor ?? defaultActor(env);
    const recordFor = async (
      descriptor: Descriptor,
      recordTags: string[],
      verdict: VerifyReport,
      variant?: { name: string; primary: string },
    ): Promise<PromotionRecordSummary | undefined> => {
      // A dry-run store writes nothing, and a signature would still reach the transparency log.
      if (!options.recordSetup || dst.dryRun || nothingToDo) return undefined;
      const predicate = buildPromotionPredicate({
        source: { name: source.name, reference: variant ? descriptor.digest : source.reference },
        destinationName: destination.name,
        descriptor,
        tags: recordTags,
        report: verdict,
        actor,
        ...(options.version ? { version: options.version } : {}),
        now,
        env,
        ...(variant ? { variant } : {}),
      });
      const signed = await signArtifact({
        store: dst,
        reference: descriptor.digest,
        name: destination.name,
        setup: options.recordSetup,
        statement: (s, name) => buildStatement({ name, digest: s.digest }, PROMOTION_PREDICATE_TYPE, predicate),
      });
      return {
        referrer: signed.referrer.digest,
        bundle: signed.bundleDescriptor.digest,
        signer: signed.identity,
        statement: signed.statement,
      };
    };
    const record = await recordFor(root, setTags, report);
    const variants: PromotedVariant[] = [];
    for (const v of selected) {
      const vTags = tags.map((t) => variantTag(t, v.name));
      const vRecord = await recordFor(v.descriptor, vTags, v.report, { name: v.name, primary: root.digest });
      variants.push({
        name: v.name,
        descriptor: v.descriptor,
        reference: `${destination.name}@${v.descriptor.digest}`,
        tags: vTags,
        report: v.report,
        ...(vRecord ? { record: vRecord } : {}),
      });
    }
    // Tags last: whoever pulls by tag finds the artifact, its referrers and the record.
    for (const v of variants) for (const t of v.tags) await dst.tag(v.descriptor, t);
    for (const t of setTags) await dst.tag(root, t);
    return {
      descriptor: root,
      reference: `${destination.name}@${root.digest}`,
      tags: setTags,
      report,
      stats,
      ...(record ? { record } : {}),
      ...(sameResult ? { sameLocation: sameResult } : {}),
      ...(dst.dryRun ? { dryRun: { log: dst.dryRun, record: Boolean(options.recordSetup) && !nothingToDo } } : {}),
      variants,
    };
  } finally {
    if (opened) await dst.close();
  }
}
