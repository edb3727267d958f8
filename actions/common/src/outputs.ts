import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  DigestCache,
  digestHex,
  safe,
  type AttestResult,
  type OpenedTarget,
  type PackOptions,
  type PackResult,
  type SignResult,
  type VariantSummary,
} from '@modelship/core';
import { logProgress, type ActionContext } from './context.js';
import type { PackInputs } from './inputs.js';
import { mofOf } from './summary.js';

/** The pack options that come from the runner rather than from inputs. */
export async function packRuntime(
  inputs: Pick<PackInputs, 'cache'>,
  ctx: ActionContext,
): Promise<Pick<PackOptions, 'cache' | 'gitLfs' | 'progress' | 'warn'>> {
  return {
    cache: inputs.cache ? await DigestCache.open() : null,
    gitLfs: inputs.cache,
    progress: logProgress(ctx, 'pack'),
    warn: (m) => ctx.warning(m),
  };
}

/**
 * Sets the pack outputs (digest, reference, manifest-path, layout-path, size). A registry push
 * leaves no manifest file on disk, so one is written under RUNNER_TEMP for later steps.
 */
export async function setPackOutputs(
  ctx: ActionContext,
  target: OpenedTarget,
  result: PackResult,
  reference: string,
): Promise<void> {
  let manifestPath: string;
  // A dry run wrote no layout: its manifest goes under RUNNER_TEMP, as a registry push's does.
  const local = target.store.dryRun ? undefined : target.store.localFiles;
  if (local) {
    manifestPath = local.blobFile(result.descriptor);
  } else {
    await mkdir(ctx.tempDir, { recursive: true });
    manifestPath = join(ctx.tempDir, `manifest-${digestHex(result.descriptor.digest)}.json`);
    await writeFile(manifestPath, result.manifestBytes);
  }
  ctx.setOutput('digest', result.descriptor.digest);
  ctx.setOutput('reference', reference);
  ctx.setOutput('manifest-path', manifestPath);
  ctx.setOutput('layout-path', target.kind === 'oci-layout' && !target.store.dryRun ? target.store.location : '');
  ctx.setOutput('size', String(result.size));
  let scanPath = '';
  if (result.securityScan) {
    // For a later attest step (input scan-report): the scan of these very files, no second read.
    await mkdir(ctx.tempDir, { recursive: true });
    scanPath = join(ctx.tempDir, `scan-${digestHex(result.descriptor.digest)}.json`);
    await writeFile(scanPath, JSON.stringify(result.securityScan, null, 2) + '\n');
  }
  ctx.setOutput('scan-report', scanPath);
}

/** Sets attestations, mof-class and provenance-referrer-digest (digest is the caller's). */
export function setAttestOutputs(ctx: ActionContext, result: Pick<AttestResult, 'attestations'>): void {
  const list = result.attestations.map((a) => ({
    kind: a.kind,
    predicateType: a.predicateType,
    referrerDigest: a.signed.referrer.digest,
    bundleDigest: a.signed.bundleDescriptor.digest,
  }));
  ctx.setOutput('attestations', JSON.stringify(list));
  const mof = mofOf(result);
  ctx.setOutput('mof-class', mof?.evaluation?.class !== undefined ? String(mof.evaluation.class) : '');
  ctx.setOutput(
    'provenance-referrer-digest',
    result.attestations.find((a) => a.kind === 'slsa')?.signed.referrer.digest ?? '',
  );
  for (const a of list) ctx.info(safe`${a.predicateType}: referrer ${a.referrerDigest}`);
}

/**
 * Writes the bundle (to `bundleOut`, else under RUNNER_TEMP) and sets the sign outputs
 * bundle-digest, referrer-digest, signer-identity and bundle-path (digest is the caller's).
 */
export async function setSignOutputs(
  ctx: ActionContext,
  r: SignResult,
  base: string,
  bundleOut: string | undefined,
): Promise<void> {
  const bundlePath = bundleOut || join(ctx.tempDir, `${digestHex(r.bundleDescriptor.digest)}.sigstore.json`);
  await mkdir(dirname(bundlePath), { recursive: true });
  await writeFile(bundlePath, r.bundleBytes);
  ctx.setOutput('bundle-digest', r.bundleDescriptor.digest);
  ctx.setOutput('referrer-digest', r.referrer.digest);
  ctx.setOutput('signer-identity', r.identity.subject);
  ctx.setOutput('bundle-path', bundlePath);
  ctx.info(safe`signed ${base}@${r.subject.digest} as ${r.identity.subject}`);
}

/** Output `variants`: a JSON array of {name, digest, mediaType, reference, pinnedReference, tags}. */
export function setVariantOutputs(ctx: ActionContext, variants: readonly VariantSummary[]): void {
  ctx.setOutput('variants', JSON.stringify(variants));
  for (const v of variants) ctx.info(safe`variant ${v.name}: ${v.reference} (${v.digest})`);
}
