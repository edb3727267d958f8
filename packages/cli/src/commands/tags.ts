import type { Command } from 'commander';
import { listTags, openTarget, requireNoReference, tagArtifact, withSubject } from '@modelship/core';
import { printResult, safe, table, type CliIO } from '../io.js';
import { addRegistryOptions, registryAccessFromFlags, type RegistryFlags } from '../options.js';

interface JsonFlags extends RegistryFlags {
  json?: boolean;
}

export function registerLs(program: Command, io: CliIO): void {
  const cmd = program
    .command('ls')
    .description('list the tags of a repository or OCI layout, with the digest each names')
    .argument('<repository>', 'HOST/REPO or oci:DIR')
    .option('--json', 'print the tags as JSON');
  addRegistryOptions(cmd).action(async (spec: string, flags: JsonFlags) => {
    const target = await openTarget(spec, { registry: await registryAccessFromFlags(flags, io) });
    try {
      requireNoReference(target, spec, 'repository');
      const tags = await listTags(target.store);
      const text = tags.length
        ? table([['TAG', 'DIGEST'], ...tags.map((t) => [t.tag, t.digest])])
        : safe`${target.base} has no tags\n`;
      printResult(io, flags.json, { text, json: { repository: target.base, tags } });
    } finally {
      await target.store.close();
    }
  });
}

export function registerTag(program: Command, io: CliIO): void {
  const cmd = program
    .command('tag')
    .description('add tags to a manifest already in a repository or layout (nothing is uploaded again)')
    .argument('<reference>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .argument('<tags...>', 'the new tags')
    .option('--json', 'print the result as JSON');
  addRegistryOptions(cmd).action(async (reference: string, tags: string[], flags: JsonFlags) => {
    const registry = await registryAccessFromFlags(flags, io);
    const r = await withSubject(reference, 'reference', registry, async (s, target) => {
      const desc = await tagArtifact(s.store, s.reference, tags, 'tag');
      const references = tags.map((t) => `${target.base}:${t}`);
      return {
        text: references.map((ref) => safe`tagged ${ref}\n`).join('') + safe`digest: ${desc.digest}\n`,
        json: { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, tags, references },
      };
    });
    printResult(io, flags.json, r);
  });
}
