import type { Command } from 'commander';
import {
  DEFAULT_GC_MIN_AGE_MS,
  collectGarbage,
  formatBytes,
  openTarget,
  parseDuration,
  removeReference,
  requireNoReference,
  withSubject,
  type GcResult,
} from '@modelship/core';
import { printResult, safe, type CliIO } from '../io.js';

interface GcFlags {
  dryRun?: boolean;
  minAge?: string;
  json?: boolean;
}

export function registerRm(program: Command, io: CliIO): void {
  program
    .command('rm')
    .description('remove a tag, or a manifest by digest with all its tags, from an OCI layout (gc frees the space)')
    .argument('<reference>', 'oci:DIR:TAG or oci:DIR@DIGEST')
    .option('--json', 'print the result as JSON')
    .action(async (reference: string, flags: { json?: boolean }) => {
      const r = await withSubject(reference, 'reference', undefined, async (s) => {
        const removed = await removeReference(s.store, s.reference);
        const what = removed.tags.length ? `tag ${removed.tags.join(', ')}` : 'untagged manifest';
        const after = removed.stillTagged
          ? 'it keeps its other tags'
          : safe`nothing tags it now; modelship gc ${s.name} frees what only it used`;
        return {
          text: safe`removed ${what} from ${s.name}\n` + safe`digest: ${removed.digest} (${after})\n`,
          json: { layout: s.name, ...removed },
        };
      });
      printResult(io, flags.json, r);
    });
}

export function registerGc(program: Command, io: CliIO): void {
  const hours = DEFAULT_GC_MIN_AGE_MS / 3_600_000;
  program
    .command('gc')
    .description(
      'delete what no tag of an OCI layout reaches: untagged manifests (not referrers of a kept one) and unreferenced blobs',
    )
    .argument('<layout>', 'oci:DIR')
    .option('--dry-run', 'list what would be deleted; delete nothing')
    .option('--min-age <duration>', `keep blobs and manifests changed more recently (default ${hours}h; 0 for none)`)
    .option('--json', 'print the result as JSON')
    .action(async (spec: string, flags: GcFlags) => {
      const minAgeMs = flags.minAge === undefined ? undefined : parseDuration(flags.minAge, '--min-age');
      const target = await openTarget(spec);
      try {
        requireNoReference(target, spec, 'layout');
        const r = await collectGarbage(target.store, {
          ...(flags.dryRun ? { dryRun: true } : {}),
          ...(minAgeMs !== undefined ? { minAgeMs } : {}),
        });
        printResult(io, flags.json, { text: render(target.base, r), json: { layout: target.base, ...r } });
      } finally {
        await target.store.close();
      }
    });
}

const LISTED = 20;

function render(layout: string, r: GcResult): string {
  let out = '';
  // A dry run lists what would go; a real run says what went (--json lists it).
  if (r.dryRun) {
    for (const m of r.manifests.slice(0, LISTED))
      out += safe`would drop manifest ${m.digest}${m.tag ? ` (${m.tag})` : ''}\n`;
    if (r.manifests.length > LISTED) out += `… and ${r.manifests.length - LISTED} more manifests\n`;
    for (const b of r.blobs.slice(0, LISTED)) out += safe`would delete blob ${b.digest} (${formatBytes(b.size)})\n`;
    if (r.blobs.length > LISTED) out += `… and ${r.blobs.length - LISTED} more blobs\n`;
  }
  const verb = r.dryRun ? 'would free' : 'freed';
  out +=
    safe`${layout}: ${verb} ${formatBytes(r.bytes)}: ${r.blobs.length} blobs, ${r.temporary.length} temporary files` +
    (r.linked ? ` (${r.linked} blobs are hard links to files outside: their bytes stay)` : '') +
    `; ${r.manifests.length} manifests no tag reaches ${r.dryRun ? 'would leave' : 'left'} index.json\n` +
    `kept ${r.kept.blobs} blobs (${formatBytes(r.kept.bytes)})` +
    (r.kept.recent ? `, ${r.kept.recent} of them unreferenced but newer than --min-age` : '') +
    '\n';
  return out;
}
