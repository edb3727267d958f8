/**
 * Signatures Notation itself wrote (test/fixtures/notation-go/README.md names the files and the
 * notation-go commit) verify with modelship as notation-go verifies them, and their bytes have
 * the layout modelship writes (sorted protected-header keys, envelope and header field order).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore } from '../src/memory-store.js';
import { sortedJson, verifyEnvelope } from '../src/notation/jws.js';
import { attachNotationSignature } from '../src/notation/sign.js';
import { verifyNotationSignature } from '../src/notation/verify.js';
import { parseCertificate } from '../src/notation/x509.js';
import { OCI_MANIFEST } from '../src/mediatypes.js';
import { parsePolicy } from '../src/policy/parse.js';
import { verifyArtifact } from '../src/verify/evaluate.js';
import { parseTrustedIdentities } from '../src/notation/dn.js';
import { REPO_ROOT, tempDir } from '../../../test/helpers/tmp.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'notation-go');
const read = (f: string) => readFileSync(join(FIXTURES, f));
const tmp = tempDir();
afterAll(() => tmp.cleanup());

const HASHES: Record<string, string> = {
  'jws_signature.sig': '586c5e0f341d7d07e835a06b7c9f21c21fff4f4a85933079e5859f99ba0ad02d',
  'alpine-manifest.json': '19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0',
  'jwsWithTimestamp.sig': 'e35cc96b32bda7060fd4d7fde07486fdc21c8b0c6a7bebe9afc5999b14db76bd',
  'sa_valid_sig_env.json': '0e3f0c4bcfffaf184e8a67f2a8b5c8460a942976bd17a5607d3f15c15b6d679f',
};

/** The envelope's own certificate (these chains are one self-signed certificate) as the trust anchor. */
function selfAnchor(envelope: Buffer) {
  const x5c = (JSON.parse(envelope.toString()) as { header: { x5c: string[] } }).header.x5c;
  expect(x5c).toHaveLength(1);
  return parseCertificate(Buffer.from(x5c[0]!, 'base64'));
}

describe('signatures notation-go wrote', () => {
  it('are the fixture bytes the README names', () => {
    for (const [f, h] of Object.entries(HASHES))
      expect([f, createHash('sha256').update(read(f)).digest('hex')]).toEqual([f, h]);
  });

  it('jws_signature.sig verifies against its manifest through modelship verify, trusted by subject', async () => {
    const manifestBytes = read('alpine-manifest.json');
    const store = new MemoryStore();
    const subject = {
      mediaType: OCI_MANIFEST,
      digest: `sha256:${HASHES['alpine-manifest.json']}`,
      size: manifestBytes.length,
    };
    await store.push(subject, manifestBytes);
    const envelope = read('jws_signature.sig');
    const anchor = selfAnchor(envelope);
    await attachNotationSignature(store, subject, envelope, [anchor.thumbprint], new Date('2023-03-14T08:10:02Z'));
    const trustStore = join(tmp.dir, 'notary-test-root.pem');
    writeFileSync(trustStore, anchor.x509.toString());
    const policy = parsePolicy(
      `version: 1\nsigners:\n  - notation: { trustStore: ${trustStore}, identities: ["x509.subject: C=US, ST=WA, L=Seattle, O=Notary"] }\n`,
      'policy.yaml',
    );
    const report = await verifyArtifact({ store, reference: subject.digest, policy });
    expect(report.ok).toBe(true);
    expect(report.bundles).toEqual([
      expect.objectContaining({
        format: 'notation',
        verified: true,
        trusted: true,
        matchedSignerLine: 3,
        signer: expect.objectContaining({ kind: 'notation', subject: 'C=US, ST=WA, L=Seattle, O=Notary, CN=alpine' }),
      }),
    ]);
  });

  it('jwsWithTimestamp.sig verifies without its countersignature checked, as notation does with no TSA trust store', () => {
    const envelope = read('jwsWithTimestamp.sig');
    const subject = {
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      digest: 'sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda',
      size: 528,
    };
    const trust = [
      {
        line: 1,
        trustStore: 'test',
        anchors: [selfAnchor(envelope)],
        identities: parseTrustedIdentities(['*']).identities,
      },
    ];
    const v = verifyNotationSignature(envelope, subject, trust, new Date('2030-01-01T00:00:00Z'));
    expect(v).toMatchObject({ ok: true, matchedLine: 1, envelope: { alg: 'PS256', timestamped: true } });
    // After its certificate expired (2033), no trusted timestamp can stand in for it here.
    expect(verifyNotationSignature(envelope, subject, trust, new Date('2034-01-01T00:00:00Z'))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/expired at 2033-05-10T04:55:12Z/),
    });
  });

  it('a notary.x509.signingAuthority signature is refused, saying which scheme it needs', () => {
    expect(verifyEnvelope(read('sa_valid_sig_env.json'))).toEqual({
      ok: false,
      reason:
        'signing scheme notary.x509.signingAuthority needs a signing-authority trust store; modelship verifies notary.x509 signatures (a CA trust store) only',
    });
  });

  it('have the byte layout modelship writes: sorted protected-header keys, envelope and header fields in Go struct order', () => {
    for (const f of ['jws_signature.sig', 'jwsWithTimestamp.sig']) {
      const env = JSON.parse(read(f).toString()) as { protected: string; header: Record<string, unknown> };
      expect(Object.keys(env)).toEqual(['payload', 'protected', 'header', 'signature']);
      const header = Buffer.from(env.protected, 'base64url').toString();
      expect(sortedJson(JSON.parse(header))).toBe(header);
      expect(Object.keys(env.header).filter((k) => k !== 'io.cncf.notary.timestampSignature')).toEqual([
        'x5c',
        'io.cncf.notary.signingAgent',
      ]);
    }
  });
});
