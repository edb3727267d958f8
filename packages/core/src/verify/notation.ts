import { ModelshipError } from '../errors.js';
import { loadTrustStore } from '../notation/certificates.js';
import { NOTATION_ARTIFACT_TYPE } from '../notation/types.js';
import { verifyNotationReferrers, type NotationTrust } from '../notation/verify.js';
import type { Descriptor, Manifest } from '../oci.js';
import type { Policy } from '../policy/types.js';
import type { ReadOnlyStore } from '../store.js';
import type { VerifiedSigner } from './bundles.js';
import type { BundleReport } from './evaluate.js';

/** The policy's notation signers with their trust stores read (INPUT naming the policy line when one cannot be). */
export async function notationTrust(policy: Policy): Promise<NotationTrust[]> {
  const out: NotationTrust[] = [];
  for (const s of policy.signers) {
    if (s.type !== 'notation') continue;
    try {
      out.push({
        line: s.line,
        trustStore: s.trustStore,
        anchors: await loadTrustStore(s.trustStore),
        identities: s.identities,
      });
    } catch (e) {
      if (e instanceof ModelshipError)
        throw new ModelshipError(e.code, `${policy.source}:${s.line}: ${e.message}`, {
          cause: e,
          ...(e.hint ? { hint: e.hint } : {}),
        });
      throw e;
    }
  }
  return out;
}

/** Notation signatures among the referrers, as report rows, and the signers the policy trusts. */
export async function verifyNotation(
  store: ReadOnlyStore,
  subject: Descriptor,
  referrers: readonly { referrer: Descriptor; manifest: Manifest }[],
  trust: readonly NotationTrust[],
): Promise<{ reports: BundleReport[]; trusted: VerifiedSigner[] }> {
  const reports: BundleReport[] = [];
  const trusted: VerifiedSigner[] = [];
  for (const r of await verifyNotationReferrers(store, subject, referrers, trust)) {
    const v = r.verification;
    const row: BundleReport = {
      referrer: r.referrer.digest,
      bundle: r.envelopeDigest ?? '',
      predicateType: NOTATION_ARTIFACT_TYPE,
      verified: v.ok,
      trusted: v.ok && v.matchedLine !== undefined,
      format: 'notation',
    };
    if (!v.ok) {
      reports.push({ ...row, reason: v.reason });
      continue;
    }
    const signer: VerifiedSigner = {
      kind: 'notation',
      subject: v.signer.subject,
      issuer: v.signer.issuer,
      keyHint: v.signer.keyHint,
      x509Name: v.signer.x509Name,
      extensions: {},
    };
    reports.push({
      ...row,
      signer,
      ...(v.matchedLine !== undefined
        ? { matchedSignerLine: v.matchedLine }
        : { reason: `signer ${v.signer.subject} is not trusted by the policy: ${v.untrusted ?? ''}` }),
    });
    if (v.matchedLine !== undefined) trusted.push(signer);
  }
  return { reports, trusted };
}
