import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  MOF_PREDICATE_TYPE,
  OCI_EMPTY,
  OCI_EMPTY_DIGEST,
  OCI_INDEX,
  OCI_MANIFEST,
  RegistryStore,
  referrersFallbackTag,
  sha256Digest,
  type Descriptor,
  type InspectNode,
} from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { keylessCli } from './helpers/keyless.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import {
  GITHUB_ACTIONS_ISSUER,
  STANDIN_WORKFLOW_SAN,
  startSigstoreStandins,
  type SigstoreStandins,
} from './helpers/sigstore.js';
import { signingKeyFiles } from './helpers/signing-key.js';
import { tempDir } from './helpers/tmp.js';
import { INJECTION, workflowCommandLines } from './helpers/workflow-commands.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface InspectJson {
  reference: string;
  verified: boolean;
  nodes: number;
  truncated: boolean;
  root: InspectNode;
}

async function inspectJson(ref: string, extra: string[] = []): Promise<InspectJson> {
  const r = await runCli(['inspect', ref, '--json', ...extra]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as InspectJson;
}

function expectNoCommands(r: { stdout: string; stderr: string }): void {
  expect(workflowCommandLines(r.stdout)).toEqual([]);
  expect(workflowCommandLines(r.stderr)).toEqual([]);
}

const signed = (args: string[], key: string): Promise<{ status: number | null; stdout: string; stderr: string }> =>
  runCli([...args, '--key', key, '--no-tlog', '--json']);

describe('inspect: the artifact as a tree, with every referrer (real registry, real signatures)', () => {
  let reg: TestRegistry;
  let si: SigstoreStandins;
  let digest: string;
  let ref: string;
  const { key } = signingKeyFiles(tmp.dir, 'release');
  let sigDigest: string;
  let counterDigest: string;
  beforeAll(async () => {
    reg = await startRegistry();
    si = await startSigstoreStandins();
    digest = await packSample(tmp.dir, `${reg.host}/acme/model:v1`);
    ref = `${reg.host}/acme/model@${digest}`;
    const sig = await signed(['sign', ref, '--plain-http'], key);
    expect(sig.status).toBe(0);
    sigDigest = (JSON.parse(sig.stdout) as { referrerDigest: string }).referrerDigest;
    expect((await signed(['attest', ref, '--type', 'mof', '--plain-http'], key)).status).toBe(0);
    const keyless = await keylessCli(si, ['sign', ref, '--plain-http'], { via: 'token' });
    expect(keyless.stderr).toBe('');
    // A signature of the first signature: a referrer of a referrer.
    const counter = await signed(['sign', `${reg.host}/acme/model@${sigDigest}`, '--plain-http'], key);
    expect(counter.status).toBe(0);
    counterDigest = (JSON.parse(counter.stdout) as { referrerDigest: string }).referrerDigest;
  });
  afterAll(async () => {
    await reg?.cleanup();
    await si?.stop();
  });

  it('--json: manifest, model summary, layers, and each referrer with its claimed signer and predicate', async () => {
    const j = await inspectJson(`${reg.host}/acme/model:v1`, ['--plain-http']);
    expect(j.verified).toBe(false);
    expect(j.truncated).toBe(false);
    expect(j.root).toMatchObject({
      digest,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      model: { name: 'modelship-sample-llama', family: 'llama', format: 'safetensors', licenses: ['MIT'] },
    });
    expect(j.root.layers?.map((l) => [l.path, l.kind])).toContainEqual(['model-00001-of-00002.safetensors', 'weight']);
    const refs = j.root.referrers;
    expect(refs).toHaveLength(3);
    const byPredicate = new Map(refs.map((n) => [n.signature?.predicateType, n]));
    expect(byPredicate.get(MOF_PREDICATE_TYPE)?.signature?.signer?.kind).toBe('key');
    const keyless = refs.find((n) => n.signature?.signer?.kind === 'keyless')!;
    expect(keyless.signature).toMatchObject({
      predicateType: COSIGN_SIGN_PREDICATE_TYPE,
      signer: { kind: 'keyless', subject: STANDIN_WORKFLOW_SAN, issuer: GITHUB_ACTIONS_ISSUER },
      aboutArtifact: true,
      tlogEntries: 1,
    });
    const first = refs.find((n) => n.digest === sigDigest)!;
    expect(first.referrers.map((n) => [n.digest, n.signature?.aboutArtifact])).toEqual([[counterDigest, true]]);
    expect(j.nodes).toBe(5);
  });

  it('text: a tree, signers marked as claimed and the output saying nothing was verified', async () => {
    const r = await runCli(['inspect', ref, '--plain-http']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`digest: ${digest}`);
    expect(r.stdout).toMatch(/model: name modelship-sample-llama; family llama;/);
    expect(r.stdout).toContain('referrers (3), each signer as its bundle claims it: inspect verifies nothing');
    expect(r.stdout).toContain(
      `signer: ${STANDIN_WORKFLOW_SAN}, issuer ${GITHUB_ACTIONS_ISSUER} (as its bundle claims: not verified)`,
    );
    expect(r.stdout).toMatch(
      new RegExp(`│   └── ${counterDigest} application/vnd\\.dev\\.sigstore\\.bundle\\.v0\\.3\\+json`),
    );
  });

  it('the same tree from an OCI layout (the artifact copied with its referrers)', async () => {
    const layout = join(tmp.dir, 'copy-oci');
    expect((await runCli(['pull', ref, '--output', `${layout}:v1`, '--plain-http', '--no-progress'])).status).toBe(0);
    const fromLayout = await inspectJson(`oci:${layout}:v1`);
    const fromRegistry = await inspectJson(ref, ['--plain-http']);
    const shape = (n: InspectNode): unknown => ({
      digest: n.digest,
      signer: n.signature?.signer,
      referrers: n.referrers.map(shape).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    });
    expect(shape(fromLayout.root)).toEqual(shape(fromRegistry.root));
  });

  it('names what is missing: no tag (exit 2), an unknown tag (exit 6)', async () => {
    const none = await runCli(['inspect', `${reg.host}/acme/model`, '--plain-http']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('names no tag or digest');
    const unknown = await runCli(['inspect', `${reg.host}/acme/model:nope`, '--plain-http']);
    expect(unknown.status).toBe(6);
  });
});

describe('inspect of a hostile artifact terminates, bounds what it reads and prints safely', () => {
  let reg: TestRegistry;
  let store: RegistryStore;
  let digest: string;
  let root: Descriptor;
  let evilReferrer: Descriptor;
  beforeAll(async () => {
    reg = await startRegistry();
    digest = await packSample(tmp.dir, `${reg.host}/evil/model:v1`);
    store = new RegistryStore({ registry: reg.host, repository: 'evil/model', plainHttp: true });
    root = await store.resolve(digest);
    // A referrer whose annotations and bundle claims hold workflow commands and control characters.
    const bundle = Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: { publicKey: { hint: `hint${INJECTION}` }, tlogEntries: [] },
        dsseEnvelope: {
          payloadType: 'application/vnd.in-toto+json',
          payload: Buffer.from(
            JSON.stringify({
              _type: 'https://in-toto.io/Statement/v1',
              subject: [{ name: 'x', digest: { sha256: digest.slice(7) } }],
              predicateType: `https://evil.example/p${INJECTION}`,
              predicate: {},
            }),
          ).toString('base64'),
          signatures: [{ sig: 'AAAA', keyid: '' }],
        },
      }),
    );
    const bundleDesc: Descriptor = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      digest: sha256Digest(bundle),
      size: bundle.length,
    };
    await store.push(bundleDesc, bundle);
    await store.push({ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }, Buffer.from('{}'));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: `application/vnd.evil${INJECTION}`,
        config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
        layers: [bundleDesc],
        subject: root,
        annotations: { 'org.opencontainers.image.created': `2026${INJECTION}` },
      }),
    );
    const referrer: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(manifest), size: manifest.length };
    await store.push(referrer, manifest);
    evilReferrer = referrer;
    // The fallback index (docker-registry 2.8 has no referrers API) then also lists the root
    // itself (a cycle) and another manifest with a size it does not have (the registry checks
    // that an index's entries exist, not their sizes).
    const otherBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
        layers: [],
      }),
    );
    const other: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(otherBytes), size: otherBytes.length };
    await store.push(other, otherBytes);
    await putFallbackIndex(root, [referrer, root, { ...other, size: other.size + 1000 }]);
  });
  afterAll(async () => {
    await store?.close();
    await reg?.cleanup();
  });

  async function putFallbackIndex(subject: Descriptor, manifests: Descriptor[]): Promise<void> {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
    const desc: Descriptor = { mediaType: OCI_INDEX, digest: sha256Digest(bytes), size: bytes.length };
    await store.push(desc, bytes);
    await store.tag(desc, referrersFallbackTag(subject.digest));
  }

  it('text and --json: no workflow command, the values escaped in text and exact in JSON; the cycle and the missing referrer are shown', async () => {
    const text = await runCli(['inspect', `${reg.host}/evil/model:v1`, '--plain-http']);
    expect(text.status).toBe(0);
    expectNoCommands(text);
    expect(text.stdout).toContain('signer: key hint\\n::set-output name=pwned::1');
    expect(text.stdout).toContain(`${digest} application/vnd.oci.image.manifest.v1+json`);
    expect(text.stdout).toContain('(shown above)');
    expect(text.stdout).toMatch(/! unreadable manifest: .*bytes/);

    const json = await runCli(['inspect', `${reg.host}/evil/model:v1`, '--plain-http', '--json']);
    expect(json.status).toBe(0);
    expectNoCommands(json);
    const j = JSON.parse(json.stdout) as InspectJson;
    const [evil, self, gone] = j.root.referrers;
    expect(evil?.signature?.predicateType).toBe(`https://evil.example/p${INJECTION}`);
    expect(evil?.annotations?.['org.opencontainers.image.created']).toBe(`2026${INJECTION}`);
    expect(self).toMatchObject({ digest, stopped: 'repeated' });
    expect(gone?.problems[0]).toMatch(/^unreadable manifest: /);
  });

  it('a referrers list over the cap is a problem of its node: the rest of the tree is shown, exit 0', async () => {
    // The registry wants every entry to exist: one referrer, listed 1,001 times.
    await putFallbackIndex(
      root,
      Array.from({ length: 1001 }, () => evilReferrer),
    );
    const r = await runCli(['inspect', `${reg.host}/evil/model:v1`, '--plain-http', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as InspectJson;
    expect(j.root.referrers).toEqual([]);
    expect(j.root.problems[0]).toMatch(/^referrers: .*lists more than 1000 referrers/);
    expect(j.root.layers?.length).toBeGreaterThan(0);
  });
});
