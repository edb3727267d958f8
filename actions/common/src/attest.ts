import * as core from '@actions/core';
import {
  ATTESTATION_KINDS,
  ModelshipError,
  gitHubTargetFromEnv,
  type AttestOptions,
  type AttestResult,
  type AttestationKind,
  type CustomPredicate,
  safe,
  safeHtml,
  untrustedHtml,
} from '@modelship/core';
import { listInput, secretInput } from './index.js';

/** What the attest inputs (types, predicate-type/predicate, mof-overrides, github-upload) ask for. */
export type AttestInputs = Pick<AttestOptions, 'kinds' | 'custom' | 'mofOverridesPath' | 'github'>;

/** Reads and validates the attestation inputs shared by the attest and release actions. */
export function attestInputs(): AttestInputs {
  const kinds = listInput('types');
  for (const k of kinds)
    if (!(ATTESTATION_KINDS as readonly string[]).includes(k))
      throw new ModelshipError('USAGE', `input types: "${k}" is not one of ${ATTESTATION_KINDS.join(', ')}`);
  const predicateType = core.getInput('predicate-type');
  const predicatePath = core.getInput('predicate');
  if (!predicateType !== !predicatePath)
    throw new ModelshipError('USAGE', 'inputs predicate-type and predicate go together');
  const custom: CustomPredicate[] = predicateType ? [{ predicateType, path: predicatePath }] : [];
  const mofOverrides = core.getInput('mof-overrides');
  const githubToken = secretInput('github-token');
  const upload = core.getBooleanInput('github-upload');
  const github = upload ? gitHubTargetFromEnv(process.env, githubToken) : undefined;
  if (upload && !github) throw new ModelshipError('USAGE', 'github-upload needs a github-token and GITHUB_REPOSITORY');
  return {
    kinds: kinds as AttestationKind[],
    custom,
    ...(mofOverrides ? { mofOverridesPath: mofOverrides } : {}),
    ...(github ? { github } : {}),
  };
}

interface MofSummary {
  components?: { name: string; status?: string; license?: string; location?: string }[];
  evaluation?: { class?: number; label?: string; reasons?: string[] };
}

function mofOf(result: Pick<AttestResult, 'attestations'>): MofSummary | undefined {
  return result.attestations.find((a) => a.kind === 'mof')?.predicate as MofSummary | undefined;
}

/** Sets attestations, mof-class and provenance-referrer-digest (digest is the caller's). */
export function setAttestOutputs(result: Pick<AttestResult, 'attestations'>): void {
  const list = result.attestations.map((a) => ({
    kind: a.kind,
    predicateType: a.predicateType,
    referrerDigest: a.signed.referrer.digest,
    bundleDigest: a.signed.bundleDescriptor.digest,
  }));
  core.setOutput('attestations', JSON.stringify(list));
  const mof = mofOf(result);
  core.setOutput('mof-class', mof?.evaluation?.class !== undefined ? String(mof.evaluation.class) : '');
  core.setOutput(
    'provenance-referrer-digest',
    result.attestations.find((a) => a.kind === 'slsa')?.signed.referrer.digest ?? '',
  );
  for (const a of list) core.info(safe`${a.predicateType}: referrer ${a.referrerDigest}`);
}

/** Adds the attestation table and the MOF components to the job summary (the caller writes it). */
export function addAttestSummary(result: AttestResult, base: string, heading = 'modelship attest'): void {
  const summary = core.summary
    .addHeading(heading, 3)
    .addRaw(safeHtml`<p>Subject <code>${base}@${result.facts.descriptor.digest}</code></p>`)
    .addTable([
      [
        { data: 'Predicate type', header: true },
        { data: 'Signer', header: true },
        { data: 'Referrer', header: true },
      ],
      ...result.attestations.map((a) => [
        untrustedHtml(a.predicateType),
        untrustedHtml(a.signed.identity.subject),
        safeHtml`<code>${a.signed.referrer.digest}</code>`,
      ]),
    ]);
  const mof = mofOf(result);
  if (!mof) return;
  summary.addHeading(`MOF: ${untrustedHtml(mof.evaluation?.label ?? `class ${mof.evaluation?.class ?? '?'}`)}`, 4);
  summary.addTable([
    [
      { data: 'Component', header: true },
      { data: 'Status', header: true },
      { data: 'Licence', header: true },
      { data: 'Location', header: true },
    ],
    ...(mof.components ?? []).map((c) => [
      untrustedHtml(c.name),
      untrustedHtml(c.status ?? ''),
      untrustedHtml(c.license ?? ''),
      untrustedHtml(c.location ?? ''),
    ]),
  ]);
  if (mof.evaluation?.reasons?.length) summary.addList(mof.evaluation.reasons.map(untrustedHtml));
}
