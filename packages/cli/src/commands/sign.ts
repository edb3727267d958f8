import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  MODELSHIP_VERSION,
  isDigest,
  parseKeyValues,
  signWithVariants,
  withSubject,
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
}

export function registerSign(program: Command, io: CliIO): void {
  const cmd = program
    .command('sign')
    .description('sign an artifact with Sigstore (keyless via OIDC, or --key) and attach the bundle as an OCI referrer')
    .argument('<reference>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .option('-a, --annotation <key=value>', 'annotation on the signed subject (repeatable)', collect)
    .option('--bundle-out <file>', 'also write the bundle to FILE (.sigstore.json)')
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

async function runSign(reference: string, flags: SignFlags, io: CliIO): Promise<{ text: string; json: unknown }> {
  const annotations = parseKeyValues(flags.annotation, '--annotation');
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
