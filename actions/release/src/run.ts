import * as core from '@actions/core';
import {
  addAttestSummary,
  addPackSummary,
  addSignSummary,
  attestInputs,
  keyValueInput,
  packInputs,
  packRuntime,
  registryInputs,
  setAttestOutputs,
  setPackOutputs,
  setSignOutputs,
  showSummaryInput,
  signingInputs,
  type ActionContext,
  type AttestInputs,
  type PackInputs,
} from '@modelship/action-common';
import {
  MODELSHIP_VERSION,
  attestArtifact,
  openTarget,
  pack,
  safe,
  signArtifact,
  signingSetup,
  type RegistryAccess,
  type SigningOptions,
} from '@modelship/core';

export interface Inputs {
  signing: SigningOptions;
  registry: RegistryAccess;
  pack: PackInputs;
  attest: AttestInputs;
  annotations: Record<string, string>;
  sign: boolean;
  bundleOut?: string;
  showSummary: boolean;
}

/** Reads the release action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const signing = signingInputs();
  const registry = registryInputs();
  const packed = packInputs();
  const attest = attestInputs();
  const annotations = keyValueInput('annotations');
  const bundleOut = core.getInput('bundle-out');
  return {
    signing,
    registry,
    pack: packed,
    attest,
    annotations,
    sign: core.getBooleanInput('sign'),
    ...(bundleOut ? { bundleOut } : {}),
    showSummary: showSummaryInput(),
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const p = inputs.pack;
  // Keyless problems that need no network (no id-token permission, bad URLs) surface here,
  // before anything is packed or pushed.
  const setup = await signingSetup(inputs.signing);

  const target = await openTarget(p.target, { create: true, registry: inputs.registry });
  try {
    const tags = p.tags.length ? p.tags : [target.reference ?? 'latest'];
    const result = await pack({
      dir: p.dir,
      target: target.store,
      tags,
      ...p.options,
      ...(await packRuntime(p, ctx)),
    });
    const digest = result.descriptor.digest;
    const reference = `${target.base}:${tags[0]}`;
    await setPackOutputs(ctx, target, result, reference);
    ctx.setOutput('pinned-reference', `${target.base}@${digest}`);
    ctx.info(safe`packed ${p.dir} -> ${reference}`);
    ctx.info(safe`digest: ${digest}`);
    addPackSummary(ctx.summary, result, reference, 'modelship release: pack');

    let signer = '';
    if (inputs.attest.kinds.length || inputs.attest.custom?.length) {
      const attested = await attestArtifact({
        store: target.store,
        reference: digest,
        name: target.base,
        setup,
        ...inputs.attest,
        modelDir: p.dir,
        version: MODELSHIP_VERSION,
      });
      setAttestOutputs(ctx, attested);
      addAttestSummary(ctx.summary, attested, target.base, 'modelship release: attest');
      signer = attested.attestations[0]?.signed.identity.subject ?? '';
    } else {
      setAttestOutputs(ctx, { attestations: [] });
    }

    if (inputs.sign) {
      const signed = await signArtifact({
        store: target.store,
        reference: digest,
        name: target.base,
        setup,
        annotations: inputs.annotations,
      });
      await setSignOutputs(ctx, signed, target.base, inputs.bundleOut);
      addSignSummary(ctx.summary, signed, target.base, 'modelship release: sign');
      signer = signed.identity.subject;
    } else {
      for (const name of ['bundle-digest', 'referrer-digest', 'bundle-path']) ctx.setOutput(name, '');
    }
    ctx.setOutput('signer-identity', signer);
    await ctx.summary.write();
  } finally {
    await target.store.close();
  }
}
