/**
 * Keyless signing against offline stand-ins for Fulcio, Rekor, a TSA and the GitHub Actions
 * OIDC endpoint (test/helpers/sigstore.ts), verified with @sigstore/verify and a trusted root
 * built from the stand-ins' keys.
 *
 * Rekor entries use `intoto` here: the mock stores `dsse` entries verbatim where real Rekor
 * canonicalises them, so mocked dsse entries fail body verification. The default stays `dsse`
 * (what actions/attest writes to real Rekor); one test pins that down.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial, type VerifierOptions } from '@sigstore/verify';
import { ModelshipError, opt } from '../packages/core/src/errors.js';
import { signStatement } from '../packages/core/src/sign/bundle.js';
import { keylessSetup, type KeylessOptions } from '../packages/core/src/sign/keyless.js';
import { signatureStatement } from '../packages/core/src/sign/statement.js';
import type { SerializedBundleJson, SigningSetup } from '../packages/core/src/sign/types.js';
import {
  GITHUB_ACTIONS_ISSUER,
  STANDIN_WORKFLOW_SAN,
  startSigstoreStandins,
  type SigstoreStandins,
} from './helpers/sigstore.js';
import { rejection } from '../packages/core/test/rejection.js';

const NAME = '127.0.0.1:5000/acme/model';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const SAN_POLICY = /^https:\/\/github\.com\/acme\/models\/\.github\/workflows\/release\.yml@refs\/heads\/main$/;

let s: SigstoreStandins;

beforeAll(async () => {
  s = await startSigstoreStandins();
});
afterAll(async () => {
  await s?.stop();
});

function actionsEnv(overrides: NodeJS.ProcessEnv = {}, standins: SigstoreStandins = s): NodeJS.ProcessEnv {
  return {
    GITHUB_ACTIONS: 'true',
    ACTIONS_ID_TOKEN_REQUEST_URL: standins.oidc.requestURL,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: standins.oidc.requestToken,
    ...overrides,
  };
}

function setupFor(options: KeylessOptions, standins: SigstoreStandins = s): Promise<SigningSetup> {
  return keylessSetup({
    fulcioURL: standins.fulcioURL,
    rekorURL: standins.rekorURL,
    env: actionsEnv({}, standins),
    retries: 0,
    timeoutMs: 5000,
    ...options,
  });
}

async function sign(options: KeylessOptions, standins: SigstoreStandins = s): Promise<SerializedBundleJson> {
  return signStatement(signatureStatement(NAME, DIGEST), await setupFor(options, standins));
}

function verify(
  json: unknown,
  options: VerifierOptions = {},
  policy: { san?: RegExp; issuer?: string } = {},
  root: SigstoreStandins['trustedRoot'] = s.trustedRoot,
): void {
  const trust = toTrustMaterial(TrustedRoot.fromJSON(root));
  new Verifier(trust, options).verify(toSignedEntity(bundleFromJSON(json)), {
    // verify 3.x types the SAN as a string and uses it as an (unanchored) regex: pass an anchored source.
    subjectAlternativeName: (policy.san ?? SAN_POLICY).source,
    extensions: { issuer: policy.issuer ?? GITHUB_ACTIONS_ISSUER },
  });
}

function flipped(bundle: SerializedBundleJson, field: 'sig' | 'payload'): SerializedBundleJson {
  const copy = structuredClone(bundle);
  const env = copy.dsseEnvelope!;
  const raw = Buffer.from(field === 'sig' ? env.signatures[0]!.sig : env.payload, 'base64');
  // A byte in the middle: inside the ECDSA integer, or inside the statement's JSON text.
  raw[raw.length >> 1]! ^= 0x01;
  if (field === 'sig') env.signatures[0]!.sig = raw.toString('base64');
  else env.payload = raw.toString('base64');
  return copy;
}

describe('keyless signing with Rekor (intoto) and a TSA', () => {
  let bundle: SerializedBundleJson;
  let setup: SigningSetup;
  beforeAll(async () => {
    setup = await setupFor({ rekorEntryType: 'intoto', tsaURL: s.tsaURL });
    bundle = await signStatement(signatureStatement(NAME, DIGEST), setup);
  });

  test('asks the Actions OIDC endpoint for audience sigstore, keeping its query', () => {
    expect(s.oidc.requests).toContain('/token?api-version=2.0&audience=sigstore');
  });

  test('produces a v0.3 DSSE bundle with certificate, intoto tlog entry and RFC 3161 timestamp', () => {
    expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    const vm = bundle.verificationMaterial as {
      certificate?: { rawBytes: string };
      x509CertificateChain?: unknown;
      tlogEntries: { kindVersion: { kind: string }; inclusionProof?: { checkpoint?: unknown } }[];
      timestampVerificationData?: { rfc3161Timestamps: unknown[] };
    };
    expect(typeof vm.certificate?.rawBytes).toBe('string');
    expect(vm.x509CertificateChain).toBeUndefined();
    expect(vm.tlogEntries).toHaveLength(1);
    expect(vm.tlogEntries[0]!.kindVersion.kind).toBe('intoto');
    expect(vm.tlogEntries[0]!.inclusionProof?.checkpoint).toBeDefined();
    expect(vm.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);
    expect(bundle.dsseEnvelope?.payloadType).toBe('application/vnd.in-toto+json');
    expect(bundle.dsseEnvelope?.signatures).toHaveLength(1);
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope!.payload, 'base64').toString('utf8'));
    expect(statement.subject).toEqual([{ name: NAME, digest: { sha256: 'ab'.repeat(32) } }]);
    expect(statement.predicateType).toBe('https://sigstore.dev/cosign/sign/v1');
  });

  test('verifies against the stand-ins trusted root, counting both the tlog and the TSA as timestamps', () => {
    verify(bundle);
    // Two trusted times: the Rekor SET and the RFC 3161 token both checked out.
    verify(bundle, { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 2 });
  });

  test("another instance's trusted root does not verify it", async () => {
    const other = await startSigstoreStandins();
    try {
      expect(() => verify(bundle, {}, {}, other.trustedRoot)).toThrow();
    } finally {
      await other.stop();
    }
  });

  test('policy: a different workflow or issuer is refused', () => {
    expect(() =>
      verify(bundle, {}, { san: /^https:\/\/github\.com\/acme\/models\/\.github\/workflows\/other\.yml@/ }),
    ).toThrow(/certificate identity error/);
    expect(() => verify(bundle, {}, { issuer: 'https://accounts.google.com' })).toThrow(
      /expected issuer=https:\/\/accounts\.google\.com/,
    );
  });

  test('a flipped byte in the DSSE signature fails verification (the TSA token covers the signature)', () => {
    verify(bundle);
    expect(() => verify(flipped(bundle, 'sig'))).toThrow(/timestamp could not be verified/);
  });

  test('a flipped byte in the DSSE payload fails verification (the tlog entry covers the payload)', () => {
    expect(() => verify(flipped(bundle, 'payload'))).toThrow(/payload hash mismatch/);
  });

  test('describe() reports the certificate SAN and OIDC issuer', () => {
    expect(setup.describe(bundle)).toEqual({
      kind: 'keyless',
      subject: STANDIN_WORKFLOW_SAN,
      issuer: GITHUB_ACTIONS_ISSUER,
    });
  });
});

describe('keyless signing with a TSA only (GitHub private-instance shape)', () => {
  let bundle: SerializedBundleJson;
  beforeAll(async () => {
    bundle = await sign({ tlog: false, tsaURL: s.tsaURL });
  });

  test('has an RFC 3161 timestamp and no tlog entry', () => {
    const vm = bundle.verificationMaterial as {
      tlogEntries?: unknown[];
      timestampVerificationData?: { rfc3161Timestamps: unknown[] };
    };
    expect(vm.tlogEntries ?? []).toHaveLength(0);
    expect(vm.timestampVerificationData?.rfc3161Timestamps).toHaveLength(1);
  });

  test('verifies with tlogThreshold 0, and not with the default tlog requirement', () => {
    verify(bundle, { tlogThreshold: 0 });
    expect(() => verify(bundle)).toThrow(/tlog|transparency/i);
  });

  test('a flipped byte in the DSSE signature or payload fails verification', () => {
    expect(() => verify(flipped(bundle, 'sig'), { tlogThreshold: 0 })).toThrow(/timestamp could not be verified/);
    // No tlog here: the certificate's key is what catches a changed payload.
    expect(() => verify(flipped(bundle, 'payload'), { tlogThreshold: 0 })).toThrow(/signature/i);
  });
});

test('the default Rekor entry type is dsse (real Rekor); the mock stores it verbatim so it does not verify here', async () => {
  const bundle = await sign({ tsaURL: s.tsaURL });
  const entries = (bundle.verificationMaterial as { tlogEntries: { kindVersion: { kind: string } }[] }).tlogEntries;
  expect(entries[0]!.kindVersion.kind).toBe('dsse');
  expect(() => verify(bundle)).toThrow(/signature count mismatch|TLOG_BODY/i);
});

describe('identity token sources', () => {
  test('an explicit token wins over GitHub Actions OIDC', async () => {
    const before = s.oidc.requests.length;
    const token = s.oidc.issueToken({ job_workflow_ref: 'acme/models/.github/workflows/explicit.yml@refs/heads/main' });
    const setup = await setupFor({ identityToken: token, tlog: false, tsaURL: s.tsaURL });
    const bundle = await signStatement(signatureStatement(NAME, DIGEST), setup);
    expect(s.oidc.requests.length).toBe(before);
    expect(setup.describe(bundle).subject).toBe(
      'https://github.com/acme/models/.github/workflows/explicit.yml@refs/heads/main',
    );
  });

  test('SIGSTORE_ID_TOKEN outside Actions; an email token gets an email SAN', async () => {
    const token = s.oidc.issueToken({
      iss: 'https://accounts.example.com',
      job_workflow_ref: undefined,
      sub: 'dev@example.com',
      email: 'dev@example.com',
      email_verified: true,
    });
    const setup = await setupFor({ env: { SIGSTORE_ID_TOKEN: token }, tlog: false, tsaURL: s.tsaURL });
    const bundle = await signStatement(signatureStatement(NAME, DIGEST), setup);
    expect(setup.describe(bundle)).toEqual({
      kind: 'keyless',
      subject: 'dev@example.com',
      issuer: 'https://accounts.example.com',
    });
    verify(bundle, { tlogThreshold: 0 }, { san: /^dev@example\.com$/, issuer: 'https://accounts.example.com' });
  });

  test('a request URL without a query gets "?audience=sigstore"', async () => {
    const bare = s.oidc.requestURL.replace(/\?.*$/, '');
    await sign({ env: actionsEnv({ ACTIONS_ID_TOKEN_REQUEST_URL: bare }), tlog: false, tsaURL: s.tsaURL });
    expect(s.oidc.requests.at(-1)).toBe('/token?audience=sigstore');
  });
});

describe('errors', () => {
  const noLeak = (e: ModelshipError, ...secrets: string[]) => {
    for (const secret of secrets) expect(`${e.message}\n${e.hint ?? ''}`).not.toContain(secret);
  };

  test('GITHUB_ACTIONS=true without the request URL: AUTH with the permissions YAML', async () => {
    const e = await rejection(setupFor({ env: { GITHUB_ACTIONS: 'true' } }));
    expect(e.code).toBe('AUTH');
    expect(e.message).toContain('permissions: id-token: write');
    expect(e.hint).toMatch(/permissions:\n\s+id-token: write/);
  });

  test('no token source outside Actions: AUTH naming SIGSTORE_ID_TOKEN, --identity-token and --key', async () => {
    const e = await rejection(setupFor({ env: {} }));
    expect(e.code).toBe('AUTH');
    expect(e.hint).toContain('SIGSTORE_ID_TOKEN');
    expect(e.template.hint).toContain(opt('identityToken'));
    expect(e.template.hint).toContain(opt('key'));
  });

  test('a wrong request token: AUTH naming the endpoint host, not the token', async () => {
    const wrong = 'not-the-request-token-0123456789';
    const e = await rejection(
      sign({ env: actionsEnv({ ACTIONS_ID_TOKEN_REQUEST_TOKEN: wrong }), tlog: false, tsaURL: s.tsaURL }),
    );
    expect(e.code).toBe('AUTH');
    expect(e.message).toContain(new URL(s.oidc.requestURL).host);
    expect(e.message).toContain('401');
    noLeak(e, wrong, s.oidc.requestToken);
  });

  test('an unreachable OIDC endpoint: NETWORK naming its host', async () => {
    const e = await rejection(
      sign({
        env: actionsEnv({ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:1/token?x=1' }),
        tlog: false,
        tsaURL: s.tsaURL,
      }),
    );
    expect(e.code).toBe('NETWORK');
    expect(e.message).toContain('127.0.0.1:1');
    noLeak(e, s.oidc.requestToken);
  });

  test('an expired or malformed SIGSTORE_ID_TOKEN: AUTH without quoting it', async () => {
    const expired = s.oidc.issueToken({ exp: Math.floor(Date.now() / 1000) - 60 });
    let e = await rejection(sign({ env: { SIGSTORE_ID_TOKEN: expired }, tlog: false, tsaURL: s.tsaURL }));
    expect(e.code).toBe('AUTH');
    expect(e.message).toMatch(/SIGSTORE_ID_TOKEN expired/);
    noLeak(e, expired);
    const garbage = 'definitely-not-a-jwt-secret-value';
    e = await rejection(sign({ env: { SIGSTORE_ID_TOKEN: garbage }, tlog: false, tsaURL: s.tsaURL }));
    expect(e.code).toBe('AUTH');
    expect(e.message).toMatch(/not a JWT/);
    noLeak(e, garbage);
  });

  test('tlog false without a TSA: USAGE', async () => {
    const e = await rejection(setupFor({ tlog: false }));
    expect(e.code).toBe('USAGE');
    expect(e.template.hint).toContain(opt('tsaUrl'));
  });

  test('Fulcio refusing the token (HTTP 401, as real Fulcio does): AUTH naming Fulcio', async () => {
    // The mock answers 400 for everything; this stand-in answers like real Fulcio.
    const server = createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 16, message: 'There was an error processing the identity token' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fulcioURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const e = await rejection(sign({ fulcioURL, tlog: false, tsaURL: s.tsaURL }));
      expect(e.code).toBe('AUTH');
      expect(e.message).toContain(`Fulcio at ${fulcioURL}`);
      noLeak(e, s.oidc.requestToken);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  describe('a service down', () => {
    let down: SigstoreStandins;
    beforeEach(async () => {
      down = await startSigstoreStandins();
    });
    afterEach(async () => {
      await down.stop();
    });

    test('Fulcio stopped: NETWORK naming Fulcio and its URL', async () => {
      await down.stopFulcio();
      const e = await rejection(sign({ rekorEntryType: 'intoto', tsaURL: down.tsaURL }, down));
      expect(e.code).toBe('NETWORK');
      expect(e.message).toContain('Fulcio');
      expect(e.message).toContain(down.fulcioURL);
      noLeak(e, down.oidc.requestToken);
    });

    test('Rekor stopped: NETWORK naming Rekor and its URL', async () => {
      await down.stopRekor();
      const e = await rejection(sign({ rekorEntryType: 'intoto', tsaURL: down.tsaURL }, down));
      expect(e.code).toBe('NETWORK');
      expect(e.message).toContain('Rekor');
      expect(e.message).toContain(down.rekorURL);
    });

    test('TSA stopped: NETWORK naming the timestamp authority and its URL', async () => {
      await down.stopTSA();
      const e = await rejection(sign({ tlog: false, tsaURL: down.tsaURL }, down));
      expect(e.code).toBe('NETWORK');
      expect(e.message).toContain('timestamp authority');
      expect(e.message).toContain(down.tsaURL);
    });
  });
});
