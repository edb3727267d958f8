import { readFile } from 'node:fs/promises';
import { ModelshipError, opt } from '../errors.js';
import { signArtifact, type SignResult } from '../sign/sign.js';
import { buildStatement } from '../sign/statement.js';
import { layoutSubjectName } from '../sign/subject-name.js';
import type { SigningSetup } from '../sign/types.js';
import type { Descriptor } from '../oci.js';
import type { ContentStore } from '../store.js';
import type { VariantName } from '../variants/link.js';
import { recordVariant, variantsToCover, type CoveredVariant, type SkippedVariant } from '../variants/record.js';
import { attachCards, cardFiles, readCardsInput, withCards, type CardsInput } from './cards.js';
import { collectArtifactFacts, type ArtifactFacts } from './facts.js';
import { uploadAttestationToGitHub, type GitHubAttestationTarget } from './github.js';
import { FILES_PREDICATE_TYPE, buildFileManifestPredicate } from './files.js';
import { MOF_PREDICATE_TYPE, buildMofPredicate, parseMofOverrides, type MofPredicate } from './mof/index.js';
import { SLSA_PROVENANCE_V1, buildProvenancePredicate } from './provenance.js';
import { SBOM_PREDICATE_TYPES, buildSbom, sbomModel, type SbomFormat } from './sbom/index.js';
import { scanArtifactLayers } from '../scan/local.js';
import { SCAN_PREDICATE_TYPE, buildScanPredicate, checkScanFor } from '../scan/predicate.js';

export type AttestationKind = 'slsa' | 'mof' | 'files' | 'sbom' | 'scan';
export const ATTESTATION_KINDS: readonly AttestationKind[] = ['slsa', 'mof', 'files', 'sbom', 'scan'];

export interface CustomPredicate {
  predicateType: string;
  /** Path of a JSON file holding the predicate (SBOM, eval results, ...). */
  path: string;
}

export interface AttestOptions {
  store: ContentStore;
  /** Tag or digest of the manifest, in `store`. */
  reference: string;
  /** Where the artifact is, `host/repo` or `oci:DIR`; the statement subject is named after it (sign/subject-name.ts). */
  name: string;
  setup: SigningSetup;
  kinds: AttestationKind[];
  custom?: CustomPredicate[];
  /** MOT-format YAML overriding the derived MOF components. */
  mofOverridesPath?: string;
  /**
   * The model directory, for per-file digests of tar layers; checked against the artifact
   * (INVALID naming missing, extra and different files) before anything is signed.
   */
  modelDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Also store each bundle with GitHub's attestations API. */
  github?: GitHubAttestationTarget;
  /** modelship version, recorded as builder.version in local provenance. */
  version?: string;
  /**
   * The variants to attest with it, each predicate signed once more with the variant as
   * subject: the ones given (built in this run), by default those linked to it and checked
   * (variants/record.ts); false for none.
   */
  variants?: CoveredVariant[] | false;
  /** Also sign each variant's record (sign does that; release asks attest to when it does not sign). */
  recordVariants?: boolean;
  /** SBOM formats for kind `sbom` (default cyclonedx); one attestation each. */
  sbomFormats?: SbomFormat[];
  /**
   * For kind `scan`: a scan already made of these files (`pack` with the security scan), so
   * nothing is read again; checked to name exactly the artifact's layers. Without it every
   * layer is read once from the store and scanned.
   */
  scanReport?: { predicate: unknown; source: string };
  /** The same, from a JSON file (what `pack` wrote). */
  scanReportPath?: string;
  /**
   * Model card and dataset cards to attach as a card referrer (attest/cards.ts) before the
   * attestations are signed; the MOF, SBOM and file facts see them as they will be.
   */
  cards?: CardsInput;
  /** The same, from files: a model card, and dataset cards to derive the data card from. */
  modelCardPath?: string;
  datasetCardPaths?: string[];
  /** Clock for the SBOM and scan timestamps (tests). */
  now?: () => Date;
}

export interface AttestedVariant {
  name: VariantName;
  descriptor: Descriptor;
  attestations: Attestation[];
  record?: SignResult;
}

export interface Attestation {
  kind: AttestationKind | 'custom';
  predicateType: string;
  predicate: Record<string, unknown>;
  signed: SignResult;
  /** GitHub attestation id, when uploaded. */
  githubId?: string;
}

export interface AttestResult {
  facts: ArtifactFacts;
  attestations: Attestation[];
  /** The same attestations about each variant. */
  variants: AttestedVariant[];
  skippedVariants: SkippedVariant[];
  /** The card referrer attached, and the cards in it. */
  cards?: { referrer: Descriptor; names: string[] };
}

async function readJsonFile(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ModelshipError('INPUT', `${what} ${path} is not a JSON object: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Builds every requested predicate about one artifact, then signs each as an in-toto statement
 * and attaches it as a referrer whose `dev.sigstore.bundle.predicateType` names it. All
 * predicates are built (and their inputs validated) before the first signature, so bad input
 * leaves the store untouched.
 */
export async function attestArtifact(options: AttestOptions): Promise<AttestResult> {
  const cardsInput =
    options.cards ??
    (options.modelCardPath || options.datasetCardPaths?.length
      ? await readCardsInput(options.modelCardPath, options.datasetCardPaths)
      : undefined);
  const cards = cardsInput ? cardFiles(cardsInput) : [];
  if (!options.kinds.length && !options.custom?.length && !cards.length)
    throw new ModelshipError('USAGE', 'nothing to attest', {
      hint: `name ${opt('type')} ${ATTESTATION_KINDS.join(',')} or ${opt('predicate')}`,
    });
  const subject = await options.store.resolve(options.reference);
  const facts = withCards(await collectArtifactFacts(options.store, subject, options.name), cards);

  const planned: Omit<Attestation, 'signed'>[] = [];
  for (const kind of options.kinds) {
    if (kind === 'slsa') {
      const { predicate } = await buildProvenancePredicate(facts, {
        ...(options.env ? { env: options.env } : {}),
        ...(options.version ? { version: options.version } : {}),
      });
      planned.push({ kind, predicateType: SLSA_PROVENANCE_V1, predicate });
    } else if (kind === 'mof') {
      const overrides = options.mofOverridesPath
        ? parseMofOverrides(await readText(options.mofOverridesPath, 'MOF overrides'), options.mofOverridesPath)
        : undefined;
      const predicate: MofPredicate = buildMofPredicate(
        facts,
        overrides ? { overrides, overridesSource: options.mofOverridesPath! } : {},
      );
      planned.push({
        kind,
        predicateType: MOF_PREDICATE_TYPE,
        predicate: predicate as unknown as Record<string, unknown>,
      });
    } else if (kind === 'sbom') {
      const model = await sbomModel(facts, options.modelDir ? { dir: options.modelDir, store: options.store } : {});
      for (const format of options.sbomFormats?.length ? options.sbomFormats : (['cyclonedx'] as const)) {
        const predicate = buildSbom(format, model, {
          ...(options.now ? { now: options.now() } : {}),
          tool: { name: 'modelship', version: options.version ?? '0' },
        });
        planned.push({ kind, predicateType: SBOM_PREDICATE_TYPES[format], predicate });
      }
    } else if (kind === 'scan') {
      const report =
        options.scanReport ??
        (options.scanReportPath
          ? { predicate: await readJsonFile(options.scanReportPath, 'scan report'), source: options.scanReportPath }
          : undefined);
      const predicate = report
        ? checkScanFor(report.predicate, facts, report.source)
        : buildScanPredicate(await scanArtifactLayers(options.store, facts), options.now?.());
      planned.push({
        kind,
        predicateType: SCAN_PREDICATE_TYPE,
        predicate: predicate as unknown as Record<string, unknown>,
      });
    } else if (kind === 'files') {
      // With a model directory, the directory is checked against the artifact here, before
      // anything is signed: a mismatching directory attaches nothing.
      const predicate = await buildFileManifestPredicate(
        facts,
        options.modelDir ? { dir: options.modelDir, store: options.store } : {},
      );
      planned.push({ kind, predicateType: FILES_PREDICATE_TYPE, predicate });
    } else {
      throw new ModelshipError('USAGE', `unknown attestation type "${String(kind)}"`, {
        hint: `use ${ATTESTATION_KINDS.join(', ')}, or ${opt('predicateType')} with ${opt('predicate')}`,
      });
    }
  }
  for (const c of options.custom ?? []) {
    if (!/^[a-z][a-z0-9+.-]*:/i.test(c.predicateType))
      throw new ModelshipError('USAGE', `predicate type "${c.predicateType}" is not a URI`, {
        hint: 'e.g. https://spdx.dev/Document or https://cyclonedx.org/bom',
      });
    planned.push({
      kind: 'custom',
      predicateType: c.predicateType,
      predicate: await readJsonFile(c.path, 'predicate'),
    });
  }

  // Every predicate was built from the cards as attached: attach them, then sign.
  const cardsReferrer = cards.length ? await attachCards(options.store, subject, cards) : undefined;
  // One subject name for every statement: from the config the facts already hold.
  const subjectName = options.store.localFiles ? layoutSubjectName(facts.config, options.name) : options.name;
  const signAll = async (digest: string): Promise<Attestation[]> => {
    const out: Attestation[] = [];
    for (const p of planned) {
      const signed = await signArtifact({
        store: options.store,
        reference: digest,
        name: options.name,
        subjectName,
        setup: options.setup,
        statement: (s, name) => buildStatement({ name, digest: s.digest }, p.predicateType, p.predicate),
      });
      const githubId = options.github ? await uploadAttestationToGitHub(signed.bundle, options.github) : undefined;
      out.push({ ...p, signed, ...(githubId !== undefined ? { githubId } : {}) });
    }
    return out;
  };
  const attestations = await signAll(subject.digest);
  // The model's facts speak for its variants (same files, other manifests): each variant gets
  // the same predicates with its own digest as subject, which is what admission controllers
  // checking the deployed digest look for.
  const { covered, skipped } =
    options.variants === false
      ? { covered: [], skipped: [] }
      : await variantsToCover(options.store, subject, options.variants);
  const variants: AttestedVariant[] = [];
  for (const v of covered) {
    const record = options.recordVariants
      ? await recordVariant({
          store: options.store,
          name: options.name,
          setup: options.setup,
          primary: subject,
          variant: v,
          ...(options.version ? { version: options.version } : {}),
        })
      : undefined;
    variants.push({
      name: v.name,
      descriptor: v.descriptor,
      attestations: await signAll(v.descriptor.digest),
      ...(record ? { record } : {}),
    });
  }
  return {
    facts,
    attestations,
    variants,
    skippedVariants: skipped,
    ...(cardsReferrer ? { cards: { referrer: cardsReferrer, names: cards.map((c) => c.name) } } : {}),
  };
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ModelshipError('INPUT', `cannot read ${what} ${path}: ${(e as Error).message}`, {
      cause: e,
      hint: 'check the path',
    });
  }
}
