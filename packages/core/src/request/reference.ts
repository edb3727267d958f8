import { ModelshipError } from '../errors.js';

/**
 * The tag or digest a target spec names, for verbs that act on one artifact (sign, attest,
 * verify, promote). `label` names where the spec came from.
 */
export function requireReference(target: { reference?: string | undefined }, spec: string, label: string): string {
  if (!target.reference)
    throw new ModelshipError('USAGE', `${label} "${spec}" names no tag or digest`, {
      hint: 'name one, e.g. HOST/REPO@sha256:… (the digest output of pack), HOST/REPO:TAG or oci:DIR:TAG',
    });
  return target.reference;
}

/**
 * A target spec that names a repository or layout as a whole (`ls`, `gc`): a tag or digest in
 * it is refused rather than ignored. `label` names where the spec came from.
 */
export function requireNoReference(target: { reference?: string | undefined }, spec: string, label: string): void {
  if (target.reference)
    throw new ModelshipError(
      'USAGE',
      `${label} "${spec}" names ${target.reference}, but this takes a whole repository or layout`,
      {
        hint: 'drop the :TAG or @DIGEST (HOST/REPO or oci:DIR)',
      },
    );
}
