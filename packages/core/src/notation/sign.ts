import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ModelshipError, opt } from '../errors.js';
import { ANNOTATION_CREATED } from '../mediatypes.js';
import type { Descriptor } from '../oci.js';
import { MODELSHIP_VERSION } from '../request/version.js';
import { pemBlocks, readKeySource, type KeySource } from '../sign/pem.js';
import { pushReferrer } from '../sign/referrer.js';
import type { ContentStore } from '../store.js';
import { parseCertificates } from './certificates.js';
import { signEnvelope } from './jws.js';
import {
  ANNOTATION_X509_CHAIN_THUMBPRINT,
  NOTARY_RESERVED_PREFIX,
  NOTATION_ARTIFACT_TYPE,
  NOTATION_JWS_MEDIA_TYPE,
  type NotationAlgorithm,
  type NotationJwsEnvelope,
  type NotationPayload,
} from './types.js';
import {
  codeSigningChainProblem,
  describe,
  formatSubject,
  keyAlgorithm,
  rfc3339,
  type NotationCertificate,
} from './x509.js';

/** What the envelope's io.cncf.notary.signingAgent names (notation-go writes `notation-go/<version>`). */
const NOTATION_SIGNING_AGENT = `modelship/${MODELSHIP_VERSION}`;

export interface NotationSignOptions {
  store: ContentStore;
  /** Tag or digest of the manifest to sign, in `store`. */
  reference: string;
  /** PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC; encrypted PKCS#8 with `keyPassword`). */
  key: KeySource;
  keyPassword?: string;
  /** PEM (or DER) certificates: the signing certificate first, then intermediates, then the root. */
  certChain: KeySource;
  /** Signed expiry ("best by use"), seconds after the signing time; none by default. */
  expirySeconds?: number;
  /** User metadata, signed as the target descriptor's annotations (`notation sign --user-metadata`). */
  annotations?: Record<string, string>;
  /** The signing time (default now); certificates must be valid then. */
  signingTime?: Date;
}

export interface NotationSignResult {
  subject: Descriptor;
  envelope: NotationJwsEnvelope;
  envelopeBytes: Buffer;
  /** The envelope blob, the referrer's one layer. */
  envelopeDescriptor: Descriptor;
  referrer: Descriptor;
  alg: NotationAlgorithm;
  signer: {
    /** Leaf subject, `C=US, ST=WA, O=acme, CN=release`. */
    subject: string;
    issuer: string;
    /** Hex SHA-256 of each certificate, leaf first (the thumbprint annotation). */
    thumbprints: string[];
  };
  signingTime: string;
  expiry?: string;
}

const KEY_HINT = 'give the PEM private key of the signing certificate (openssl genpkey writes PKCS#8)';

async function loadSigningKey(source: KeySource, password: string | undefined): Promise<KeyObject> {
  const { text, name } = await readKeySource(source, 'private key');
  const block = pemBlocks(text).find((b) => b.label.endsWith('PRIVATE KEY'));
  if (!block) throw new ModelshipError('INPUT', `${name} is not a PEM private key`, { hint: KEY_HINT });
  if (block.label.includes('SIGSTORE') || block.label.includes('COSIGN'))
    throw new ModelshipError('INPUT', `${name} is a cosign key; a Notation signature needs the certificate's key`, {
      hint: KEY_HINT,
    });
  try {
    return createPrivateKey({ key: block.text, format: 'pem', ...(password ? { passphrase: password } : {}) });
  } catch (e) {
    const encrypted = block.label === 'ENCRYPTED PRIVATE KEY' || block.legacyEncrypted;
    if (encrypted)
      throw new ModelshipError(
        password ? 'AUTH' : 'USAGE',
        `${name} is encrypted and ${password ? 'the password is wrong' : 'no password was given'}`,
        {
          cause: e,
          hint: `pass the password with ${opt('keyPassword')}`,
        },
      );
    throw new ModelshipError('INPUT', `${name} is not a valid ${block.label} (${(e as Error).message})`, {
      cause: e,
      hint: KEY_HINT,
    });
  }
}

async function loadChain(source: KeySource): Promise<NotationCertificate[]> {
  const { text, name } = await readKeySource(source, 'certificate chain');
  // PEM, as notation reads the chain beside its key (Go's tls.LoadX509KeyPair).
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new ModelshipError('INPUT', `${name} holds no PEM certificate`, {
      hint: 'give the signing certificate followed by its intermediates and root, PEM (-----BEGIN CERTIFICATE-----)',
    });
  const chain = parseCertificates(Buffer.from(text, 'utf8'), name);
  if (chain.length === 0)
    throw new ModelshipError('INPUT', `${name} holds no certificate`, {
      hint: 'give the signing certificate followed by its intermediates and root, PEM',
    });
  return chain;
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/**
 * Signs the manifest `reference` names with a Notation (Notary Project) signature and attaches
 * it as `notation sign` does (notation-go's SignOCI, GenericSigner.Sign and PushSignature;
 * docs/signing.md, "Notation: sources"): a JWS envelope over the target descriptor, signing scheme
 * notary.x509, stored as an OCI 1.1 referrer with artifactType
 * application/vnd.cncf.notary.signature, the empty config, one application/jose+json layer,
 * and the chain thumbprints and creation time as annotations. The key must belong to the
 * first certificate, and the chain must meet the spec's certificate requirements at the
 * signing time, as notation-core-go checks before it signs.
 */
export async function signNotation(options: NotationSignOptions): Promise<NotationSignResult> {
  const annotations = options.annotations ?? {};
  for (const k of Object.keys(annotations))
    if (k.startsWith(NOTARY_RESERVED_PREFIX))
      throw new ModelshipError(
        'USAGE',
        `annotation ${k} uses the prefix ${NOTARY_RESERVED_PREFIX}, which the Notary Project reserves`,
      );
  if (options.expirySeconds !== undefined && (!Number.isInteger(options.expirySeconds) || options.expirySeconds <= 0))
    throw new ModelshipError('USAGE', `expiry must be a whole number of seconds above 0, got ${options.expirySeconds}`);
  const chain = await loadChain(options.certChain);
  const privateKey = await loadSigningKey(options.key, options.keyPassword);
  const leaf = chain[0]!;
  if (!spki(createPublicKey(privateKey)).equals(spki(leaf.publicKey)))
    throw new ModelshipError(
      'INPUT',
      `the private key does not belong to the first certificate of the chain ("${describe(leaf)}")`,
      {
        hint: `${opt('cert')} must start with the signing certificate of ${opt('key')}`,
      },
    );
  const alg = keyAlgorithm(leaf.publicKey);
  if ('problem' in alg)
    throw new ModelshipError('INPUT', `cannot sign with "${describe(leaf)}": ${alg.problem}`, {
      hint: 'the Notary Project signs with RSA 2048/3072/4096 (PS256/384/512) or ECDSA P-256/384/521 (ES256/384/512)',
    });
  // Whole seconds, as notation-core-go truncates before it signs.
  const signingTime = new Date(Math.floor((options.signingTime ?? new Date()).getTime() / 1000) * 1000);
  const problem = codeSigningChainProblem(chain, signingTime);
  if (problem)
    throw new ModelshipError('INPUT', `the certificate chain cannot make a Notation signature: ${problem}`, {
      hint: 'see docs/signing.md, "Notation": a code-signing leaf, its intermediates and the root, in that order',
    });
  const expiry = options.expirySeconds ? new Date(signingTime.getTime() + options.expirySeconds * 1000) : undefined;

  const subject = await options.store.resolve(options.reference);
  const target: NotationPayload['targetArtifact'] = {
    mediaType: subject.mediaType,
    digest: subject.digest,
    size: subject.size,
    ...(Object.keys(annotations).length ? { annotations: { ...annotations } } : {}),
  };
  const { envelope, bytes } = signEnvelope({
    payload: { targetArtifact: target },
    chain,
    privateKey,
    alg: alg.alg,
    signingTime,
    ...(expiry ? { expiry } : {}),
    signingAgent: NOTATION_SIGNING_AGENT,
  });
  const attached = await attachNotationSignature(
    options.store,
    subject,
    bytes,
    chain.map((c) => c.thumbprint),
    signingTime,
  );
  return {
    subject,
    envelope,
    envelopeBytes: bytes,
    envelopeDescriptor: attached.envelope,
    referrer: attached.referrer,
    alg: alg.alg,
    signer: {
      subject: formatSubject(leaf),
      issuer: chain[1] ? formatSubject(chain[1]) : formatSubject(leaf),
      thumbprints: chain.map((c) => c.thumbprint),
    },
    signingTime: rfc3339(signingTime),
    ...(expiry ? { expiry: rfc3339(expiry) } : {}),
  };
}

/**
 * Attaches a Notation envelope as `notation sign` does (oras-go's PackManifest v1.1 for
 * notation-go): artifactType application/vnd.cncf.notary.signature, the empty config with its
 * `data`, one application/jose+json layer, and the chain thumbprints and
 * `org.opencontainers.image.created` as annotations.
 */
export async function attachNotationSignature(
  store: ContentStore,
  subject: Descriptor,
  envelopeBytes: Buffer,
  /** Hex SHA-256 of each certificate of the envelope's chain, leaf first. */
  thumbprints: string[],
  signingTime: Date,
): Promise<{ referrer: Descriptor; envelope: Descriptor }> {
  const pushed = await pushReferrer(store, subject, {
    artifactType: NOTATION_ARTIFACT_TYPE,
    layer: { mediaType: NOTATION_JWS_MEDIA_TYPE, bytes: envelopeBytes },
    annotations: {
      [ANNOTATION_X509_CHAIN_THUMBPRINT]: JSON.stringify(thumbprints),
      [ANNOTATION_CREATED]: rfc3339(signingTime),
    },
    configData: true,
  });
  return { referrer: pushed.referrer, envelope: pushed.layer };
}
