import { ModelshipError } from '../errors.js';
import { isDigest } from '../oci.js';
import { canSign } from '../promote.js';
import { parseReference } from '../reference.js';
import type { SigningOptions } from '../sign/index.js';
import { isLayoutSpec, splitLayoutSpec } from '../target.js';
import { requireReference } from './reference.js';

/** How a front end names the promote settings, for the messages. */
export interface PromotionLabels {
  source: string;
  destination: string;
  /** The setting that turns the promotion record off (`--no-record`, `record: false`). */
  noRecord: string;
  /** The setting that names a signing key (`--key`, `key`). */
  key: string;
}

export interface PromotionRequest {
  source: string;
  destination: string;
  /** Extra destination tags, after the one the destination names. */
  tags?: readonly string[] | undefined;
  /** Whether to attach a signed promotion record (then a signer must be configured). */
  record: boolean;
  signing: Pick<SigningOptions, 'key' | 'identityToken'>;
  env?: NodeJS.ProcessEnv;
  labels: PromotionLabels;
}

/**
 * Where the copy goes. A layout is opened only after the policy passed (opening with create
 * makes the directory); a registry is opened at once (opening writes nothing).
 */
export type PromotionDestination =
  { kind: 'oci-layout'; path: string; base: string } | { kind: 'registry'; spec: string };

export interface PromotionPlan {
  /** The tag or digest the source names. */
  sourceReference: string;
  destination: PromotionDestination;
  /** Tags to set in the destination: its own tag, the extra ones, else the source's tag. */
  tags: string[];
  record: boolean;
}

/** The spec's tag or digest without opening anything (as openTarget splits it). */
function specReference(spec: string): string | undefined {
  if (isLayoutSpec(spec)) return splitLayoutSpec(spec).reference;
  const ref = parseReference(spec);
  return ref.digest ?? ref.tag;
}

/**
 * Checks a promote request before any network work, so a request that cannot succeed fails
 * with nothing read or written: the source names a tag or digest, the destination names no
 * digest (the digest is the source's) and, for a layout, a directory, and a promotion record
 * has a signer.
 */
export function planPromotion(req: PromotionRequest): PromotionPlan {
  const { labels } = req;
  const sourceReference = requireReference({ reference: specReference(req.source) }, req.source, labels.source);
  let destination: PromotionDestination;
  let destinationReference: string | undefined;
  if (isLayoutSpec(req.destination)) {
    const { path, reference } = splitLayoutSpec(req.destination);
    if (!path)
      throw new ModelshipError('USAGE', `${labels.destination} "${req.destination}" names no layout directory`, {
        hint: 'use oci:PATH[:TAG]',
      });
    destination = { kind: 'oci-layout', path, base: `oci:${path}` };
    destinationReference = reference;
  } else {
    const ref = parseReference(req.destination);
    destination = { kind: 'registry', spec: req.destination };
    destinationReference = ref.digest ?? ref.tag;
  }
  if (destinationReference && isDigest(destinationReference))
    throw new ModelshipError('USAGE', `${labels.destination} "${req.destination}" names a digest`, {
      hint: 'name the destination repository or layout, optionally with a tag: the digest is the source’s',
    });
  const tags = [...(destinationReference ? [destinationReference] : []), ...(req.tags ?? [])];
  // Promotion keeps the source's tag when the destination names none (as push does).
  if (!tags.length && !isDigest(sourceReference)) tags.push(sourceReference);
  if (req.record && !canSign(req.signing, req.env ?? process.env))
    throw new ModelshipError('USAGE', 'promote signs a promotion record, and no signer is configured', {
      hint: `set ${labels.key}, or provide an OIDC token (SIGSTORE_ID_TOKEN, or \`permissions: id-token: write\` in a workflow), or set ${labels.noRecord} to promote without a record`,
    });
  return { sourceReference, destination, tags, record: req.record };
}
