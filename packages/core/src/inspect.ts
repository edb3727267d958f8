/**
 * `inspect`: an artifact as a tree, like `cosign tree` and `oras discover`: the manifest, its
 * ModelPack config and layers, and every referrer, recursively, with what each Sigstore bundle
 * claims (signer, predicate type). Nothing is verified here: the tree says what the store
 * holds, `verifyArtifact` says what of it can be trusted.
 *
 * Everything below the root comes from whoever could push to the store, so the walk is bounded
 * three ways (nodes, depth, bytes read), never reads a digest twice (a cycle in a lying
 * referrers listing ends there), and records what it could not read instead of failing: a
 * hostile referrer cannot hide the rest of the tree.
 */
import { artifactLayers, type ArtifactLayer } from './attest/facts.js';
import { MAX_GRAPH_DEPTH } from './copy.js';
import { isModelshipError } from './errors.js';
import { isManifestMediaType, parseManifest, summarizeManifest, type ManifestSummary } from './manifest.js';
import { isModelConfigMediaType } from './mediatypes.js';
import { summarizeModelConfig, type ModelConfigSummary } from './modelpack/config.js';
import type { Descriptor } from './oci.js';
import { wellFormedReferrers } from './registry/referrers.js';
import type { ReadOnlyStore } from './store.js';
import { bundleClaims, type BundleClaims } from './verify/claims.js';
import { MAX_BUNDLE_BYTES, bundleLayer, readBundle, readReferrerManifest } from './verify/discover.js';

export interface InspectOptions {
  /** Most nodes in the tree (root, index entries and referrers at every depth); default 1,000. */
  maxNodes?: number;
  /** Deepest chain followed (referrers of referrers, index entries); default the graph copy's 16. */
  maxDepth?: number;
  /** Most bytes read in all (manifests, configs, bundles); default 64 MiB. */
  maxBytes?: number;
}

/** A Sigstore bundle's claims, as read from its referrer: not verified. */
export interface InspectedSignature extends BundleClaims {
  bundleDigest: string;
}

export interface InspectNode {
  digest: string;
  mediaType: string;
  size: number;
  /** The manifest's artifactType, else its config media type (what a referrers listing shows). */
  artifactType?: string;
  annotations?: Record<string, string>;
  /** The manifest's `subject` digest (referrers name the artifact they are about). */
  subject?: string;
  config?: Descriptor;
  /** The ModelPack config's summary, when the config is a ModelPack config. */
  model?: ModelConfigSummary;
  layers?: ArtifactLayer[];
  /** An index's entries. */
  manifests?: InspectNode[];
  /** Set when the manifest carries a Sigstore bundle (its single layer). */
  signature?: InspectedSignature;
  referrers: InspectNode[];
  /**
   * Why the node was not read or not followed: `repeated` (it is shown elsewhere in the tree: a
   * shared referrer, or a cycle in a listing), `depth` or `limit` (a bound was reached).
   */
  stopped?: 'repeated' | 'depth' | 'limit';
  /** Entries of its referrers listing or index left out because the node bound was reached. */
  omitted?: number;
  /** What could not be read or does not add up (an unreadable referrer, a subject that is another artifact). */
  problems: string[];
}

export interface InspectResult {
  root: InspectNode;
  /** Nodes in the tree. */
  nodes: number;
  /** A bound was reached: the tree is not the whole graph. */
  truncated: boolean;
}

const DEFAULT_MAX_NODES = 1000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

interface Pending {
  node: InspectNode;
  depth: number;
  /** The digest this node's manifest must name as its subject (a referrer's parent). */
  subjectOf: string | undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Only a hostile or broken listing is the node's problem; a network or auth failure stops the walk. */
function recoverable(e: unknown): boolean {
  return isModelshipError(e) && (e.code === 'INVALID' || e.code === 'NOT_FOUND');
}

function newNode(desc: Descriptor): InspectNode {
  return { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, referrers: [], problems: [] };
}

/**
 * The tree of `root` in `store`. The root must be a manifest or index (INVALID otherwise);
 * anything below it that cannot be read is a problem of its node.
 */
export async function inspectArtifact(
  store: ReadOnlyStore,
  root: Descriptor,
  options: InspectOptions = {},
): Promise<InspectResult> {
  const maxNodes = options.maxNodes ?? DEFAULT_MAX_NODES;
  const maxDepth = options.maxDepth ?? MAX_GRAPH_DEPTH;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let bytesRead = 0;
  let nodes = 1;
  let truncated = false;
  const seen = new Set<string>([root.digest]);

  /** Counts `size` against the byte bound; false (nothing read) when it would pass it or `cap`. */
  const budget = (size: number, cap = MAX_BUNDLE_BYTES): boolean => {
    if (!(size >= 0) || size > cap || bytesRead + size > maxBytes) return false;
    bytesRead += size;
    return true;
  };

  /** Child nodes for `list`, as many as the node bound allows; the rest counted on `parent`. */
  const children = (parent: InspectNode, list: Descriptor[], depth: number, subjectOf?: string): Pending[] => {
    const out: Pending[] = [];
    for (const d of list) {
      if (nodes >= maxNodes) {
        parent.omitted = (parent.omitted ?? 0) + 1;
        truncated = true;
        continue;
      }
      nodes++;
      const node = newNode(d);
      if (seen.has(d.digest)) node.stopped = 'repeated';
      else if (depth > maxDepth) {
        node.stopped = 'depth';
        truncated = true;
      } else seen.add(d.digest);
      out.push({ node, depth, subjectOf });
    }
    return out;
  };

  const rootNode = newNode(root);
  const rootBytes = await store.fetchBytes(root);
  parseManifest(rootBytes, root); // the root is what the user named: it must be a manifest
  bytesRead += rootBytes.length;
  const queue: Pending[] = [];
  // Breadth first, so the nodes a bound leaves out are the deepest, not a sibling of the root's.
  queue.push(...(await expand(rootNode, summarizeManifest(rootBytes)!, 0, undefined)));
  for (let i = 0; i < queue.length; i++) {
    const { node, depth, subjectOf } = queue[i]!;
    if (node.stopped) continue;
    if (!isManifestMediaType(node.mediaType)) {
      node.problems.push(`not a manifest (media type ${node.mediaType}); not read`);
      continue;
    }
    if (!budget(node.size)) {
      node.stopped = 'limit';
      truncated = true;
      continue;
    }
    const read = await readReferrerManifest(store, node);
    if ('reason' in read) {
      node.problems.push(`unreadable manifest: ${read.reason}`);
      continue;
    }
    const summary = summarizeManifest(read.bytes);
    if (!summary) {
      node.problems.push('unreadable manifest: not a JSON object');
      continue;
    }
    queue.push(...(await expand(node, summary, depth, subjectOf)));
  }
  return { root: rootNode, nodes, truncated };

  /** Fills `node` from its manifest; returns its index entries and referrers to visit next. */
  async function expand(
    node: InspectNode,
    summary: ManifestSummary,
    depth: number,
    subjectOf: string | undefined,
  ): Promise<Pending[]> {
    if (summary.mediaType) node.mediaType = summary.mediaType;
    if (summary.effectiveArtifactType) node.artifactType = summary.effectiveArtifactType;
    if (summary.annotations && Object.keys(summary.annotations).length) node.annotations = summary.annotations;
    if (summary.subject) node.subject = summary.subject.digest;
    if (subjectOf !== undefined && summary.subject?.digest !== subjectOf) {
      // Listed as a referrer of `subjectOf` but about something else: a stale or lying listing.
      node.problems.push(
        summary.subject ? `its subject is ${summary.subject.digest}, not ${subjectOf}` : 'it has no subject',
      );
      return [];
    }
    if (summary.config) {
      node.config = { mediaType: summary.config.mediaType, digest: summary.config.digest, size: summary.config.size };
      node.layers = artifactLayers(summary.layers);
      if (isModelConfigMediaType(summary.config.mediaType)) await readModelConfig(node, summary.config);
      const layer = bundleLayer(summary.layers);
      if (layer) await readSignature(node, layer);
    }
    const next: Pending[] = [];
    if (summary.manifests.length) {
      const entries = children(node, summary.manifests, depth + 1);
      node.manifests = entries.map((p) => p.node);
      next.push(...entries);
    }
    let listed: Descriptor[] = [];
    try {
      listed = wellFormedReferrers(await store.referrers(node));
    } catch (e) {
      if (!recoverable(e)) throw e;
      node.problems.push(`referrers: ${message(e)}`);
    }
    const refs = children(node, listed, depth + 1, node.digest);
    node.referrers = refs.map((p) => p.node);
    next.push(...refs);
    return next;
  }

  async function readModelConfig(node: InspectNode, config: Descriptor): Promise<void> {
    if (!budget(config.size)) {
      node.problems.push(`config not read: ${config.size} bytes is over what inspect reads`);
      truncated = true;
      return;
    }
    try {
      node.model = summarizeModelConfig(JSON.parse((await store.fetchBytes(config)).toString('utf8')));
    } catch (e) {
      if (isModelshipError(e) && !recoverable(e)) throw e;
      node.problems.push(`config: ${e instanceof SyntaxError ? 'not JSON' : message(e)}`);
    }
  }

  async function readSignature(node: InspectNode, layer: Descriptor): Promise<void> {
    if (!budget(layer.size)) {
      node.problems.push(`bundle not read: ${String(layer.size)} bytes is over what inspect reads`);
      truncated = true;
      return;
    }
    const bundle = await readBundle(store, layer);
    if ('reason' in bundle) {
      node.problems.push(`unreadable bundle: ${bundle.reason}`);
      return;
    }
    node.signature = { bundleDigest: layer.digest, ...bundleClaims(bundle.bundle, node.subject ?? '') };
  }
}
