import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as core from '@actions/core';
import {
  DigestCache,
  ModelshipError,
  IDENTIFIER_FAMILIES,
  LAYER_ENCODINGS,
  digestHex,
  formatBytes,
  type IdentifierFamily,
  type LayerEncoding,
  type ModelMetadataOverrides,
  type PackOptions,
  type PackResult,
  type OpenedTarget,
  safeHtml,
  untrustedHtml,
} from '@modelship/core';
import { choiceInput, linesInput, listInput, logProgress, untrustedWarning } from './index.js';

/** What the pack inputs (path, output/push, metadata, layer format, ...) ask for. */
export interface PackInputs {
  dir: string;
  /** `oci:DIR[:TAG]` or `HOST/REPO[:TAG]`, for openTarget. */
  target: string;
  /** Explicit tags (empty: the target's tag, else latest). */
  tags: string[];
  options: Pick<PackOptions, 'family' | 'layerFormat' | 'scan' | 'metadata' | 'createdAt'>;
  cache: boolean;
}

/** Reads and validates the pack inputs shared by the pack and release actions. */
export function packInputs(): PackInputs {
  const dir = resolve(core.getInput('path', { required: true }));
  const pushRef = core.getInput('push');
  const output = core.getInput('output') || './model-oci';
  const layerFormat = choiceInput<LayerEncoding>('layer-format', LAYER_ENCODINGS);
  const family = choiceInput<IdentifierFamily>('identifiers', IDENTIFIER_FAMILIES);
  const created = core.getInput('created');
  let createdAt: string | undefined;
  if (created === 'true') createdAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  else if (created && created !== 'false') {
    if (Number.isNaN(Date.parse(created)))
      throw new ModelshipError('USAGE', `input created "${created}" is not an RFC 3339 time`);
    createdAt = created;
  }
  const metadata: ModelMetadataOverrides = {};
  const text: [keyof ModelMetadataOverrides, string][] = [
    ['name', 'name'],
    ['version', 'model-version'],
    ['family', 'family'],
    ['architecture', 'architecture'],
    ['format', 'format'],
    ['paramSize', 'param-size'],
    ['precision', 'precision'],
    ['quantization', 'quantization'],
  ];
  for (const [key, input] of text) {
    const v = core.getInput(input);
    if (v) (metadata as Record<string, string>)[key] = v;
  }
  const licenses = listInput('licenses');
  if (licenses.length) metadata.licenses = licenses;
  const authors = linesInput('authors');
  if (authors.length) metadata.authors = authors;
  const include = listInput('include');
  const exclude = listInput('exclude');
  const spec = core.getInput('spec');
  return {
    dir,
    target: pushRef || (output.startsWith('oci:') ? output : `oci:${output}`),
    tags: listInput('tags'),
    options: {
      family,
      layerFormat,
      scan: {
        ...(include.length ? { include } : {}),
        ...(exclude.length ? { exclude } : {}),
        ...(spec ? { spec } : {}),
        useDirSpec: core.getBooleanInput('dir-spec'),
        ...(core.getBooleanInput('ignore-files') ? {} : { ignoreFiles: false }),
      },
      metadata,
      ...(createdAt ? { createdAt } : {}),
    },
    cache: core.getBooleanInput('cache'),
  };
}

/** The pack options that come from the runner rather than from inputs. */
export async function packRuntime(
  inputs: PackInputs,
): Promise<Pick<PackOptions, 'cache' | 'gitLfs' | 'progress' | 'warn'>> {
  return {
    cache: inputs.cache ? await DigestCache.open() : null,
    gitLfs: inputs.cache,
    progress: logProgress('pack'),
    warn: untrustedWarning,
  };
}

/**
 * Sets the pack outputs (digest, reference, manifest-path, layout-path, size). A registry push
 * leaves no manifest file on disk, so one is written under RUNNER_TEMP for later steps.
 */
export async function setPackOutputs(target: OpenedTarget, result: PackResult, reference: string): Promise<void> {
  let manifestPath: string;
  const local = target.store.localFiles;
  if (local) {
    manifestPath = local.blobFile(result.descriptor);
  } else {
    const tmp = join(process.env.RUNNER_TEMP || process.cwd(), 'modelship');
    await mkdir(tmp, { recursive: true });
    manifestPath = join(tmp, `manifest-${digestHex(result.descriptor.digest)}.json`);
    await writeFile(manifestPath, result.manifestBytes);
  }
  core.setOutput('digest', result.descriptor.digest);
  core.setOutput('reference', reference);
  core.setOutput('manifest-path', manifestPath);
  core.setOutput('layout-path', target.kind === 'oci-layout' ? target.store.location : '');
  core.setOutput('size', String(result.size));
}

/** ", 2 paths not packed (.gitignore: secret.env; the output layout: model-oci/)", HTML-escaped. */
function ignoredSummary(result: PackResult): string {
  if (result.ignored.length === 0) return '';
  const shown = result.ignored
    .slice(0, 5)
    .map((i) => `<code>${untrustedHtml(i.path)}</code> (${untrustedHtml(i.by)})`)
    .join(', ');
  return `<br/>${result.ignored.length} not packed: ${shown}${result.ignored.length > 5 ? ', …' : ''}`;
}

/** Adds the pack heading and layer table to the job summary (the caller writes it). */
export function addPackSummary(result: PackResult, reference: string, heading = 'modelship pack'): void {
  core.summary
    .addHeading(heading, 3)
    .addRaw(
      safeHtml`<p><code>${reference}</code><br/>digest <code>${result.descriptor.digest}</code>, ${formatBytes(result.size)}, ${result.layers.length} layers (${result.stats.uploaded} written, ${result.stats.skipped} already present)` +
        `${ignoredSummary(result)}</p>`,
    )
    .addTable([
      [
        { data: 'File', header: true },
        { data: 'Kind', header: true },
        { data: 'Size', header: true },
        { data: 'Digest', header: true },
      ],
      ...result.layers.map((l) => [
        untrustedHtml(l.path),
        untrustedHtml(l.kind),
        formatBytes(l.descriptor.size),
        safeHtml`<code>${l.descriptor.digest}</code>`,
      ]),
    ]);
}
