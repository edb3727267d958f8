import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  ATTESTATION_KINDS,
  MODELSHIP_VERSION,
  ModelshipError,
  attestArtifact,
  customPredicates,
  gitHubTargetFromEnv,
  parseAttestationKinds,
  parseSbomFormats,
  SCAN_PREDICATE_TYPE,
  withSubject,
  type ScanPredicate,
  type AttestResult,
} from '@modelship/core';
import { safe, type CliIO, printResult } from '../io.js';
import { renderScan } from '../scan-output.js';
import {
  addSignerOptions,
  collect,
  registryAccessFromFlags,
  signingSetupFromFlags,
  type SignerFlags,
} from '../options.js';

interface AttestFlags extends SignerFlags {
  type: string;
  predicateType?: string;
  predicate?: string;
  mofOverrides?: string;
  modelDir?: string;
  sbomFormat: string;
  scanReport?: string;
  modelCard?: string;
  datasetCard?: string[];
  githubUpload?: boolean;
  variants: boolean;
  json?: boolean;
}

export function registerAttest(program: Command, io: CliIO): void {
  const cmd = program
    .command('attest')
    .description(
      'attach signed attestations (SLSA provenance, MOF openness, per-file digests, SBOM, security scan, custom) as OCI referrers',
    )
    .argument('<reference>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .option('--type <types>', `comma-separated: ${ATTESTATION_KINDS.join(', ')}`, 'slsa,mof')
    .option('--predicate-type <uri>', 'custom predicate type (with --predicate)')
    .option('--predicate <file>', 'custom predicate JSON file (with --predicate-type)')
    .option('--mof-overrides <file>', 'MOT-format YAML overriding the derived MOF components')
    .option(
      '--sbom-format <formats>',
      'for --type sbom, comma-separated: cyclonedx (CycloneDX 1.6), spdx (SPDX 3.0.1)',
      'cyclonedx',
    )
    .option(
      '--model-card <file>',
      'attach this model card (a card referrer) before attesting, for an artifact without README.md',
    )
    .option('--dataset-card <file>', 'derive a data card from this dataset card and attach it (repeatable)', collect)
    .option(
      '--scan-report <file>',
      'for --type scan: the scan pack --scan-output wrote (else every layer is read and scanned)',
    )
    .option(
      '--model-dir <dir>',
      'the model directory, checked against the artifact before signing (needed for per-file digests of tar layers)',
    )
    .option(
      '--github-upload',
      "also store each bundle with GitHub's attestations API (GITHUB_TOKEN or GH_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL)",
    )
    .option(
      '--no-variants',
      'attest only this digest, not its variants (by default each linked variant is checked and attested too)',
    )
    .option('--json', 'print the result as JSON');
  addSignerOptions(cmd).action(async (reference: string, flags: AttestFlags) => {
    const r = await runAttest(reference, flags, io);
    printResult(io, flags.json, r);
  });
}

async function runAttest(reference: string, flags: AttestFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  const custom = customPredicates(flags.predicateType, flags.predicate, {
    type: '--predicate-type',
    path: '--predicate',
  });
  const kinds =
    flags.type === '' || flags.type === 'none' ? [] : parseAttestationKinds(flags.type.split(','), '--type');
  const github = flags.githubUpload ? gitHubTargetFromEnv(io.env) : undefined;
  if (flags.githubUpload && !github)
    throw new ModelshipError('USAGE', '--github-upload needs GITHUB_TOKEN (or GH_TOKEN) and GITHUB_REPOSITORY', {
      hint: 'in a workflow these come from the runner; locally export them',
    });
  const registry = await registryAccessFromFlags(flags, io);
  return withSubject(reference, 'reference', registry, async (s) => {
    const setup = await signingSetupFromFlags(flags, io);
    const result = await attestArtifact({
      ...s,
      setup,
      kinds,
      custom,
      ...(flags.mofOverrides ? { mofOverridesPath: flags.mofOverrides } : {}),
      ...(flags.modelDir ? { modelDir: resolve(flags.modelDir) } : {}),
      sbomFormats: parseSbomFormats(flags.sbomFormat.split(','), '--sbom-format'),
      ...(flags.scanReport ? { scanReportPath: flags.scanReport } : {}),
      ...(flags.modelCard ? { modelCardPath: flags.modelCard } : {}),
      ...(flags.datasetCard ? { datasetCardPaths: flags.datasetCard } : {}),
      env: io.env,
      version: MODELSHIP_VERSION,
      ...(github ? { github } : {}),
      ...(flags.variants ? {} : { variants: false }),
    });
    for (const k of result.skippedVariants)
      io.err(safe`warning: not attesting linked ${k.name} variant ${k.digest}: ${k.reason}\n`);
    return { text: render(result), json: toJson(result) };
  });
}

function mofClass(r: AttestResult): string | undefined {
  const mof = r.attestations.find((a) => a.kind === 'mof');
  const ev = mof?.predicate['evaluation'] as { label?: string; class?: number } | undefined;
  return ev ? (ev.label ?? `class ${ev.class}`) : undefined;
}

function render(r: AttestResult): string {
  const lines = [safe`attested ${r.facts.name}@${r.facts.descriptor.digest}`];
  for (const a of r.attestations)
    lines.push(safe`  ${a.predicateType}: referrer ${a.signed.referrer.digest} (signer ${a.signed.identity.subject})`);
  if (r.cards) lines.push(safe`  cards: referrer ${r.cards.referrer.digest} (${r.cards.names.join(', ')})`);
  const mof = mofClass(r);
  if (mof) lines.push(safe`MOF: ${mof}`);
  for (const v of r.variants)
    lines.push(
      safe`attested ${v.name} variant ${r.facts.name}@${v.descriptor.digest}: ${v.attestations.length} attestation(s)`,
    );
  const scan = r.attestations.find((a) => a.predicateType === SCAN_PREDICATE_TYPE);
  return lines.join('\n') + '\n' + (scan ? `\n${renderScan(scan.predicate as unknown as ScanPredicate)}` : '');
}

function toJson(r: AttestResult): unknown {
  return {
    reference: `${r.facts.name}@${r.facts.descriptor.digest}`,
    digest: r.facts.descriptor.digest,
    ...(r.cards ? { cards: { referrerDigest: r.cards.referrer.digest, names: r.cards.names } } : {}),
    attestations: r.attestations.map((a) => ({
      kind: a.kind,
      predicateType: a.predicateType,
      referrerDigest: a.signed.referrer.digest,
      bundleDigest: a.signed.bundleDescriptor.digest,
      signer: a.signed.identity,
      ...(a.githubId !== undefined ? { githubAttestationId: a.githubId } : {}),
      ...(a.kind === 'mof' ? { evaluation: a.predicate['evaluation'] } : {}),
      ...(a.kind === 'scan' ? { scan: a.predicate } : {}),
    })),
    variants: r.variants.map((v) => ({
      name: v.name,
      digest: v.descriptor.digest,
      reference: `${r.facts.name}@${v.descriptor.digest}`,
      attestations: v.attestations.map((a) => ({
        kind: a.kind,
        predicateType: a.predicateType,
        referrerDigest: a.signed.referrer.digest,
        bundleDigest: a.signed.bundleDescriptor.digest,
      })),
    })),
    skippedVariants: r.skippedVariants,
  };
}
