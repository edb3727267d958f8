import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  MODELSHIP_VERSION,
  SIGNATURE_FORMATS,
  checkSignatureFormat,
  isDigest,
  keySourceFrom,
  parseChoice,
  parseExpiry,
  parseKeyValues,
  signNotation,
  signWithVariants,
  withSubject,
  type NotationSignResult,
  type SignResult,
  type SignWithVariantsResult,
} from '@modelship/core';
import { safe, type CliIO, printResult } from '../io.js';
import {
  addSignerOptions,
  collect,
  registryAccessFromFlags,
  signingSetupFromFlags,
  type SignerFlags,
} from '../options.js';

interface SignFlags extends SignerFlags {
  annotation?: string[];
  bundleOut?: string;
  variants: boolean;
  json?: boolean;
  format?: string;
  cert?: string;
  expiry?: string;
}

export function registerSign(program: Command, io: CliIO): void {
  const cmd = program
    .command('sign')
    .description(
      'sign an artifact with Sigstore (keyless via OIDC, or --key) or Notation (--format notation) and attach the signature as an OCI referrer',
    )
    .argument('<reference>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .option('-a, --annotation <key=value>', 'annotation on the signed subject (repeatable)', collect)
    .option('--bundle-out <file>', 'also write the bundle (.sigstore.json) or Notation envelope (.jws) to FILE')
    .option(
      '--format <format>',
      'signature format: sigstore (default) or notation (Notary Project, needs --key and --cert)',
    )
    .option('--cert <file>', 'notation: PEM certificate chain of --key (signing certificate, intermediates, root)')
    .option('--expiry <duration>', 'notation: signed expiry after the signing time, e.g. 90d, 12h (none by default)')
    .option(
      '--no-variants',
      'sign only this digest, not its variants (by default each linked variant is checked, signed and given its variant record)',
    )
    .option('--json', 'print the result as JSON');
  addSignerOptions(cmd).action(async (reference: string, flags: SignFlags) => {
    const r = await runSign(reference, flags, io);
    printResult(io, flags.json, r);
  });
}

/** The Sigstore-only flags given (a Notation signature takes none). */
function sigstoreFlags(flags: SignFlags): string[] {
  const set: [string, unknown][] = [
    ['--identity-token', flags.identityToken],
    ['--fulcio-url', flags.fulcioUrl],
    ['--rekor-url', flags.rekorUrl],
    ['--tsa-url', flags.tsaUrl],
    [flags.tlog ? '--tlog' : '--no-tlog', flags.tlog],
    ['--rekor-entry-type', flags.rekorEntryType],
  ];
  return set.filter(([, v]) => v !== undefined).map(([k]) => k);
}

async function runSign(reference: string, flags: SignFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  const annotations = parseKeyValues(flags.annotation, '--annotation');
  const format = parseChoice(flags.format ?? 'sigstore', SIGNATURE_FORMATS, '--format');
  checkSignatureFormat({
    format,
    key: flags.key !== undefined,
    cert: flags.cert !== undefined,
    expiry: flags.expiry !== undefined,
    sigstoreSettings: sigstoreFlags(flags),
  });
  if (format === 'notation') return runNotationSign(reference, flags, annotations, io);
  const registry = await registryAccessFromFlags(flags, io);
  return withSubject(reference, 'reference', registry, async (s, target) => {
    const setup = await signingSetupFromFlags(flags, io);
    const all = await signWithVariants({
      ...s,
      setup,
      annotations,
      version: MODELSHIP_VERSION,
      ...(flags.variants ? {} : { variants: false }),
    });
    const result = all.primary;
    if (flags.bundleOut) await writeFile(flags.bundleOut, result.bundleBytes);
    const ref = isDigest(s.reference) ? target.display : `${s.name}@${result.subject.digest}`;
    for (const k of all.skipped)
      io.err(safe`warning: not signing linked ${k.name} variant ${k.digest}: ${k.reason}
`);
    return {
      text: render(result, ref, flags.bundleOut) + renderVariants(all, s.name),
      json: { ...(toJson(result, ref, flags.bundleOut) as object), ...variantsJson(all, s.name) },
    };
  });
}

function renderVariants(r: SignWithVariantsResult, name: string): string {
  return r.variants
    .map(
      (v) =>
        safe`signed ${v.name} variant ${name}@${v.descriptor.digest}: referrer ${v.signature.referrer.digest}, variant record ${v.record.referrer.digest}
`,
    )
    .join('');
}

function variantsJson(r: SignWithVariantsResult, name: string): { variants: unknown[]; skippedVariants: unknown[] } {
  return {
    variants: r.variants.map((v) => ({
      name: v.name,
      digest: v.descriptor.digest,
      reference: `${name}@${v.descriptor.digest}`,
      referrerDigest: v.signature.referrer.digest,
      bundleDigest: v.signature.bundleDescriptor.digest,
      recordReferrerDigest: v.record.referrer.digest,
    })),
    skippedVariants: r.skipped,
  };
}

function render(r: SignResult, ref: string, bundleOut: string | undefined): string {
  const log = r.tlogEntries.length
    ? r.tlogEntries.map((e) => safe`rekor log index ${e.logIndex}`).join(', ')
    : 'no transparency log entry';
  return (
    safe`signed ${ref}\n` +
    safe`signer: ${r.identity.subject}` +
    (r.identity.issuer ? safe` (issuer ${r.identity.issuer})` : '') +
    `\nlog: ${log}; ${r.timestamps} RFC 3161 timestamp(s)\n` +
    safe`bundle: ${r.bundleDescriptor.digest}` +
    (bundleOut ? safe` (written to ${bundleOut})` : '') +
    safe`\nreferrer: ${r.referrer.digest}\n`
  );
}

function toJson(r: SignResult, ref: string, bundleOut: string | undefined): unknown {
  return {
    reference: ref,
    digest: r.subject.digest,
    bundleDigest: r.bundleDescriptor.digest,
    referrerDigest: r.referrer.digest,
    signer: r.identity,
    tlogEntries: r.tlogEntries,
    timestamps: r.timestamps,
    ...(bundleOut ? { bundlePath: bundleOut } : {}),
  };
}

async function runNotationSign(
  reference: string,
  flags: SignFlags,
  annotations: Record<string, string>,
  io: CliIO,
): Promise<{ text: string; json: unknown }> {
  const expirySeconds = flags.expiry !== undefined ? parseExpiry(flags.expiry, '--expiry') : undefined;
  const password = io.env.MODELSHIP_KEY_PASSWORD;
  const registry = await registryAccessFromFlags(flags, io);
  return withSubject(reference, 'reference', registry, async (s, target) => {
    const result = await signNotation({
      store: s.store,
      reference: s.reference,
      key: keySourceFrom(flags.key!, io.env),
      certChain: keySourceFrom(flags.cert!, io.env, 'cert'),
      ...(password ? { keyPassword: password } : {}),
      ...(expirySeconds !== undefined ? { expirySeconds } : {}),
      annotations,
    });
    if (flags.bundleOut) await writeFile(flags.bundleOut, result.envelopeBytes);
    const ref = isDigest(s.reference) ? target.display : `${s.name}@${result.subject.digest}`;
    return { text: renderNotation(result, ref, flags.bundleOut), json: notationJson(result, ref, flags.bundleOut) };
  });
}

function renderNotation(r: NotationSignResult, ref: string, out: string | undefined): string {
  return (
    safe`signed ${ref} (Notation, ${r.alg})\n` +
    safe`signer: ${r.signer.subject} (issuer ${r.signer.issuer})\n` +
    safe`signing time: ${r.signingTime}` +
    (r.expiry ? safe`; expires ${r.expiry}` : '') +
    safe`\nenvelope: ${r.envelopeDescriptor.digest}` +
    (out ? safe` (written to ${out})` : '') +
    safe`\nreferrer: ${r.referrer.digest}\n`
  );
}

function notationJson(r: NotationSignResult, ref: string, out: string | undefined): unknown {
  return {
    reference: ref,
    digest: r.subject.digest,
    format: 'notation',
    envelopeDigest: r.envelopeDescriptor.digest,
    referrerDigest: r.referrer.digest,
    signer: { kind: 'notation', ...r.signer },
    algorithm: r.alg,
    signingTime: r.signingTime,
    ...(r.expiry ? { expiry: r.expiry } : {}),
    ...(out ? { envelopePath: out } : {}),
  };
}
