import { constants, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  algorithmHash,
  codeSigningChainProblem,
  keyAlgorithm,
  parseCertificate,
  rfc3339,
  type NotationCertificate,
} from './x509.js';
import {
  HEADER_AUTHENTIC_SIGNING_TIME,
  HEADER_EXPIRY,
  HEADER_SIGNING_AGENT,
  HEADER_SIGNING_SCHEME,
  HEADER_SIGNING_TIME,
  HEADER_TIMESTAMP_SIGNATURE,
  NOTATION_PAYLOAD_MEDIA_TYPE,
  SIGNING_SCHEME_X509,
  SIGNING_SCHEME_X509_SIGNING_AUTHORITY,
  type NotationAlgorithm,
  type NotationJwsEnvelope,
  type NotationPayload,
} from './types.js';

/**
 * The JWS envelope of signature-envelope-jws.md, written and read the way notation-core-go
 * does (its jws package; docs/signing.md, "Notation: sources"). Hand-written over node:crypto rather than
 * signed with the `jose` package: the envelope's bytes follow notation-go's (JSON keys of the
 * protected header and payload sorted, as Go marshals the maps golang-jwt signs), and the
 * tests check it with `jose` as an independent implementation.
 */

const ALGORITHMS: readonly NotationAlgorithm[] = ['PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
const REGISTERED_HEADERS = ['alg', 'cty', 'crit', 'jku', 'jwk', 'kid', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'typ', 'b64'];
const KNOWN_CRITICAL = [HEADER_SIGNING_SCHEME, HEADER_EXPIRY, HEADER_AUTHENTIC_SIGNING_TIME];
const ENVELOPE_KEYS = ['payload', 'protected', 'header', 'signature'];

/** JSON with object keys sorted at every level, as Go's encoding/json writes a map. */
export function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function fromB64url(s: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error(`${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function parseTime(v: unknown, name: string): Date | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !RFC3339.test(v)) throw new Error(`${name} is not an RFC 3339 time`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`${name} is not an RFC 3339 time`);
  return d;
}

function signOptions(alg: NotationAlgorithm, key: KeyObject) {
  return alg.startsWith('PS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
    : { key, dsaEncoding: 'ieee-p1363' as const };
}

/** golang-jwt verifies PSS with any salt length (rsa.PSSSaltLengthAuto); it signs with the hash length. */
function verifyOptions(alg: NotationAlgorithm, key: KeyObject) {
  return alg.startsWith('PS')
    ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }
    : { key, dsaEncoding: 'ieee-p1363' as const };
}

interface SignEnvelopeInput {
  payload: NotationPayload;
  /** Leaf first, root last. */
  chain: NotationCertificate[];
  privateKey: KeyObject;
  alg: NotationAlgorithm;
  signingTime: Date;
  expiry?: Date;
  signingAgent: string;
}

/** Signs the payload: protected header with the notary.x509 scheme, x5c and signing agent unprotected. */
export function signEnvelope(input: SignEnvelopeInput): { envelope: NotationJwsEnvelope; bytes: Buffer } {
  const crit = [HEADER_SIGNING_SCHEME, ...(input.expiry ? [HEADER_EXPIRY] : [])];
  const header: Record<string, unknown> = {
    alg: input.alg,
    cty: NOTATION_PAYLOAD_MEDIA_TYPE,
    crit,
    [HEADER_SIGNING_SCHEME]: SIGNING_SCHEME_X509,
    [HEADER_SIGNING_TIME]: rfc3339(input.signingTime),
    ...(input.expiry ? { [HEADER_EXPIRY]: rfc3339(input.expiry) } : {}),
  };
  const protectedB64 = b64url(sortedJson(header));
  const payloadB64 = b64url(sortedJson(input.payload));
  const signature = cryptoSign(
    algorithmHash(input.alg),
    Buffer.from(`${protectedB64}.${payloadB64}`, 'ascii'),
    signOptions(input.alg, input.privateKey),
  );
  // Field order of notation-core-go's jwsEnvelope and jwsUnprotectedHeader structs.
  const envelope: NotationJwsEnvelope = {
    payload: payloadB64,
    protected: protectedB64,
    header: { x5c: input.chain.map((c) => c.der.toString('base64')), [HEADER_SIGNING_AGENT]: input.signingAgent },
    signature: b64url(signature),
  };
  return { envelope, bytes: Buffer.from(JSON.stringify(envelope), 'utf8') };
}

/** An envelope whose signature, headers and certificate chain passed the integrity checks. */
export interface VerifiedEnvelope {
  alg: NotationAlgorithm;
  signingScheme: string;
  signingTime: Date;
  expiry?: Date;
  chain: NotationCertificate[];
  payload: NotationPayload;
  signingAgent?: string;
  /** An RFC 3161 countersignature was attached (not verified: no TSA trust store, docs/signing.md). */
  timestamped: boolean;
}

function object(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The integrity step of trust-store-trust-policy.md ("Signature Verification", step 3) for a
 * JWS envelope: it parses, its headers are the ones the spec requires (critical ones marked
 * and understood), `alg` is the one the signing certificate's key calls for, the certificate
 * chain meets the certificate requirements, and the signature verifies with the leaf's key.
 * Trust (which roots, which identities, which time) is the caller's. Returns the reason
 * verification failed.
 */
export function verifyEnvelope(
  bytes: Buffer,
): { ok: true; envelope: VerifiedEnvelope } | { ok: false; reason: string } {
  try {
    return { ok: true, envelope: checkEnvelope(bytes) };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

function checkEnvelope(bytes: Buffer): VerifiedEnvelope {
  let env: unknown;
  try {
    env = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('malformed envelope: not JSON');
  }
  if (!object(env)) throw new Error('malformed envelope: not a JSON object');
  const extra = Object.keys(env).filter((k) => !ENVELOPE_KEYS.includes(k));
  if (extra.length)
    throw new Error(`malformed envelope: ${extra.join(', ')} (only the flattened JWS JSON serialization is allowed)`);
  for (const k of ['payload', 'protected', 'signature'])
    if (typeof env[k] !== 'string') throw new Error(`malformed envelope: no ${k}`);
  if (!object(env['header'])) throw new Error('malformed envelope: no unprotected header');
  const unprotected = env['header'];
  const x5c = unprotected['x5c'];
  if (!Array.isArray(x5c) || x5c.length === 0 || !x5c.every((c) => typeof c === 'string'))
    throw new Error('malformed envelope: the x5c certificate chain is missing');
  const chain = (x5c as string[]).map((c, i) => {
    try {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(c)) throw new Error('not base64');
      return parseCertificate(Buffer.from(c, 'base64'));
    } catch (e) {
      throw new Error(`malformed certificate ${i + 1} in x5c: ${(e as Error).message}`);
    }
  });

  let header: unknown;
  try {
    header = JSON.parse(fromB64url(env['protected'] as string, 'protected header').toString('utf8'));
  } catch (e) {
    throw new Error(`malformed protected header: ${(e as Error).message}`);
  }
  if (!object(header)) throw new Error('malformed protected header: not a JSON object');
  const alg = header['alg'];
  if (typeof alg !== 'string' || !(ALGORITHMS as readonly string[]).includes(alg))
    throw new Error(
      `unsupported signature algorithm ${JSON.stringify(alg)} (the Notary Project allows ${ALGORITHMS.join(', ')})`,
    );
  if (header['cty'] !== NOTATION_PAYLOAD_MEDIA_TYPE)
    throw new Error(`payload content type ${JSON.stringify(header['cty'])} is not ${NOTATION_PAYLOAD_MEDIA_TYPE}`);
  const scheme = header[HEADER_SIGNING_SCHEME];
  if (scheme !== SIGNING_SCHEME_X509) {
    if (scheme === SIGNING_SCHEME_X509_SIGNING_AUTHORITY)
      throw new Error(
        `signing scheme ${SIGNING_SCHEME_X509_SIGNING_AUTHORITY} needs a signing-authority trust store; modelship verifies ${SIGNING_SCHEME_X509} signatures (a CA trust store) only`,
      );
    throw new Error(`unsupported signing scheme ${JSON.stringify(scheme)}`);
  }
  if (header[HEADER_AUTHENTIC_SIGNING_TIME] !== undefined)
    throw new Error(
      `${HEADER_AUTHENTIC_SIGNING_TIME} must not be present for the ${SIGNING_SCHEME_X509} signing scheme`,
    );
  const signingTime = parseTime(header[HEADER_SIGNING_TIME], HEADER_SIGNING_TIME);
  if (!signingTime) throw new Error(`the signed attribute ${HEADER_SIGNING_TIME} is missing`);
  const expiry = parseTime(header[HEADER_EXPIRY], HEADER_EXPIRY);
  if (expiry && expiry <= signingTime) throw new Error('the expiry is not after the signing time');

  const crit = header['crit'];
  if (!Array.isArray(crit) || crit.length === 0 || !crit.every((c) => typeof c === 'string'))
    throw new Error('the protected header has no "crit" list');
  const mustBeCritical = [HEADER_SIGNING_SCHEME, ...(expiry ? [HEADER_EXPIRY] : [])];
  const unmarked = mustBeCritical.filter((h) => !crit.includes(h));
  if (unmarked.length) throw new Error(`required headers not marked critical: ${unmarked.join(', ')}`);
  for (const c of crit as string[]) {
    if (REGISTERED_HEADERS.includes(c)) throw new Error(`"crit" lists the registered header ${c}`);
    if (!(c in header)) throw new Error(`header ${c} is marked critical but not present`);
    // A critical attribute must be understood. Verification plugins are not run here, so a
    // signature that asks for one (io.cncf.notary.verificationPlugin) fails, as the spec
    // requires of implementations without plugin support.
    if (!KNOWN_CRITICAL.includes(c)) throw new Error(`critical header ${c} is not supported`);
  }

  const leafAlg = keyAlgorithm(chain[0]!.publicKey);
  if ('problem' in leafAlg) throw new Error(`signing certificate: ${leafAlg.problem}`);
  if (leafAlg.alg !== alg)
    throw new Error(`the header says ${alg}, but the signing certificate's key calls for ${leafAlg.alg}`);
  const sig = fromB64url(env['signature'] as string, 'signature');
  if (sig.length === 0) throw new Error('the signature is empty');
  const input = Buffer.from(`${env['protected'] as string}.${env['payload'] as string}`, 'ascii');
  let verified = false;
  try {
    verified = cryptoVerify(
      algorithmHash(alg as NotationAlgorithm),
      input,
      verifyOptions(alg as NotationAlgorithm, chain[0]!.publicKey),
      sig,
    );
  } catch {
    verified = false;
  }
  if (!verified)
    throw new Error(
      `signature does not verify with the signing certificate's key (integrity: the payload or its headers were changed)`,
    );
  // After the signature, as notation-core-go validates the signer info once the JWT verified.
  const chainProblem = codeSigningChainProblem(chain);
  if (chainProblem) throw new Error(`invalid certificate chain: ${chainProblem}`);

  let payload: unknown;
  try {
    payload = JSON.parse(fromB64url(env['payload'] as string, 'payload').toString('utf8'));
  } catch (e) {
    throw new Error(`malformed payload: ${(e as Error).message}`);
  }
  const target = object(payload) ? payload['targetArtifact'] : undefined;
  if (
    !object(target) ||
    typeof target['mediaType'] !== 'string' ||
    typeof target['digest'] !== 'string' ||
    typeof target['size'] !== 'number'
  )
    throw new Error('malformed payload: targetArtifact needs mediaType, digest and size');
  const agent = unprotected[HEADER_SIGNING_AGENT];
  return {
    alg: alg as NotationAlgorithm,
    signingScheme: scheme,
    signingTime,
    ...(expiry ? { expiry } : {}),
    chain,
    payload: payload as unknown as NotationPayload,
    ...(typeof agent === 'string' ? { signingAgent: agent } : {}),
    timestamped: typeof unprotected[HEADER_TIMESTAMP_SIGNATURE] === 'string',
  };
}
