import { bundleToJSON, type BundleWithDsseEnvelope } from '@sigstore/bundle';
import type { Artifact, Signature } from '@sigstore/sign';
import { ModelshipError, opt } from '../errors.js';
import { loadSigstoreSign } from './sigstore-sign.js';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement, type SerializedBundleJson, type SigningSetup } from './types.js';

/**
 * Signs a statement into a Sigstore bundle v0.3 (DSSE envelope, one signature). Failures of
 * the signer or witnesses (Fulcio, Rekor, TSA) surface as ModelshipErrors naming the service.
 */
export async function signStatement(statement: InTotoStatement, setup: SigningSetup): Promise<SerializedBundleJson> {
  const Builder = await emptyKeyidBuilder();
  const builder = new Builder({ signer: setup.signer, witnesses: setup.witnesses });
  try {
    const bundle = await builder.create({
      data: Buffer.from(JSON.stringify(statement), 'utf8'),
      type: IN_TOTO_PAYLOAD_TYPE,
    });
    return bundleToJSON(bundle) as unknown as SerializedBundleJson;
  } catch (e) {
    if (e instanceof ModelshipError) throw e;
    throw sigstoreError(e);
  }
}

type DSSEBuilderClass = Awaited<ReturnType<typeof loadSigstoreSign>>['DSSEBundleBuilder'];
let builderClass: Promise<DSSEBuilderClass> | undefined;

/**
 * @sigstore/sign's DSSE builder, except that the envelope signature's `keyid` is "" — what
 * cosign and sigstore-go write (sigstore-go sets no keyid). @sigstore/sign copies the key
 * hint into the keyid; go-securesystemslib's DSSE verifier, which sigstore-go calls with no
 * expected key id, computes its own id (an SSH SHA-256 fingerprint) and skips every
 * signature whose non-empty keyid differs, so cosign, Kyverno, policy-controller and gh
 * rejected such bundles (docs/signing.md, "With a key"; the files read are in its
 * "Sources"). The keyid is outside the signature (DSSE signs PAE(type, payload)), so
 * blanking it changes nothing that is verified.
 *
 * It is blanked in `package`, before the witnesses run, because Rekor receives the envelope:
 * an intoto entry stores the keyid and hashes it into the envelope hash, so the logged
 * envelope must be the one the bundle carries. Post-processing the finished bundle would
 * leave the log entry describing another envelope.
 */
function emptyKeyidBuilder(): Promise<DSSEBuilderClass> {
  builderClass ??= loadSigstoreSign().then(({ DSSEBundleBuilder }) => {
    class EmptyKeyidDSSEBundleBuilder extends DSSEBundleBuilder {
      protected override async package(artifact: Artifact, signature: Signature): Promise<BundleWithDsseEnvelope> {
        const bundle = await super.package(artifact, signature);
        for (const s of bundle.content.dsseEnvelope.signatures) s.keyid = '';
        return bundle;
      }
    }
    return EmptyKeyidDSSEBundleBuilder;
  });
  return builderClass;
}

/** @sigstore/sign errors carry a `code` such as CA_CREATE_SIGNING_CERTIFICATE_ERROR or TLOG_CREATE_ENTRY_ERROR. */
export function sigstoreError(e: unknown): ModelshipError {
  const err = e as { code?: string; message?: string; cause?: unknown };
  const code = err?.code ?? '';
  const detail = err?.message ?? String(e);
  const cause = err?.cause instanceof Error ? `: ${err.cause.message}` : '';
  if (code.startsWith('CA_'))
    return new ModelshipError('NETWORK', `Fulcio (certificate authority) failed: ${detail}${cause}`, {
      cause: e,
      hint: `check ${opt('fulcioUrl')} and that the OIDC token is valid for audience "sigstore"`,
    });
  if (code.startsWith('TLOG_'))
    return new ModelshipError('NETWORK', `Rekor (transparency log) failed: ${detail}${cause}`, {
      cause: e,
      hint:
        `check ${opt('rekorUrl')}, or sign without a transparency log, e.g. air-gapped: ` +
        `${opt('noTlog')} (keyless signing then needs ${opt('tsaUrl')})`,
    });
  if (code.startsWith('TSA_'))
    return new ModelshipError('NETWORK', `timestamp authority failed: ${detail}${cause}`, {
      cause: e,
      hint: `check ${opt('tsaUrl')}`,
    });
  if (code.startsWith('IDENTITY_'))
    return new ModelshipError('AUTH', `could not get an OIDC identity token: ${detail}${cause}`, { cause: e });
  return new ModelshipError('INTERNAL', `signing failed: ${detail}${cause}`, { cause: e });
}
