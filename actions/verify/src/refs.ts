import { mkdir, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as glob from '@actions/glob';
import { type ActionContext } from '@modelship/action-common';
import {
  ModelshipError,
  safe,
  safeHtml,
  untrustedHtml,
  untrustedText,
  findModelRefsInList,
  findModelRefsInManifests,
  modelRefAnnotations,
  verifyModelRefs,
  type ModelRef,
  type RegistryAccess,
  type VerifyModelRefsOptions,
} from '@modelship/core';

export interface VerifyReferencesInputs {
  referencesFile: string;
  /** Paths or globs, one per entry. */
  manifests: string[];
  registry: RegistryAccess;
  verify: Omit<VerifyModelRefsOptions, 'refs' | 'registry'>;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/**
 * Expands manifest paths and globs. A literal path must exist (a typo must not pass the check
 * silently); files reached through a glob or a directory are kept only when they look like
 * manifests (.yaml, .yml, .json), so `k8s/` does not scan READMEs.
 */
async function manifestFiles(patterns: string[], ctx: ActionContext): Promise<string[]> {
  const files = new Set<string>();
  for (const p of patterns) {
    if (p.startsWith('!') || /[*?[\]]/.test(p)) continue;
    const st = await stat(p).catch(() => undefined);
    if (!st)
      throw new ModelshipError('INPUT', `manifest ${p} does not exist`, {
        hint: 'fix the path in input manifests (paths are relative to the workspace)',
      });
    if (st.isFile()) files.add(resolve(p));
  }
  const globber = await glob.create(patterns.join('\n'), { matchDirectories: false, followSymbolicLinks: false });
  let globbed = 0;
  for await (const f of globber.globGenerator()) {
    if (files.has(f) || !MANIFEST_EXT.test(f)) continue;
    files.add(f);
    globbed++;
  }
  if (files.size === 0) ctx.warning(`input manifests matched no files: ${patterns.join(', ')}`);
  else ctx.info(`scanning ${files.size} manifest file(s) (${globbed} from globs or directories)`);
  return [...files];
}

/** Repository-relative, as annotations need it to land on the file in a pull request. */
function forAnnotation(file: string, workspace: string): string {
  const abs = isAbsolute(file) ? file : resolve(file);
  const rel = relative(workspace, abs);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel.split('\\').join('/');
}

/** Verifies every model reference in a list file and/or Kubernetes manifests; annotates each failure on its line. */
export async function verifyReferences(inputs: VerifyReferencesInputs, ctx: ActionContext): Promise<void> {
  const workspace = process.env.GITHUB_WORKSPACE || process.cwd();
  const refs: ModelRef[] = [];
  if (inputs.referencesFile) refs.push(...(await findModelRefsInList(inputs.referencesFile)));
  if (inputs.manifests.length)
    refs.push(...(await findModelRefsInManifests(await manifestFiles(inputs.manifests, ctx))));
  for (const r of refs) r.file = forAnnotation(r.file, workspace);

  const result = await verifyModelRefs({ ...inputs.verify, refs, registry: inputs.registry });
  await mkdir(ctx.tempDir, { recursive: true });
  const reportPath = join(ctx.tempDir, 'verify-references.json');
  await writeFile(reportPath, JSON.stringify(result, null, 2));
  ctx.setOutput('verified', String(result.ok));
  ctx.setOutput('report-path', reportPath);
  ctx.setOutput('checked', String(result.checked));
  ctx.setOutput('failed', String(result.failed));

  for (const r of result.results)
    ctx.info(
      safe`${r.ok ? 'ok  ' : 'FAIL'} ${r.reference} (${r.locations.map((l) => `${l.file}:${l.line}`).join(', ')}): ${r.message}`,
    );
  // @actions/core escapes the message's line breaks and the properties' `:` and `,`; the
  // message (a reference and a reason from the manifests and the registry) also gets its
  // control characters made visible. The file stays as it is: it must name the real file.
  for (const a of modelRefAnnotations(result.results))
    ctx.error(untrustedText(a.message), {
      title: a.title,
      file: a.location.file,
      startLine: a.location.line,
      startColumn: a.location.column,
    });

  const policy = inputs.verify.policy;
  const heading =
    result.checked === 0
      ? 'modelship verify: no model references found'
      : `modelship verify: ${result.ok ? 'passed' : 'FAILED'} (${result.checked - result.failed} of ${result.checked} model references verified)`;
  if (result.checked === 0) ctx.notice('no model references found in the given references file or manifests');
  const summary = ctx.summary
    .addHeading(heading, 3)
    .addRaw(safeHtml`<p>against <code>${policy.source}</code> (${policy.digest})</p>`)
    .addTable([
      [
        { data: 'Reference', header: true },
        { data: 'Result', header: true },
        { data: 'Where', header: true },
        { data: 'Detail', header: true },
      ],
      ...result.results.map((r) => [
        safeHtml`<code>${r.reference}</code>`,
        r.ok ? 'pass' : 'FAIL',
        r.locations.map((l) => untrustedHtml(`${l.file}:${l.line}`)).join('<br>'),
        untrustedHtml(r.message),
      ]),
    ]);
  // Every signature and attestation found, Sigstore bundles and Notation signatures alike, with
  // who signed it and what verification made of it.
  const signatures = result.results.flatMap((r) =>
    (r.report?.bundles ?? []).map((b) => ({ reference: r.reference, b })),
  );
  if (signatures.length)
    summary.addTable([
      [
        { data: 'Reference', header: true },
        { data: 'Signature', header: true },
        { data: 'Signer', header: true },
        { data: 'Status', header: true },
      ],
      ...signatures.map(({ reference, b }) => [
        safeHtml`<code>${reference}</code>`,
        b.format === 'notation'
          ? 'Notation'
          : untrustedHtml(b.predicateType ? `Sigstore ${b.predicateType}` : 'Sigstore'),
        untrustedHtml(b.signer?.subject ?? ''),
        untrustedHtml(
          b.trusted ? 'trusted' : b.verified ? `verified, ${b.reason ?? ''}` : `rejected: ${b.reason ?? ''}`,
        ),
      ]),
    ]);
  await summary.write();
  if (!result.ok)
    throw new ModelshipError(
      'POLICY',
      `${result.failed} of ${result.checked} model reference(s) failed verification against ${policy.source}: ${result.results
        .filter((r) => !r.ok)
        .map((r) => r.reference)
        .join(', ')}`,
    );
}
