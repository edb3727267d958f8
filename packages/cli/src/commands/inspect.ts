import type { Command } from 'commander';
import { formatBytes, inspectArtifact, withSubject, type InspectNode, type InspectResult } from '@modelship/core';
import { printResult, safe, table, type CliIO } from '../io.js';
import { addRegistryOptions, registryAccessFromFlags, type RegistryFlags } from '../options.js';

interface InspectFlags extends RegistryFlags {
  json?: boolean;
}

export function registerInspect(program: Command, io: CliIO): void {
  const cmd = program
    .command('inspect')
    .description(
      'show an artifact as a tree: manifest, config, layers and every referrer with the signer and predicate its bundle claims (nothing is verified)',
    )
    .argument('<reference>', 'HOST/REPO:TAG|@DIGEST or oci:DIR:TAG|@DIGEST')
    .option('--json', 'print the tree as JSON');
  addRegistryOptions(cmd).action(async (reference: string, flags: InspectFlags) => {
    const registry = await registryAccessFromFlags(flags, io);
    const r = await withSubject(reference, 'reference', registry, async (s, target) => {
      const result = await inspectArtifact(s.store, await s.store.resolve(s.reference));
      return { text: render(target.display, result), json: { reference: target.display, verified: false, ...result } };
    });
    printResult(io, flags.json, r);
  });
}

const CLAIMED = 'as its bundle claims: not verified';

function size(n: number): string {
  return Number.isSafeInteger(n) ? formatBytes(n) : String(n);
}

/** The lines that describe one node, below its headline. */
function details(n: InspectNode): string[] {
  const out: string[] = [];
  const sig = n.signature;
  if (sig) {
    if (sig.signer?.kind === 'key') out.push(safe`signer: key ${sig.signer.keyHint ?? '(no hint)'} (${CLAIMED})`);
    else if (sig.signer)
      out.push(safe`signer: ${sig.signer.subject}, issuer ${sig.signer.issuer ?? '(none)'} (${CLAIMED})`);
    if (sig.predicateType) out.push(safe`predicate: ${sig.predicateType}`);
    if (sig.aboutArtifact === false) out.push('statement: about another digest');
    if (sig.tlogEntries) out.push(safe`transparency log entries: ${sig.tlogEntries}`);
    for (const p of sig.problems) out.push(safe`! bundle: ${p}`);
  }
  const created = n.annotations?.['org.opencontainers.image.created'];
  if (created) out.push(safe`created: ${created}`);
  for (const p of n.problems) out.push(safe`! ${p}`);
  if (n.omitted) out.push(`… ${n.omitted} more not shown (inspect's limit)`);
  return out;
}

function headline(n: InspectNode): string {
  const note =
    n.stopped === 'repeated'
      ? ' (shown above)'
      : n.stopped === 'depth'
        ? ' (too deep: not followed)'
        : n.stopped === 'limit'
          ? " (not read: inspect's limit)"
          : '';
  const layers = n.layers && n.signature === undefined ? `, ${n.layers.length} layers` : '';
  return safe`${n.digest} ${n.artifactType ?? n.mediaType} (${size(n.size)}${layers})` + note;
}

/** A tree of `nodes` below a line that ends with `prefix` (box-drawing, as cosign tree draws it). */
function tree(nodes: InspectNode[], prefix: string): string {
  let out = '';
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    out += safe`${prefix}${last ? '└── ' : '├── '}` + headline(n) + '\n';
    const inner = prefix + (last ? '    ' : '│   ');
    const kids = [...(n.manifests ?? []), ...n.referrers];
    for (const line of details(n)) out += safe`${inner}${kids.length ? '│ ' : '  '}${line}\n`;
    out += tree(kids, inner);
  });
  return out;
}

function render(reference: string, r: InspectResult): string {
  const root = r.root;
  let out = safe`${reference}\ndigest: ${root.digest}\n`;
  out += safe`type: ${root.mediaType}` + (root.artifactType ? safe`, artifactType ${root.artifactType}` : '');
  out += `, ${size(root.size)}\n`;
  const m = root.model;
  if (m) {
    const fields: [string, string | undefined][] = [
      ['name', m.name],
      ['version', m.version],
      ['family', m.family],
      ['architecture', m.architecture],
      ['format', m.format],
      ['params', m.paramSize],
      ['precision', m.precision],
      ['quantization', m.quantization],
      ['licence', m.licenses?.join(', ')],
      ['created', m.createdAt],
    ];
    const shown = fields.filter(([, v]) => v !== undefined).map(([k, v]) => safe`${k} ${v}`);
    out += `model: ${shown.length ? shown.join('; ') : '(no metadata)'}\n`;
  }
  if (root.config) out += safe`config: ${root.config.digest} ${root.config.mediaType} (${size(root.config.size)})\n`;
  for (const line of details(root)) out += `${line}\n`;
  if (root.layers?.length) {
    const rows = [['FILE', 'KIND', 'SIZE', 'DIGEST']];
    for (const l of root.layers) rows.push([l.path || '(no path)', l.kind, size(l.size), l.digest]);
    out += `\n${table(rows)}`;
  }
  if (root.manifests?.length) out += `\nmanifests (${root.manifests.length}):\n${tree(root.manifests, '')}`;
  out +=
    `\nreferrers (${root.referrers.length}), each signer as its bundle claims it: ` +
    'inspect verifies nothing (modelship verify does)\n';
  out += root.referrers.length ? tree(root.referrers, '') : '(none)\n';
  if (r.truncated) out += `\n(the tree is cut short: inspect reads at most a bounded number of manifests and bytes)\n`;
  return out;
}
