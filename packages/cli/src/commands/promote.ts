import type { Command } from 'commander';
import {
  MODELSHIP_VERSION,
  formatBytes,
  loadPolicy,
  openTarget,
  parseConcurrency,
  passwordFromStdin,
  planPromotion,
  promoteArtifact,
  readPublicKeys,
  parseVariants,
  registryAccess,
  summarizeVariants,
  type PromotionDestination,
  type ContentStore,
  type DryRunLog,
  type DryRunWrite,
  type PromoteResult,
  type RegistryAccess,
  type SigningSetup,
  type VerifyReport,
} from '@modelship/core';
import { blobOutcome, dryRunTag, json, progressFor, safe, transferTimings, type CliIO } from '../io.js';
import {
  addSignerOptions,
  oneStdinSecret,
  addVariantOptions,
  collect,
  variantLines,
  registryAccessFromFlags,
  signingSetupFromFlags,
  addTufOptions,
  tufOptions,
  type TufFlags,
  type SignerFlags,
} from '../options.js';

interface PromoteFlags extends SignerFlags, TufFlags {
  variant?: string[];
  policy: string;
  tag?: string[];
  trustedRoot?: string;
  publicKey?: string[];
  record: boolean;
  concurrency: string;
  srcUsername?: string;
  srcPasswordStdin?: boolean;
  destUsername?: string;
  destPasswordStdin?: boolean;
  dryRun?: boolean;
  json?: boolean;
  progress: boolean;
}

export function registerPromote(program: Command, io: CliIO): void {
  const cmd = program
    .command('promote')
    .description(
      'verify an artifact against a policy, then copy it with all its referrers to another registry, repository or layout, tag it and attach a signed promotion record (exit 9 when the policy fails; nothing is written then)',
    )
    .argument('<source>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .argument('<destination>', 'HOST/REPO[:TAG] or oci:DIR[:TAG]')
    .requiredOption('--policy <file>', 'policy YAML the source must meet (docs/policy.md)')
    .option('-t, --tag <tag>', 'tag to set in the destination (repeatable)', collect)
    .option('--trusted-root <file>', 'pinned trusted_root.json for verification (overrides the policy)')
    .option('--public-key <file>', 'extra public key PEM trusted for verification (repeatable)', collect)
    .option('--no-record', 'do not attach a signed promotion record (then no signer is needed)')
    .option('--concurrency <n>', 'blobs transferred at once', '4')
    .option('--src-username <user>', 'source registry username (env MODELSHIP_SRC_USERNAME)')
    .option(
      '--src-password-stdin',
      'read the source registry password from standard input (else env MODELSHIP_SRC_PASSWORD)',
    )
    .option('--dest-username <user>', 'destination registry username (env MODELSHIP_DEST_USERNAME)')
    .option(
      '--dest-password-stdin',
      'read the destination registry password from standard input (else env MODELSHIP_DEST_PASSWORD)',
    )
    .option(
      '--dry-run',
      'verify, then write nothing: list what would be copied and what the destination has, the tags and the record',
    )
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress output');
  addVariantOptions(cmd, {
    baseImage: false,
    what: 'also promote this variant (it must carry a trusted variant record and meet the policy)',
  });
  addSignerOptions(addTufOptions(cmd)).action(async (source: string, destination: string, flags: PromoteFlags) => {
    await runPromote(source, destination, flags, io);
  });
}

/**
 * Per-side credentials: --src-/--dest- flags and MODELSHIP_SRC_/MODELSHIP_DEST_ variables win
 * over the shared --username/MODELSHIP_REGISTRY_* ones; docker config.json is per host anyway.
 * Passwords never come from argv; standard input can feed one of them.
 */
async function sideAccess(
  shared: RegistryAccess,
  side: 'src' | 'dest',
  username: string | undefined,
  passwordStdin: boolean | undefined,
  stdin: () => Promise<string>,
  env: NodeJS.ProcessEnv,
): Promise<RegistryAccess> {
  const prefix = side === 'src' ? 'MODELSHIP_SRC' : 'MODELSHIP_DEST';
  const password = passwordStdin
    ? passwordFromStdin(await stdin(), `--${side}-password-stdin`)
    : env[`${prefix}_PASSWORD`];
  const own = registryAccess(
    { username: username ?? env[`${prefix}_USERNAME`], password: password || undefined },
    {
      username: `--${side}-username USER (or ${prefix}_USERNAME)`,
      password: `--${side}-password-stdin or ${prefix}_PASSWORD`,
    },
  );
  if (!own.username) return shared;
  const { username: _u, password: _p, ...rest } = shared;
  void _u;
  void _p;
  return { ...rest, ...own };
}

async function runPromote(source: string, destination: string, flags: PromoteFlags, io: CliIO): Promise<void> {
  oneStdinSecret({
    '--password-stdin': flags.passwordStdin,
    '--src-password-stdin': flags.srcPasswordStdin,
    '--dest-password-stdin': flags.destPasswordStdin,
    '--key-password-stdin': flags.keyPasswordStdin,
  });
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency');
  const { names: variants } = parseVariants(flags.variant, undefined, { variants: '--variant' });
  const identityToken = flags.identityToken ?? io.env.SIGSTORE_ID_TOKEN;
  const plan = planPromotion({
    source,
    destination,
    tags: flags.tag,
    record: flags.record,
    signing: { ...(flags.key ? { key: { path: flags.key } } : {}), ...(identityToken ? { identityToken } : {}) },
    env: io.env,
    labels: { source: 'source', destination: 'destination', key: '--key KEY', noRecord: '--no-record' },
  });
  const policy = await loadPolicy(flags.policy);
  const publicKeys = await readPublicKeys(flags.publicKey);
  // Before any network work, so a bad key or password fails with nothing done.
  const setup: SigningSetup | undefined = plan.record ? await signingSetupFromFlags(flags, io) : undefined;

  const shared = await registryAccessFromFlags(flags, io);
  const stdin = (): Promise<string> => io.readStdin();
  const srcAccess = await sideAccess(shared, 'src', flags.srcUsername, flags.srcPasswordStdin, stdin, io.env);
  const dstAccess = await sideAccess(shared, 'dest', flags.destUsername, flags.destPasswordStdin, stdin, io.env);

  const src = await openTarget(source, { registry: srcAccess });
  let dstRegistry: ContentStore | undefined;
  try {
    const dst = await destinationTarget(plan.destination, dstAccess, flags.dryRun === true);
    if (typeof dst.store !== 'function') dstRegistry = dst.store;
    const tags = plan.tags;

    const progress = progressFor(io, 'promote', flags.progress && !flags.json);
    const clock = transferTimings(io, flags.progress && !flags.json && flags.dryRun !== true);
    let failedReport: VerifyReport | undefined;
    let result: PromoteResult;
    try {
      result = await promoteArtifact({
        source: { store: src.store, reference: plan.sourceReference, name: src.base },
        destination: { store: dst.store, name: dst.base },
        tags,
        policy,
        ...(flags.trustedRoot ? { trustedRootPath: flags.trustedRoot } : {}),
        tuf: tufOptions(flags),
        publicKeys,
        ...(setup ? { recordSetup: setup } : {}),
        version: MODELSHIP_VERSION,
        env: io.env,
        concurrency,
        onVerified: (r) => {
          if (!r.ok) failedReport = r;
        },
        onBytes: (n) => progress.update(n),
        onBlob: (desc, outcome) => progress.blob(blobOutcome(outcome), desc.size),
        timings: clock.timings,
        variants,
      });
    } catch (e) {
      // No progress line for a promotion that failed ("promote: 0 B 0.0 MB/s" said nothing).
      if (failedReport) io.out(flags.json ? json({ ok: false, report: failedReport }) : renderFailure(failedReport));
      throw e;
    }
    const moved = !result.dryRun && !result.sameLocation;
    if (moved) progress.finish();
    const timings = moved ? clock.done(result.stats.bytesCopied) : undefined;
    // Never the --key value itself: it may be the PEM text of the private key.
    const signer = flags.key ? '--key' : 'keyless, OIDC';
    io.out(
      flags.json
        ? json({ ...(toJson(result, src.display) as object), ...(timings ? { timings } : {}) })
        : render(result, src.display, signer),
    );
  } finally {
    await dstRegistry?.close();
    await src.store.close();
  }
}

/** Opens the planned destination: a registry at once, a layout only when the copy needs it. */
async function destinationTarget(
  planned: PromotionDestination,
  access: RegistryAccess,
  dryRun: boolean,
): Promise<{ store: ContentStore | (() => Promise<ContentStore>); base: string }> {
  const how = dryRun ? { dryRun: true } : {};
  if (planned.kind === 'oci-layout')
    return {
      store: async () => (await openTarget(planned.base, { create: true, ...how })).store,
      base: planned.base,
    };
  const t = await openTarget(planned.spec, { registry: access, ...how });
  return { store: t.store, base: t.base };
}

function renderFailure(r: VerifyReport): string {
  const lines = [safe`FAIL ${r.subject.digest} (policy ${r.policy.source} ${r.policy.digest.slice(0, 19)})`];
  for (const c of r.checks) lines.push(safe`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.rule}: ${c.detail}`);
  lines.push('nothing was written to the destination');
  return lines.join('\n') + '\n';
}

function render(r: PromoteResult, source: string, signer: string): string {
  const s = r.stats;
  const lines = [
    safe`verified ${source}@${r.descriptor.digest} against ${r.report.policy.source}: ${r.report.checks.length} checks passed`,
  ];
  if (r.sameLocation) {
    lines.push(safe`source and destination are the same (${r.reference.split('@')[0]!}): nothing to copy`);
    if (r.sameLocation.tagsUnchanged.length)
      lines.push(safe`already tagged there: ${r.sameLocation.tagsUnchanged.join(', ')}`);
  } else if (r.dryRun) lines.push(...dryRunCopyLines(r.dryRun.log));
  else
    lines.push(
      `${s.blobsCopied} blobs copied (${formatBytes(s.bytesCopied)}), ${s.blobsMounted} mounted, ${s.blobsSkipped} already present; ` +
        `${s.manifestsCopied} manifests copied, ${s.referrersCopied} referrers`,
    );
  const nothing = r.sameLocation !== undefined && r.tags.length === 0;
  if (r.dryRun) {
    lines.push(
      r.dryRun.record
        ? safe`promotion record: would be signed (${signer}) and attached`
        : nothing
          ? 'promotion record: none (no tag to change)'
          : 'promotion record: none (--no-record)',
    );
    if (r.dryRun.log.tags.length) lines.push(safe`tags: ${r.dryRun.log.tags.map(dryRunTag).join(', ')}`);
    lines.push('dry run: nothing was written to the destination');
  } else {
    if (r.record) lines.push(safe`promotion record: ${r.record.referrer} (signer ${r.record.signer.subject})`);
    else if (nothing) lines.push('nothing changed: no tag to set, no promotion record added');
    else lines.push('promotion record: none (--no-record)');
    if (r.tags.length) lines.push(safe`tags: ${r.tags.join(', ')}`);
  }
  lines.push(safe`reference: ${r.reference}`, safe`digest: ${r.descriptor.digest}`);
  return lines.join('\n') + '\n' + variantLines(summarizeVariants(baseOf(r.reference), r.variants));
}

/** What a dry run would copy: blobs, manifests and referrers, new or already in the destination. */
function dryRunCopyLines(log: DryRunLog): string[] {
  const kinds = { blob: [] as DryRunWrite[], manifest: [] as DryRunWrite[], referrer: [] as DryRunWrite[] };
  for (const w of log.writes) kinds[w.kind].push(w);
  const lines: string[] = [];
  for (const [kind, writes] of Object.entries(kinds)) {
    const fresh = writes.filter((w) => !w.present);
    const mount = fresh.some((w) => w.mountFrom)
      ? `, mounted from ${fresh.find((w) => w.mountFrom)!.mountFrom!.join(', ')} where the registry allows`
      : '';
    lines.push(
      `${kind}s: ${fresh.length} to copy (${formatBytes(fresh.reduce((a, w) => a + w.descriptor.size, 0))}${mount}), ${writes.length - fresh.length} already present`,
    );
    for (const w of writes)
      lines.push(safe`  ${w.present ? 'present' : 'copy   '} ${w.descriptor.digest} ${w.descriptor.mediaType}`);
  }
  return lines;
}

function toJson(r: PromoteResult, source: string): unknown {
  return {
    source: `${source}`,
    reference: r.reference,
    digest: r.descriptor.digest,
    mediaType: r.descriptor.mediaType,
    size: r.descriptor.size,
    tags: r.tags,
    stats: r.stats,
    verify: { ok: r.report.ok, policy: r.report.policy, checks: r.report.checks },
    record: r.record
      ? { referrerDigest: r.record.referrer, bundleDigest: r.record.bundle, signer: r.record.signer }
      : null,
    sameLocation: r.sameLocation ?? null,
    dryRun: r.dryRun
      ? {
          written: false,
          record: r.dryRun.record,
          writes: r.dryRun.log.writes.map((w) => ({
            ...w.descriptor,
            present: w.present,
            ...(w.subject ? { subject: w.subject } : {}),
            ...(w.mountFrom ? { mountFrom: w.mountFrom } : {}),
          })),
          tags: r.dryRun.log.tags.map((t) => ({ tag: t.tag, digest: t.descriptor.digest, current: t.current ?? null })),
        }
      : null,
    variants: summarizeVariants(baseOf(r.reference), r.variants).map((v, i) => {
      const rec = r.variants[i]!.record;
      return {
        ...v,
        verify: { ok: r.variants[i]!.report.ok, checks: r.variants[i]!.report.checks },
        record: rec ? { referrerDigest: rec.referrer, bundleDigest: rec.bundle, signer: rec.signer } : null,
      };
    }),
  };
}

/** `<destination name>` of `<destination name>@<digest>`. */
function baseOf(reference: string): string {
  return reference.slice(0, reference.lastIndexOf('@'));
}
