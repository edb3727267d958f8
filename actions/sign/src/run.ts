import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as core from '@actions/core';
import {
  addSignSummary,
  choiceInput,
  keyValueInput,
  setSignOutputs,
  showSummaryInput,
  subjectInputs,
  type ActionContext,
  type SubjectInputs,
} from '@modelship/action-common';
import {
  MODELSHIP_VERSION,
  SIGNATURE_FORMATS,
  checkSignatureFormat,
  digestHex,
  keySourceFrom,
  parseExpiry,
  safe,
  safeHtml,
  signNotation,
  signWithVariants,
  signingSetup,
  untrustedHtml,
  withSubject,
  type KeySource,
  type SignatureFormat,
} from '@modelship/core';

export interface Inputs extends SubjectInputs {
  annotations: Record<string, string>;
  bundleOut?: string;
  showSummary: boolean;
  /** Default sigstore. */
  format?: SignatureFormat;
  /** Notation: the certificate chain of the key, and the signed expiry. */
  notation?: { certChain: KeySource; expirySeconds?: number };
}

/** Reads the sign action's inputs (secrets are masked by runAction before this). */
export function readInputs(): Inputs {
  const subject = subjectInputs();
  const annotations = keyValueInput('annotations');
  const bundleOut = core.getInput('bundle-out');
  const format = core.getInput('format') ? choiceInput('format', SIGNATURE_FORMATS) : 'sigstore';
  const cert = core.getInput('cert');
  const expiry = core.getInput('expiry');
  const s = subject.signing;
  const sigstoreSettings = (
    [
      ['input identity-token', s.identityToken],
      ['input fulcio-url', s.fulcioURL],
      ['input rekor-url', s.rekorURL],
      ['input tsa-url', s.tsaURL],
      ['input tlog', s.tlog],
      ['input rekor-entry-type', s.rekorEntryType],
    ] as const
  )
    .filter(([, v]) => v !== undefined)
    .map(([label]) => label);
  checkSignatureFormat({ format, key: !!s.key, cert: !!cert, expiry: !!expiry, sigstoreSettings });
  return {
    ...subject,
    annotations,
    ...(bundleOut ? { bundleOut } : {}),
    showSummary: showSummaryInput(),
    format,
    ...(format === 'notation'
      ? {
          notation: {
            certChain: keySourceFrom(cert, process.env, 'cert'),
            ...(expiry ? { expirySeconds: parseExpiry(expiry, 'input expiry') } : {}),
          },
        }
      : {}),
  };
}

export async function run(inputs: Inputs, ctx: ActionContext): Promise<void> {
  if (inputs.format === 'notation') return runNotation(inputs, ctx);
  await withSubject(inputs.reference, 'input reference', inputs.registry, async (s) => {
    const setup = await signingSetup(inputs.signing);
    const all = await signWithVariants({ ...s, setup, annotations: inputs.annotations, version: MODELSHIP_VERSION });
    const r = all.primary;
    ctx.setOutput('digest', r.subject.digest);
    // Each variant linked to it (and checked) is signed too, with its variant record.
    ctx.setOutput(
      'variants',
      JSON.stringify(
        all.variants.map((v) => ({
          name: v.name,
          digest: v.descriptor.digest,
          reference: `${s.name}@${v.descriptor.digest}`,
          referrerDigest: v.signature.referrer.digest,
          recordDigest: v.record.referrer.digest,
        })),
      ),
    );
    for (const k of all.skipped) ctx.warning(safe`not signing linked ${k.name} variant ${k.digest}: ${k.reason}`);
    await setSignOutputs(ctx, r, s.name, inputs.bundleOut);
    addSignSummary(ctx.summary, r, s.name);
    await ctx.summary.write();
  });
}

/** A Notation signature: the outputs sign writes (bundle-* name the JWS envelope) and one summary table. */
async function runNotation(inputs: Inputs, ctx: ActionContext): Promise<void> {
  const { key, keyPassword } = inputs.signing;
  if (!key || !inputs.notation)
    checkSignatureFormat({
      format: 'notation',
      key: !!key,
      cert: !!inputs.notation,
      expiry: false,
      sigstoreSettings: [],
    });
  await withSubject(inputs.reference, 'input reference', inputs.registry, async (s) => {
    const r = await signNotation({
      store: s.store,
      reference: s.reference,
      key: key!,
      ...(keyPassword ? { keyPassword } : {}),
      certChain: inputs.notation!.certChain,
      ...(inputs.notation!.expirySeconds !== undefined ? { expirySeconds: inputs.notation!.expirySeconds } : {}),
      annotations: inputs.annotations,
    });
    const path = inputs.bundleOut || join(ctx.tempDir, `${digestHex(r.envelopeDescriptor.digest)}.jws`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, r.envelopeBytes);
    ctx.setOutput('digest', r.subject.digest);
    ctx.setOutput('bundle-digest', r.envelopeDescriptor.digest);
    ctx.setOutput('referrer-digest', r.referrer.digest);
    ctx.setOutput('signer-identity', r.signer.subject);
    ctx.setOutput('bundle-path', path);
    ctx.info(safe`signed ${s.name}@${r.subject.digest} (Notation, ${r.alg}) as ${r.signer.subject}`);
    ctx.summary.addHeading('modelship sign (Notation)', 3).addTable([
      [
        { data: 'Artifact', header: true },
        { data: 'Signer', header: true },
        { data: 'Issuer', header: true },
        { data: 'Algorithm', header: true },
        { data: 'Expiry', header: true },
        { data: 'Referrer', header: true },
      ],
      [
        safeHtml`<code>${s.name}@${r.subject.digest}</code>`,
        untrustedHtml(r.signer.subject),
        untrustedHtml(r.signer.issuer),
        r.alg,
        r.expiry ?? 'none',
        safeHtml`<code>${r.referrer.digest}</code>`,
      ],
    ]);
    await ctx.summary.write();
  });
}
