import { bundleToJSON } from '@sigstore/bundle';
import { ModelshipError } from '../errors.js';
import { loadSigstoreSign } from './sigstore-sign.js';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement, type SerializedBundleJson, type SigningSetup } from './types.js';

/**
 * Signs a statement into a Sigstore bundle v0.3 (DSSE envelope, one signature). Failures of
 * the signer or witnesses (Fulcio, Rekor, TSA) surface as ModelshipErrors naming the service.
 */
export async function signStatement(statement: InTotoStatement, setup: SigningSetup): Promise<SerializedBundleJson> {
  const { DSSEBundleBuilder } = await loadSigstoreSign();
  const builder = new DSSEBundleBuilder({ signer: setup.signer, witnesses: setup.witnesses });
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

/** @sigstore/sign errors carry a `code` such as CA_CREATE_SIGNING_CERTIFICATE_ERROR or TLOG_CREATE_ENTRY_ERROR. */
export function sigstoreError(e: unknown): ModelshipError {
  const err = e as { code?: string; message?: string; cause?: unknown };
  const code = err?.code ?? '';
  const detail = err?.message ?? String(e);
  const cause = err?.cause instanceof Error ? `: ${err.cause.message}` : '';
  if (code.startsWith('CA_'))
    return new ModelshipError('NETWORK', `Fulcio (certificate authority) failed: ${detail}${cause}`, {
      cause: e,
      hint: 'check --fulcio-url and that the OIDC token is valid for audience "sigstore"',
    });
  if (code.startsWith('TLOG_'))
    return new ModelshipError('NETWORK', `Rekor (transparency log) failed: ${detail}${cause}`, {
      cause: e,
      hint: 'check --rekor-url, or sign without a transparency log (--no-tlog) if your policy allows',
    });
  if (code.startsWith('TSA_'))
    return new ModelshipError('NETWORK', `timestamp authority failed: ${detail}${cause}`, {
      cause: e,
      hint: 'check --tsa-url',
    });
  if (code.startsWith('IDENTITY_'))
    return new ModelshipError('AUTH', `could not get an OIDC identity token: ${detail}${cause}`, { cause: e });
  return new ModelshipError('INTERNAL', `signing failed: ${detail}${cause}`, { cause: e });
}
