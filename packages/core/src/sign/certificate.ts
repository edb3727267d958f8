import { X509Certificate } from '@sigstore/core';
import { ModelshipError } from '../errors.js';
import type { SerializedBundleJson, SignerIdentity } from './types.js';

/** Fulcio's issuer extensions: .1.8 holds a DER UTF8String, the deprecated .1.1 the raw string. */
const OID_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
const OID_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';

/** The identity a Fulcio certificate binds: SAN (URI or email) and OIDC issuer. */
export function certificateIdentity(der: Buffer): SignerIdentity {
  let cert: X509Certificate;
  try {
    cert = X509Certificate.parse(der as Buffer<ArrayBuffer>);
  } catch (e) {
    throw new ModelshipError('INVALID', 'the bundle certificate is not a DER X.509 certificate', { cause: e });
  }
  const subject = cert.subjectAltName;
  if (!subject)
    throw new ModelshipError('INVALID', 'the bundle certificate has no URI or email subject alternative name', {
      hint: 'keyless certificates come from Fulcio; check the bundle was signed keylessly',
    });
  const v2 = cert.extension(OID_ISSUER_V2);
  // Matches @sigstore/verify, so what we report is what a policy is checked against.
  const issuer = v2
    ? v2.valueObj.subs?.[0]?.value.toString('utf8')
    : cert.extension(OID_ISSUER_V1)?.value.toString('utf8');
  return { kind: 'keyless', subject, ...(issuer ? { issuer } : {}) };
}

/** Reads the leaf certificate of a keyless bundle (v0.3 `certificate`, or a v0.1/v0.2 chain). */
export function bundleCertificate(bundle: SerializedBundleJson): Buffer {
  const vm = bundle.verificationMaterial as {
    certificate?: { rawBytes?: unknown };
    x509CertificateChain?: { certificates?: { rawBytes?: unknown }[] };
  };
  const raw = vm.certificate?.rawBytes ?? vm.x509CertificateChain?.certificates?.[0]?.rawBytes;
  if (typeof raw !== 'string' || !raw)
    throw new ModelshipError('INVALID', 'the bundle has no signing certificate', {
      hint: 'a keyless bundle carries verificationMaterial.certificate; key-signed bundles carry publicKey',
    });
  return Buffer.from(raw, 'base64');
}
