import * as core from '@actions/core';
import {
  addAttestSummary,
  addSignSummary,
  attestInputs,
  booleanInput,
  keyValueInput,
  packInputs,
  packStep,
  registryInputs,
  setAttestOutputs,
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
  safe,
  signWithVariants,
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
    sign: booleanInput('sign', true),
    ...(bundleOut ? { bundleOut } : {}),
    showSummary: showSummaryInput(),
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const p = inputs.pack;
  // Keyless problems that need no network (no id-token permission, bad URLs) surface here,
  // before anything is packed or pushed.
  const setup = await signingSetup(inputs.signing);

  // A scan attestation is made from the scan pack runs on its one read of the files.
  const scanning = inputs.attest.kinds.includes('scan');
  const packed = scanning ? { ...p, options: { ...p.options, securityScan: true } } : p;
  await packStep(packed, inputs.registry, ctx, 'modelship release: pack', async ({ store, base, result }) => {
    const digest = result.descriptor.digest;
    ctx.setOutput('pinned-reference', `${base}@${digest}`);
    // The variants pack just built: attested and signed with the primary, each given its
    // variant record (by the sign step, or by the attest step when the release does not sign).
    const variants = result.variants;

    let signer = '';
    if (inputs.attest.kinds.length || inputs.attest.custom?.length) {
      const attested = await attestArtifact({
        store,
        reference: digest,
        name: base,
        setup,
        ...inputs.attest,
        ...(scanning && result.securityScan
          ? { scanReport: { predicate: result.securityScan, source: 'the scan made while packing' } }
          : {}),
        modelDir: p.dir,
        version: MODELSHIP_VERSION,
        variants,
        recordVariants: !inputs.sign,
      });
      setAttestOutputs(ctx, attested);
      addAttestSummary(ctx.summary, attested, base, 'modelship release: attest');
      signer = attested.attestations[0]?.signed.identity.subject ?? '';
    } else {
      setAttestOutputs(ctx, { attestations: [] });
    }

    if (inputs.sign) {
      const all = await signWithVariants({
        store,
        reference: digest,
        name: base,
        setup,
        annotations: inputs.annotations,
        variants,
        version: MODELSHIP_VERSION,
      });
      const signed = all.primary;
      await setSignOutputs(ctx, signed, base, inputs.bundleOut);
      addSignSummary(ctx.summary, signed, base, 'modelship release: sign');
      for (const v of all.variants)
        ctx.info(
          safe`signed ${v.name} variant ${base}@${v.descriptor.digest}; variant record ${v.record.referrer.digest}`,
        );
      signer = signed.identity.subject;
    } else {
      for (const name of ['bundle-digest', 'referrer-digest', 'bundle-path']) ctx.setOutput(name, '');
    }
    ctx.setOutput('signer-identity', signer);
  });
  await ctx.summary.write();
}
