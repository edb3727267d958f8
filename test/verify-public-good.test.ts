/**
 * Real bundles from Sigstore's public-good instance (Fulcio, Rekor, CT log, TSA), checked offline
 * against the public-good trusted root pinned in test/fixtures/public-good (see its README for
 * where each file comes from). They verify as published; every mutation fails for its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity, type Signer, type VerifierOptions } from '@sigstore/verify';
import {
  OciLayoutStore,
  attachBundle,
  fulcioExtensions,
  matchSigner,
  parsePolicy,
  parseStatement,
  trustMaterial,
  verifyBundle,
  type SerializedBundleJson,
  type VerificationTrust,
  type VerifiedSigner,
} from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { startSigstoreStandins } from './helpers/sigstore.js';
import { REPO_ROOT, tempDir } from './helpers/tmp.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'public-good');
const ROOT_PATH = join(FIXTURES, 'trusted_root.json');
const read = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const json = <T>(name: string): T => JSON.parse(read(name).toString('utf8')) as T;

/** The npm provenance of sigstore@3.1.0: DSSE, v0.2 bundle, Rekor `intoto` entry with proof and promise. */
const PROVENANCE = json<SerializedBundleJson>('sigstore-3.1.0.sigstore.json');
/** A v0.3 message signature over new_bundle.txt: Rekor `hashedrekord` entry and a public-good TSA timestamp. */
const MESSAGE = json<SerializedBundleJson>('new_bundle.txt.sigstore.json');
const MESSAGE_ARTIFACT = read('new_bundle.txt');
const SIGSTORE_JS_RELEASE = 'https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main';
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';
/** `dist.integrity` of sigstore@3.1.0 on registry.npmjs.org (sha512, base64), the provenance subject. */
const SIGSTORE_310_INTEGRITY =
  'sha512-ZpzWAFHIFqyFE56dXqgX/DkDRZdz+rRcjoIk/RQU4IX0wiCv1l8S7ZrXDHcCc+uaf+6o7w3h2l3g6GYG5TKN9Q==';
/** Any sha256 manifest digest: npm subjects carry sha512 only, so none of ours can match. */
const SOME_DIGEST = `sha256:${'ab'.repeat(32)}`;
const ABOUT_ANOTHER_DIGEST = 'statement is about another digest';
const PUBLIC_GOOD: VerifierOptions = { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
function flipByte(b64: string, at = -1): string {
  const b = Buffer.from(b64, 'base64');
  b[(b.length + at) % b.length]! ^= 0x01;
  return b.toString('base64');
}

interface TlogEntryJson {
  integratedTime: string;
  logId: { keyId: string };
  inclusionPromise: { signedEntryTimestamp: string };
  inclusionProof: { hashes: string[]; checkpoint: { envelope: string } };
  canonicalizedBody: string;
}
interface MaterialJson {
  x509CertificateChain?: { certificates: { rawBytes: string }[] };
  certificate?: { rawBytes: string };
  tlogEntries: TlogEntryJson[];
  timestampVerificationData?: { rfc3161Timestamps: { signedTimestamp: string }[] };
}
const material = (b: SerializedBundleJson): MaterialJson => b.verificationMaterial as unknown as MaterialJson;
const tlogEntry = (b: SerializedBundleJson): TlogEntryJson => material(b).tlogEntries[0]!;
const leafDer = (b: SerializedBundleJson): Buffer => {
  const m = material(b);
  return Buffer.from((m.certificate ?? m.x509CertificateChain!.certificates[0]!).rawBytes, 'base64');
};

let trust: VerificationTrust;
const tmp = tempDir();
beforeAll(async () => {
  trust = await trustMaterial({ trustedRootPath: ROOT_PATH });
});
afterAll(() => tmp.cleanup());

describe('fixtures are what the README says', () => {
  it('files hash to the recorded SHA-256 (no silent edits)', () => {
    const readme = read('README.md').toString('utf8');
    for (const name of [
      'trusted_root.json',
      'sigstore-3.1.0.sigstore.json',
      'new_bundle.txt.sigstore.json',
      'new_bundle.txt',
    ]) {
      const hex = createHash('sha256').update(read(name)).digest('hex');
      expect(readme).toContain(`\`${name}\` | \`${hex}\``);
    }
  });
});

describe('public-good DSSE bundle: npm provenance of sigstore@3.1.0 (sigstore-js release workflow)', () => {
  it('verifies offline against the pinned public-good root; the statement is about the npm tarball', () => {
    const signer: Signer = new Verifier(trust.material, PUBLIC_GOOD).verify(toSignedEntity(bundleFromJSON(PROVENANCE)));
    expect(signer.identity).toMatchObject({
      subjectAlternativeName: SIGSTORE_JS_RELEASE,
      extensions: { issuer: GITHUB_ISSUER },
    });
    const statement = parseStatement(Buffer.from(PROVENANCE.dsseEnvelope!.payload, 'base64'));
    expect(statement.predicateType).toBe('https://slsa.dev/provenance/v1');
    expect(statement.subject).toEqual([
      {
        name: 'pkg:npm/sigstore@3.1.0',
        digest: { sha512: Buffer.from(SIGSTORE_310_INTEGRITY.slice('sha512-'.length), 'base64').toString('hex') },
      },
    ]);
  });

  it("modelship's verifyBundle accepts the signature and stops only at the subject (sha512, not a manifest digest)", () => {
    // Every cryptographic check passed, or the reason would name it (see the mutations below).
    expect(verifyBundle(PROVENANCE, SOME_DIGEST, trust)).toEqual({ ok: false, reason: ABOUT_ANOTHER_DIGEST });
  });

  it('reads the real Fulcio extensions of the certificate', () => {
    expect(fulcioExtensions(leafDer(PROVENANCE))).toEqual({
      buildSignerURI: SIGSTORE_JS_RELEASE,
      buildSignerDigest: '06cd267cbdc2eeaa04294995622db9f6ad2fa7cf',
      runnerEnvironment: 'github-hosted',
      sourceRepositoryURI: 'https://github.com/sigstore/sigstore-js',
      sourceRepositoryDigest: '06cd267cbdc2eeaa04294995622db9f6ad2fa7cf',
      sourceRepositoryRef: 'refs/heads/main',
      sourceRepositoryIdentifier: '495574555',
      sourceRepositoryOwnerURI: 'https://github.com/sigstore',
      sourceRepositoryOwnerIdentifier: '71096353',
      buildConfigURI: SIGSTORE_JS_RELEASE,
      buildConfigDigest: '06cd267cbdc2eeaa04294995622db9f6ad2fa7cf',
      buildTrigger: 'push',
      runInvocationURI: 'https://github.com/sigstore/sigstore-js/actions/runs/13144357684/attempts/1',
      sourceRepositoryVisibilityAtSigning: 'public',
    });
  });

  it('the policy `github` shorthand for its workflow matches the verified signer; look-alikes do not', () => {
    const id = new Verifier(trust.material, PUBLIC_GOOD).verify(toSignedEntity(bundleFromJSON(PROVENANCE))).identity!;
    const signer: VerifiedSigner = {
      kind: 'keyless',
      subject: id.subjectAlternativeName!,
      issuer: id.extensions!.issuer!,
      extensions: fulcioExtensions(leafDer(PROVENANCE)),
    };
    const matches = (signerYaml: string): boolean =>
      matchSigner(signer, parsePolicy(`version: 1\nsigners:\n  - ${signerYaml}\n`, 'p.yaml').signers, new Map()) !==
      undefined;
    expect(
      matches(
        'github: { repository: sigstore/sigstore-js, workflow: .github/workflows/release.yml, ref: refs/heads/main }',
      ),
    ).toBe(true);
    expect(
      matches(
        "github: { repository: sigstore/sigstore-js, workflow: .github/workflows/release.yml, ref: '^refs/heads/(main|release/.+)$' }",
      ),
    ).toBe(true);
    expect(
      matches(
        `keyless: { issuer: ${GITHUB_ISSUER}, identity: '^https://github\\.com/sigstore/sigstore-js/\\.github/workflows/release\\.yml@refs/heads/main$' }`,
      ),
    ).toBe(true);
    for (const lookalike of [
      'github: { repository: sigstore/sigstore, workflow: .github/workflows/release.yml, ref: refs/heads/main }',
      'github: { repository: evil-org/sigstore-js, workflow: .github/workflows/release.yml, ref: refs/heads/main }',
      'github: { repository: sigstore/sigstore-js, workflow: .github/workflows/publish.yml, ref: refs/heads/main }',
      'github: { repository: sigstore/sigstore-js, workflow: .github/workflows/release.yml, ref: refs/heads/mai }',
      'github: { repository: sigstore/sigstore-js, workflow: .github/workflows/release.yml, ref: refs/tags/v3.1.0 }',
      // The right identity from another issuer.
      `keyless: { issuer: https://accounts.google.com, identity: '^${SIGSTORE_JS_RELEASE.replace(/\./g, '\\.')}$' }`,
      // An identity regex written for a fork.
      "keyless: { issuer: https://token.actions.githubusercontent.com, identity: '^https://github\\.com/evil-org/sigstore-js/.+$' }",
    ])
      expect(matches(lookalike)).toBe(false);
  });

  it('through the CLI: attached to a model as a referrer it verifies cryptographically, but is about another artifact', async () => {
    const layout = join(tmp.dir, 'oci');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const store = await OciLayoutStore.open(layout);
    try {
      await attachBundle(store, await store.resolve(digest), PROVENANCE, 'https://slsa.dev/provenance/v1');
    } finally {
      await store.close();
    }
    const policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nsigners:\n  - github: { repository: sigstore/sigstore-js, workflow: .github/workflows/release.yml, ref: refs/heads/main }\nrequire:\n  predicates: [https://slsa.dev/provenance/v1]\ntrust:\n  trustedRoot: ${ROOT_PATH}\n`,
    );
    const r = await runCli(['verify', `oci:${layout}@${digest}`, '--policy', policy]);
    expect(r.status).toBe(9);
    expect(r.stdout).toMatch(
      /FAIL require\.predicates: https:\/\/slsa\.dev\/provenance\/v1: no attestation from a trusted signer/,
    );
    expect(r.stdout).toMatch(/^ {2}rejected \? +\(statement is about another digest\)$/m);
  });

  describe('mutations fail, each for its own reason', () => {
    const mutations: [string, (b: SerializedBundleJson) => void, RegExp][] = [
      [
        'a flipped signature byte',
        (b) => {
          b.dsseEnvelope!.signatures[0]!.sig = flipByte(b.dsseEnvelope!.signatures[0]!.sig);
        },
        /TLOG_BODY_ERROR: tlog entry signature mismatch/,
      ],
      [
        'a changed statement (builder id)',
        (b) => {
          const st = JSON.parse(Buffer.from(b.dsseEnvelope!.payload, 'base64').toString('utf8')) as {
            predicate: { runDetails: { builder: { id: string } } };
          };
          st.predicate.runDetails.builder.id = 'https://github.com/evil-org/runner';
          b.dsseEnvelope!.payload = Buffer.from(JSON.stringify(st)).toString('base64');
        },
        /TLOG_BODY_ERROR: DSSE payload hash mismatch/,
      ],
      [
        'a swapped certificate (another public-good certificate)',
        (b) => {
          material(b).x509CertificateChain!.certificates[0]!.rawBytes = leafDer(MESSAGE).toString('base64');
        },
        // Issued in 2026, so not valid at the 2025 log time: the chain check fails first.
        /CERTIFICATE_ERROR/,
      ],
      [
        'an altered inclusion-proof hash',
        (b) => {
          const hashes = tlogEntry(b).inclusionProof.hashes;
          hashes[3] = flipByte(hashes[3]!);
        },
        /TLOG_INCLUSION_PROOF_ERROR: calculated root hash does not match inclusion proof/,
      ],
      [
        'a forged checkpoint signature',
        (b) => {
          const cp = tlogEntry(b).inclusionProof.checkpoint;
          cp.envelope = cp.envelope.replace('wNI9ajBFAiAX', 'wNI9ajBFAiAY');
        },
        /TLOG_INCLUSION_PROOF_ERROR: invalid checkpoint signature/,
      ],
      [
        'a moved integrated time',
        (b) => {
          tlogEntry(b).integratedTime = String(Number(tlogEntry(b).integratedTime) + 1);
        },
        /TLOG_INCLUSION_PROMISE_ERROR/,
      ],
      [
        'an altered log entry body',
        (b) => {
          const e = tlogEntry(b);
          const body = JSON.parse(Buffer.from(e.canonicalizedBody, 'base64').toString('utf8')) as {
            spec: { content: { payloadHash: { value: string } } };
          };
          body.spec.content.payloadHash.value = 'ab'.repeat(32);
          e.canonicalizedBody = Buffer.from(JSON.stringify(body)).toString('base64');
        },
        /TLOG_INCLUSION_PROMISE_ERROR/,
      ],
      [
        // Public-good's root has a Rekor log: a bundle cannot drop its entry.
        'no transparency log entry (and no TSA timestamp)',
        (b) => {
          material(b).tlogEntries = [];
        },
        /^no transparency log entry, but the trusted root has a transparency log/,
      ],
    ];
    for (const [name, mutate, expected] of mutations) {
      it(name, () => {
        const b = clone(PROVENANCE);
        mutate(b);
        const v = verifyBundle(b, SOME_DIGEST, trust);
        expect(v.ok).toBe(false);
        if (!v.ok) {
          expect(v.reason).toMatch(expected);
          expect(v.reason).not.toBe(ABOUT_ANOTHER_DIGEST);
        }
      });
    }

    it('no transparency log entry with trust.requireTlog: false: still no trusted time without a TSA timestamp', () => {
      const b = clone(PROVENANCE);
      material(b).tlogEntries = [];
      expect(verifyBundle(b, SOME_DIGEST, trust, { requireTlog: false })).toEqual({
        ok: false,
        reason: expect.stringMatching(/TIMESTAMP_ERROR: expected 1 timestamps, got 0/),
      });
    });
  });

  describe('the wrong trusted root fails', () => {
    type Root = { certificateAuthorities: unknown[]; tlogs: unknown[]; ctlogs: unknown[] };
    const publicGood = json<Root>('trusted_root.json');
    const cases: [string, () => Promise<object>, RegExp][] = [
      [
        'another instance (the stand-ins)',
        async () => {
          const s = await startSigstoreStandins({ fulcio: false, rekor: false, tsa: false });
          await s.stop();
          return s.trustedRoot;
        },
        /CERTIFICATE_ERROR/,
      ],
      [
        'public-good without its Fulcio CAs',
        async () => ({ ...clone(publicGood), certificateAuthorities: [] }),
        /CERTIFICATE_ERROR/,
      ],
      [
        'public-good without its CT logs',
        async () => ({ ...clone(publicGood), ctlogs: [] }),
        /CERTIFICATE_ERROR: SCT verification failed/,
      ],
      [
        'public-good without its Rekor keys',
        async () => ({ ...clone(publicGood), tlogs: [] }),
        /TLOG_INCLUSION_PROMISE_ERROR/,
      ],
    ];
    for (const [name, root, expected] of cases) {
      it(name, async () => {
        const v = verifyBundle(PROVENANCE, SOME_DIGEST, await trustMaterial({ trustedRoot: await root() }));
        expect(v.ok).toBe(false);
        if (!v.ok) expect(v.reason).toMatch(expected);
      });
    }
  });
});

describe('public-good message signature (v0.3, Rekor hashedrekord + public-good TSA)', () => {
  const verify = (bundle: SerializedBundleJson, artifact: Buffer, t = trust, options: VerifierOptions = {}): Signer =>
    new Verifier(t.material, { ...PUBLIC_GOOD, ...options }).verify(toSignedEntity(bundleFromJSON(bundle), artifact));

  it('verifies with both timestamps (Rekor and TSA) required', () => {
    const signer = verify(MESSAGE, MESSAGE_ARTIFACT, trust, { timestampThreshold: 2 });
    expect(signer.identity).toMatchObject({ extensions: { issuer: 'https://github.com/login/oauth' } });
    expect(signer.identity?.subjectAlternativeName).toMatch(/@/);
  });

  it('modelship refuses it: a message signature carries no statement to bind to a manifest', () => {
    expect(verifyBundle(MESSAGE, SOME_DIGEST, trust)).toEqual({
      ok: false,
      reason: 'not a DSSE bundle (a message signature carries no statement)',
    });
  });

  it('another artifact fails the signature', () => {
    expect(() => verify(MESSAGE, Buffer.from('Sigstore current issuer certificate regression test!\n'))).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_ERROR' }),
    );
  });

  it('a flipped signature byte fails at the TSA timestamp, which is over the signature', () => {
    const b = clone(MESSAGE);
    const sig = b.messageSignature as { signature: string };
    sig.signature = flipByte(sig.signature);
    expect(() => verify(b, MESSAGE_ARTIFACT)).toThrow(expect.objectContaining({ code: 'TIMESTAMP_ERROR' }));
  });

  it('a tampered TSA token, or a root without the TSA, fails the timestamps', async () => {
    const b = clone(MESSAGE);
    const ts = material(b).timestampVerificationData!.rfc3161Timestamps[0]!;
    ts.signedTimestamp = flipByte(ts.signedTimestamp, -20);
    expect(() => verify(b, MESSAGE_ARTIFACT, trust, { timestampThreshold: 2 })).toThrow(
      expect.objectContaining({ code: 'TIMESTAMP_ERROR' }),
    );
    const noTsa = await trustMaterial({
      trustedRoot: { ...json<object>('trusted_root.json'), timestampAuthorities: [] },
    });
    expect(() => verify(MESSAGE, MESSAGE_ARTIFACT, noTsa, { timestampThreshold: 2 })).toThrow(
      expect.objectContaining({ code: 'TIMESTAMP_ERROR' }),
    );
    // Not "one of two is enough": every timestamp a bundle carries must verify, even when the
    // Rekor one alone would meet the threshold.
    expect(() => verify(MESSAGE, MESSAGE_ARTIFACT, noTsa, { timestampThreshold: 1 })).toThrow(
      expect.objectContaining({ code: 'TIMESTAMP_ERROR' }),
    );
  });
});

describe('old bundle shapes', () => {
  it('a v0.1 bundle whose inclusion proof has no checkpoint is refused with a reason, not a TypeError', async () => {
    const old = clone(PROVENANCE) as unknown as {
      mediaType: string;
      verificationMaterial: { tlogEntries: { inclusionProof: { checkpoint?: unknown } }[] };
    };
    old.mediaType = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
    delete old.verificationMaterial.tlogEntries[0]!.inclusionProof.checkpoint;
    const r = verifyBundle(old, SOME_DIGEST, await trustMaterial({ trustedRootPath: ROOT_PATH }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/^bundle shape not supported by the verifier \(.*version=0\.1\).*re-sign/);
  });
});
