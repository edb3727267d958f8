import * as core from '@actions/core';
import { escapeHtml, listInput, registryInputs, runAction, secretInput, signingInputs } from '@modelship/action-common';
import {
  ATTESTATION_KINDS,
  ModelshipError,
  attestArtifact,
  gitHubTargetFromEnv,
  openTarget,
  signingSetup,
  type AttestationKind,
  type CustomPredicate,
} from '@modelship/core';

interface MofSummary {
  components?: { name: string; status?: string; license?: string; location?: string }[];
  evaluation?: { class?: number; label?: string; reasons?: string[] };
}

export async function run(): Promise<void> {
  await runAction(async () => {
    const signing = signingInputs();
    const reference = core.getInput('reference', { required: true });
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
    const modelDir = core.getInput('model-dir');
    const githubToken = secretInput('github-token');
    const github = core.getBooleanInput('github-upload') ? gitHubTargetFromEnv(process.env, githubToken) : undefined;
    if (core.getBooleanInput('github-upload') && !github)
      throw new ModelshipError('USAGE', 'github-upload needs a github-token and GITHUB_REPOSITORY');

    const target = await openTarget(reference, { registry: registryInputs() });
    try {
      if (!target.reference)
        throw new ModelshipError('USAGE', `input reference "${reference}" names no tag or digest`, {
          hint: 'use HOST/REPO@sha256:... (e.g. the digest output of the pack step)',
        });
      const result = await attestArtifact({
        store: target.store,
        reference: target.reference,
        name: target.base,
        setup: await signingSetup(signing),
        kinds: kinds as AttestationKind[],
        custom,
        ...(mofOverrides ? { mofOverridesPath: mofOverrides } : {}),
        ...(modelDir ? { modelDir } : {}),
        ...(github ? { github } : {}),
      });
      const list = result.attestations.map((a) => ({
        kind: a.kind,
        predicateType: a.predicateType,
        referrerDigest: a.signed.referrer.digest,
        bundleDigest: a.signed.bundleDescriptor.digest,
      }));
      core.setOutput('digest', result.facts.descriptor.digest);
      core.setOutput('attestations', JSON.stringify(list));
      const mof = result.attestations.find((a) => a.kind === 'mof')?.predicate as MofSummary | undefined;
      core.setOutput('mof-class', mof?.evaluation?.class !== undefined ? String(mof.evaluation.class) : '');
      core.setOutput(
        'provenance-referrer-digest',
        result.attestations.find((a) => a.kind === 'slsa')?.signed.referrer.digest ?? '',
      );
      for (const a of list) core.info(`${a.predicateType}: referrer ${a.referrerDigest}`);

      const summary = core.summary
        .addHeading('modelship attest', 3)
        .addRaw(`<p>Subject <code>${escapeHtml(target.base)}@${result.facts.descriptor.digest}</code></p>`)
        .addTable([
          [
            { data: 'Predicate type', header: true },
            { data: 'Signer', header: true },
            { data: 'Referrer', header: true },
          ],
          ...result.attestations.map((a) => [
            escapeHtml(a.predicateType),
            escapeHtml(a.signed.identity.subject),
            `<code>${a.signed.referrer.digest}</code>`,
          ]),
        ]);
      if (mof) {
        summary.addHeading(`MOF: ${escapeHtml(mof.evaluation?.label ?? `class ${mof.evaluation?.class ?? '?'}`)}`, 4);
        summary.addTable([
          [
            { data: 'Component', header: true },
            { data: 'Status', header: true },
            { data: 'Licence', header: true },
            { data: 'Location', header: true },
          ],
          ...(mof.components ?? []).map((c) => [
            escapeHtml(c.name),
            escapeHtml(c.status ?? ''),
            escapeHtml(c.license ?? ''),
            escapeHtml(c.location ?? ''),
          ]),
        ]);
        if (mof.evaluation?.reasons?.length) summary.addList(mof.evaluation.reasons.map(escapeHtml));
      }
      await summary.write();
    } finally {
      await target.store.close();
    }
  });
}
