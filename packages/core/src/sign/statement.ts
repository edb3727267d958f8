import { ModelshipError } from '../errors.js';
import { digestHex, isDigest } from '../oci.js';
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_STATEMENT_TYPE, type InTotoStatement } from './types.js';

/**
 * An in-toto Statement v1 about one OCI manifest digest. `name` is the repository reference
 * without tag or digest (what cosign and actions/attest put there); subjects match by digest.
 */
export function buildStatement(
  subject: { name: string; digest: string; annotations?: Record<string, string> },
  predicateType: string,
  predicate: Record<string, unknown>,
): InTotoStatement {
  if (!isDigest(subject.digest))
    throw new ModelshipError('USAGE', `cannot make a statement about "${subject.digest}": not a sha256 digest`);
  if (!predicateType) throw new ModelshipError('USAGE', 'a statement needs a predicate type');
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [
      {
        name: subject.name || '_',
        digest: { sha256: digestHex(subject.digest) },
        ...(subject.annotations && Object.keys(subject.annotations).length ? { annotations: subject.annotations } : {}),
      },
    ],
    predicateType,
    predicate,
  };
}

/** What `cosign sign` v3 signs: an empty predicate of type https://sigstore.dev/cosign/sign/v1. */
export function signatureStatement(
  name: string,
  digest: string,
  annotations: Record<string, string> = {},
): InTotoStatement {
  return buildStatement({ name, digest, annotations }, COSIGN_SIGN_PREDICATE_TYPE, {});
}

/** Parses a DSSE payload back into a statement, refusing anything that is not one. */
export function parseStatement(payload: Buffer): InTotoStatement {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw new ModelshipError('INVALID', 'signed payload is not JSON', { cause: e });
  }
  const s = doc as Partial<InTotoStatement>;
  if (
    !s ||
    typeof s !== 'object' ||
    s._type !== IN_TOTO_STATEMENT_TYPE ||
    !Array.isArray(s.subject) ||
    typeof s.predicateType !== 'string'
  )
    throw new ModelshipError('INVALID', 'signed payload is not an in-toto Statement v1');
  return s as InTotoStatement;
}
