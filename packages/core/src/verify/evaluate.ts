import { readFile } from 'node:fs/promises';
import { collectArtifactFacts, type ArtifactFacts } from '../attest/facts.js';
import { SBOM_PREDICATE_TYPES, sbomProblems } from '../attest/sbom/index.js';
import { SCAN_PREDICATE_TYPE, failingFiles, parseScanPredicate, unscannedLayers } from '../scan/predicate.js';
import { MOF_PREDICATE_TYPE, evaluateMof, type MofComponent } from '../attest/mof/index.js';
import { SLSA_PROVENANCE_V1 } from '../attest/provenance.js';
import { FILES_PREDICATE_TYPE, verifyFilesAgainstManifest } from '../attest/files.js';
import { ModelshipError } from '../errors.js';
import { isModelConfigMediaType, isModelManifestArtifactType } from '../mediatypes.js';
import { isModelshipError } from '../errors.js';
import { isIndexMediaType, summarizeManifest } from '../manifest.js';
import { VARIANT_PREDICATE_TYPE, parseVariantPredicate, type VariantPredicate } from '../variants/record.js';
import type { Descriptor } from '../oci.js';
import { evaluateLicenses } from '../policy/licenses.js';
import type { Policy, PolicySigner } from '../policy/types.js';
import { loadPublicKey } from '../sign/keys.js';
import { COSIGN_SIGN_PREDICATE_TYPE, type InTotoStatement } from '../sign/types.js';
import type { ReadOnlyStore } from '../store.js';
import { countDistinctSigners, verifyBundle, type VerifiedBundle, type VerifiedSigner } from './bundles.js';
import { discoverReferrers, type DiscoveryResult } from './discover.js';
import { evaluateSlsa } from './slsa.js';
import { notationTrust, verifyNotation } from './notation.js';
import { policyTrustSource, trustMaterial, type TufOptions } from './trust.js';

export interface CheckResult {
  /** The policy rule, e.g. `signers`, `require.predicates`, `require.mof.minClass`. */
  rule: string;
  ok: boolean;
  detail: string;
}

export interface BundleReport {
  referrer: string;
  bundle: string;
  predicateType?: string;
  verified: boolean;
  /** Verified and signed by a signer the policy trusts. */
  trusted: boolean;
  signer?: VerifiedSigner;
  /** Which policy signer matched (its line in the policy file). */
  matchedSignerLine?: number;
  reason?: string;
  /** `notation` for a Notation (Notary Project) signature; absent for Sigstore bundles. */
  format?: 'notation';
}

export interface VerifyReport {
  ok: boolean;
  subject: Descriptor;
  policy: { source: string; digest: string };
  bundles: BundleReport[];
  checks: CheckResult[];
  /**
   * For a variant with a trusted variant record: what it was made from, who vouched for
   * that, and the primary's bundles (whose trusted attestations counted for the variant).
   */
  variant?: { name: string; primary: string; recordSigner: string; primaryBundles: BundleReport[] };
}

export interface VerifyOptions {
  store: ReadOnlyStore;
  reference: string;
  policy: Policy;
  /** Overrides `policy.trust.trustedRoot`. */
  trustedRootPath?: string;
  /** TUF mirror / initial root (over the policy's `trust.tufMirror` / `trust.tufRoot`), cache, offline. */
  tuf?: TufOptions;
  /** Extra public keys (PEM) besides the policy's key signers. */
  publicKeys?: { pem: string; name?: string }[];
  /** Check this directory (what Kubernetes mounted, what pull extracted) against the signed per-file manifest. */
  verifyFilesDir?: string;
}

/** Whether a verified signer is one the policy names. Identity regexes are anchored by the policy parser. */
export function matchSigner(
  signer: VerifiedSigner,
  signers: PolicySigner[],
  keyHints: Map<number, string>,
): PolicySigner | undefined {
  return signers.find((s) => {
    if (s.type === 'notation') return false; // Notation signatures are matched against their trust stores (verify/notation.ts)
    if (s.type === 'key')
      return signer.kind === 'key' && signer.keyHint !== undefined && keyHints.get(s.line) === signer.keyHint;
    return signer.kind === 'keyless' && signer.issuer === s.issuer && new RegExp(s.identity, 'u').test(signer.subject);
  });
}

/**
 * Verifies every bundle attached to the artifact and evaluates the policy: trusted signers and
 * their count, required predicates, SLSA constraints, MOF class (re-evaluated from the signed
 * components, never taken from the claimed class), licences and artifact constraints. Reads
 * manifests, config and small layers only: never weight blobs.
 */
export async function verifyArtifact(options: VerifyOptions): Promise<VerifyReport> {
  const { policy, store } = options;
  const subject = await store.resolve(options.reference);
  const keySigners = policy.signers.filter((s) => s.type === 'key');
  // Each key signer's policy line -> its key hint, for matching bundles to signers.
  const hints = new Map<number, string>();
  const publicKeys = [...(options.publicKeys ?? [])];
  for (const s of keySigners) {
    let pem = s.pem;
    if (!pem && s.path) {
      try {
        pem = await readFile(s.path, 'utf8');
      } catch (e) {
        throw new ModelshipError('INPUT', `${policy.source}:${s.line}: cannot read public key ${s.path}`, { cause: e });
      }
    }
    const name = s.path ?? `${policy.source}:${s.line}`;
    publicKeys.push({ pem: pem!, name });
    hints.set(s.line, (await loadPublicKey({ pem: pem!, name })).hint);
  }
  // A policy of notation signers only needs no Sigstore trust material (and fetches none).
  const trust =
    policy.signers.some((s) => s.type !== 'notation') ||
    publicKeys.length > 0 ||
    (options.trustedRootPath ?? policy.trust.trustedRoot) !== undefined
      ? await trustMaterial({ ...policyTrustSource(policy, options), publicKeys })
      : undefined;
  const notationSigners = await notationTrust(policy);
  const requireTlog = policy.trust.requireTlog !== false;
  const own = await verifyBundlesOf(store, subject, { trust, policy, hints, requireTlog });
  const bundles = own.reports;
  let trusted = own.trusted;

  // A variant (variants/record.ts) with a trusted record naming its primary: the primary's
  // trusted attestations speak for it too (same files, another manifest). Its signatures do
  // not: minSignatures counts signatures over the digest being verified.
  const chain = await followVariantRecord(store, subject, own.trusted, { trust, policy, hints, requireTlog });
  const inherited = (chain?.primaryTrusted ?? []).filter(
    (t) => t.predicateType !== COSIGN_SIGN_PREDICATE_TYPE && t.predicateType !== VARIANT_PREDICATE_TYPE,
  );
  trusted = [...trusted, ...inherited];

  const notation = await verifyNotation(store, subject, own.others, notationSigners);
  bundles.push(...notation.reports);

  const checks: CheckResult[] = [];
  // k-of-n counts signers, not bundles: a second signature by the same key (or workflow
  // identity, or certificate name) adds no independent approval. Identical bundles were
  // already dropped by discovery. Only signatures over this digest count, a variant's too.
  const signatures = [
    ...own.trusted.filter((t) => t.predicateType === COSIGN_SIGN_PREDICATE_TYPE).map((t) => t.signer),
    ...notation.trusted,
  ];
  const signers = countDistinctSigners(signatures);
  checks.push({
    rule: 'minSignatures',
    ok: signers >= policy.minSignatures,
    detail: `${signers} distinct trusted signer(s) (${signatures.length} signature bundle(s)), policy requires ${policy.minSignatures}`,
  });
  for (const p of policy.require.predicates) {
    const n = trusted.filter((t) => t.predicateType === p).length;
    checks.push({
      rule: 'require.predicates',
      ok: n > 0,
      detail: n > 0 ? `${p}: ${n} trusted attestation(s)` : `${p}: no attestation from a trusted signer`,
    });
  }

  const slsaReq = policy.require.slsa;
  if (slsaReq) {
    const provs = trusted.filter((t) => t.predicateType === SLSA_PROVENANCE_V1);
    const fails: string[] = [];
    let met: 'certificate' | 'predicate' | undefined;
    for (const t of provs) {
      const r = evaluateSlsa(slsaReq, t.statement.predicate, t.signer);
      if (r.problems.length === 0) {
        met = r.source;
        break;
      }
      fails.push(...r.problems);
    }
    checks.push({
      rule: 'require.slsa',
      ok: met !== undefined,
      detail: met
        ? met === 'certificate'
          ? 'a trusted provenance meets every constraint, checked against its signing certificate'
          : 'a trusted provenance meets every constraint, checked against the key-signed predicate'
        : provs.length
          ? [...new Set(fails)].join('; ')
          : 'no trusted SLSA provenance',
    });
  }

  const mofReq = policy.require.mof;
  if (mofReq) {
    const mofs = trusted.filter((t) => t.predicateType === MOF_PREDICATE_TYPE);
    // Re-evaluate from the signed components: the claimed class is a pointer, not proof.
    const classes = mofs.map((m) => evaluateMof((m.statement.predicate['components'] ?? []) as MofComponent[]).class);
    const best = classes.filter((c) => c !== 0).sort()[0];
    const ok = best !== undefined && best <= mofReq.minClass;
    checks.push({
      rule: 'require.mof.minClass',
      ok,
      detail: mofs.length
        ? `MOF class ${best ?? 'none'} (re-evaluated), policy requires class ${mofReq.minClass} or better`
        : 'no trusted MOF attestation',
    });
  }

  if (chain)
    checks.push({
      rule: 'variant',
      ok: chain.primaryFound,
      detail: chain.primaryFound
        ? `${chain.record.variant} variant of ${chain.record.primary.digest} (record signed by ${chain.signer.subject}); ${inherited.length} trusted attestation(s) of the primary apply`
        : `${chain.record.variant} variant of ${chain.record.primary.digest}, which is not in ${store.location}`,
    });

  // Manifest and config only (no model file), read once for the rules that need them. A
  // variant's scans and SBOMs are its primary's (inherited above): they name the primary's layers.
  const described = chain?.primaryFound ? chain.primary : subject;
  let factsRead: Promise<ArtifactFacts> | undefined;
  const artifactFacts = (): Promise<ArtifactFacts> =>
    (factsRead ??= collectArtifactFacts(store, described, options.reference, { smallFiles: false }));

  const scanReq = policy.require.scan;
  if (scanReq) {
    const scans = trusted.filter((t) => t.predicateType === SCAN_PREDICATE_TYPE);
    const problems: string[] = [];
    const scanners = new Set<string>();
    let files = 0;
    // Every trusted scan must pass: a later, stricter scanner saying "unsafe" is not outvoted.
    for (const t of scans) {
      try {
        const p = parseScanPredicate(t.statement.predicate, 'a trusted scan attestation');
        scanners.add(`${p.scanner.name} ${p.scanner.version}`);
        files = Math.max(files, p.files.length);
        const missing = unscannedLayers(p, await artifactFacts());
        if (missing.length) problems.push(`not scanned: ${missing.join(', ')}`);
        problems.push(...failingFiles(p, scanReq));
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    const denied = [...new Set([...scanReq.deny, ...(scanReq.allowUnknownFormats ? [] : ['unknown-format'])])];
    checks.push({
      rule: 'require.scan',
      ok: scans.length > 0 && problems.length === 0,
      detail: !scans.length
        ? 'no trusted model scan attestation'
        : problems.length
          ? [...new Set(problems)].join('; ')
          : `${scans.length} trusted scan(s) (${[...scanners].join(', ')}) of ${files} file(s): none ${denied.join(' or ') || 'denied'}`,
    });
  }

  for (const format of policy.require.sbom ?? []) {
    const type = SBOM_PREDICATE_TYPES[format];
    const sboms = trusted.filter((t) => t.predicateType === type);
    const layers = sboms.length ? (await artifactFacts()).layers.map((l) => l.digest) : [];
    const problems = sboms.map((t) => sbomProblems(format, t.statement.predicate, described.digest, layers));
    const ok = problems.some((p) => p.length === 0);
    checks.push({
      rule: 'require.sbom',
      ok,
      detail: !sboms.length
        ? `${format}: no trusted SBOM attestation (${type})`
        : ok
          ? `${format}: a trusted SBOM describes this artifact and its ${layers.length} layer(s)`
          : `${format}: ${[...new Set(problems.flat())].join('; ')}`,
    });
  }

  const licReq = policy.require.licenses;
  const artReq = policy.require.artifact;
  const modelPack = licReq || artReq ? await isModelPack(store, subject) : true;
  if ((licReq || artReq) && !modelPack && !chain?.primaryFound) {
    // An image (a modelcar) has no model metadata of its own; only a trusted record naming its
    // primary can say what it is.
    const detail = `${subject.digest} is not a ModelPack artifact and no trusted variant record names its primary`;
    if (licReq) checks.push({ rule: 'require.licenses', ok: false, detail });
    if (artReq) checks.push({ rule: 'require.artifact', ok: false, detail });
  } else if (licReq || artReq) {
    // A modelcar has an image config: the model's metadata is its primary's.
    const factsOf = !modelPack && chain ? chain.primary : subject;
    const facts = await collectArtifactFacts(store, factsOf, options.reference, { smallFiles: false });
    if (licReq) {
      // SPDX-aware, normalised, case-insensitive; an unparsable expression fails (policy/licenses.ts).
      const declared = ((facts.config['descriptor'] ?? {}) as { licenses?: unknown }).licenses;
      checks.push({ rule: 'require.licenses', ...evaluateLicenses(declared, licReq) });
    }
    if (artReq) {
      const family = isModelManifestArtifactType(facts.manifest.artifactType)
        ? facts.manifest.artifactType.split('.')[1]
        : undefined;
      if (artReq.identifiers.length)
        checks.push({
          rule: 'require.artifact.identifiers',
          ok: family !== undefined && (artReq.identifiers as string[]).includes(family),
          detail: `identifier family ${family ?? '(not a ModelPack manifest)'}; allowed ${artReq.identifiers.join(', ')}`,
        });
      if (artReq.maxLayerBytes !== undefined) {
        const big = facts.layers.filter((l) => l.size > artReq.maxLayerBytes!);
        checks.push({
          rule: 'require.artifact.maxLayerBytes',
          ok: big.length === 0,
          detail: big.length
            ? `layers over ${artReq.maxLayerBytes} bytes: ${big.map((l) => l.path).join(', ')}`
            : `every layer ≤ ${artReq.maxLayerBytes} bytes`,
        });
      }
    }
  }

  if (options.verifyFilesDir) {
    const manifests = trusted.filter((t) => t.predicateType === FILES_PREDICATE_TYPE);
    if (!manifests.length) {
      checks.push({
        rule: 'verify-files',
        ok: false,
        detail: 'no trusted per-file manifest attestation to check against',
      });
    } else {
      const v = await verifyFilesAgainstManifest(options.verifyFilesDir, manifests[0]!.statement.predicate);
      const problems = [
        v.mismatched.length ? `modified: ${v.mismatched.join(', ')}` : '',
        v.missing.length ? `missing: ${v.missing.join(', ')}` : '',
        v.extra.length ? `not signed: ${v.extra.join(', ')}` : '',
      ].filter(Boolean);
      checks.push({
        rule: 'verify-files',
        ok: v.ok,
        detail: v.ok ? `every file in ${options.verifyFilesDir} matches the signed manifest` : problems.join('; '),
      });
    }
  }

  return {
    ok: checks.every((c) => c.ok),
    subject,
    policy: { source: policy.source, digest: policy.digest },
    bundles,
    checks,
    ...(chain
      ? {
          variant: {
            name: chain.record.variant,
            primary: chain.record.primary.digest,
            recordSigner: chain.signer.subject,
            primaryBundles: chain.primaryReports,
          },
        }
      : {}),
  };
}

interface TrustedStatement {
  statement: InTotoStatement;
  predicateType: string;
  signer: VerifiedSigner;
}

interface BundleCheckContext {
  /** Sigstore trust material; none when the policy trusts Notation signers only. */
  trust: Awaited<ReturnType<typeof trustMaterial>> | undefined;
  policy: Policy;
  hints: Map<number, string>;
  requireTlog: boolean;
}

/** Every bundle attached to `subject`, verified; the ones by signers the policy trusts. */
async function verifyBundlesOf(
  store: ReadOnlyStore,
  subject: Descriptor,
  ctx: BundleCheckContext,
): Promise<{ reports: BundleReport[]; trusted: TrustedStatement[]; others: DiscoveryResult['others'] }> {
  const discovery = await discoverReferrers(store, subject);
  const reports: BundleReport[] = discovery.rejected.map((r) => ({
    referrer: r.referrer.digest,
    bundle: r.bundleDigest ?? '',
    verified: false,
    trusted: false,
    reason: r.reason,
  }));
  const trusted: TrustedStatement[] = [];
  for (const d of discovery.bundles) {
    const v: VerifiedBundle = ctx.trust
      ? verifyBundle(d.bundle, subject.digest, ctx.trust, { requireTlog: ctx.requireTlog })
      : { ok: false, reason: 'a Sigstore bundle, but the policy names notation signers only' };
    if (!v.ok) {
      reports.push({
        referrer: d.referrer.digest,
        bundle: d.bundleDigest,
        verified: false,
        trusted: false,
        reason: v.reason,
      });
      continue;
    }
    const match = matchSigner(v.signer, ctx.policy.signers, ctx.hints);
    reports.push({
      referrer: d.referrer.digest,
      bundle: d.bundleDigest,
      predicateType: v.predicateType,
      verified: true,
      trusted: match !== undefined,
      signer: v.signer,
      ...(match
        ? { matchedSignerLine: match.line }
        : { reason: `signer ${v.signer.subject} is not trusted by the policy` }),
    });
    if (match) trusted.push({ statement: v.statement, predicateType: v.predicateType, signer: v.signer });
  }
  return { reports, trusted, others: discovery.others };
}

interface VariantChain {
  record: VariantPredicate;
  signer: VerifiedSigner;
  primary: Descriptor;
  primaryFound: boolean;
  primaryTrusted: TrustedStatement[];
  primaryReports: BundleReport[];
}

/** The first trusted variant record of `subject`, followed to its primary in the same store. */
async function followVariantRecord(
  store: ReadOnlyStore,
  subject: Descriptor,
  trusted: TrustedStatement[],
  ctx: BundleCheckContext,
): Promise<VariantChain | undefined> {
  for (const t of trusted) {
    if (t.predicateType !== VARIANT_PREDICATE_TYPE) continue;
    const record = parseVariantPredicate(t.statement.predicate);
    if (!record || record.primary.digest === subject.digest) continue;
    let primary: Descriptor;
    try {
      primary = await store.resolve(record.primary.digest);
    } catch (e) {
      if (isModelshipError(e) && e.code === 'NOT_FOUND')
        return {
          record,
          signer: t.signer,
          primary: { mediaType: record.primary.mediaType, digest: record.primary.digest, size: record.primary.size },
          primaryFound: false,
          primaryTrusted: [],
          primaryReports: [],
        };
      throw e;
    }
    const of = await verifyBundlesOf(store, primary, ctx);
    return {
      record,
      signer: t.signer,
      primary,
      primaryFound: true,
      primaryTrusted: of.trusted,
      primaryReports: of.reports,
    };
  }
  return undefined;
}

async function isModelPack(store: ReadOnlyStore, desc: Descriptor): Promise<boolean> {
  if (isIndexMediaType(desc.mediaType)) return false;
  const summary = summarizeManifest(await store.fetchBytes(desc));
  return isModelConfigMediaType(summary?.effectiveArtifactType) || isModelManifestArtifactType(summary?.artifactType);
}
