import { beforeAll, describe, expect, it } from '@jest/globals';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Digest } from '../src/digest.js';
import { inspectArtifact, type InspectNode } from '../src/inspect.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import { MemoryStore } from '../src/memory-store.js';
import type { Descriptor, Manifest } from '../src/oci.js';
import { pack } from '../src/pack.js';
import { generateKeyPair, keySetup, loadPrivateKey } from '../src/sign/keys.js';
import { signArtifact } from '../src/sign/sign.js';
import { COSIGN_SIGN_PREDICATE_TYPE, type SigningSetup } from '../src/sign/types.js';
import { rejection } from './rejection.js';

const SAMPLE = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'examples', 'sample-model');
const EMPTY = Buffer.from('{}');
const HOSTILE = '\n::set-output name=pwned::1 ##[stop-commands]x \u001b[31m\u202e';

let setup: SigningSetup;
beforeAll(async () => {
  setup = await keySetup(await loadPrivateKey({ pem: generateKeyPair().privateKeyPem }));
});

async function packed(): Promise<{ store: MemoryStore; root: Descriptor }> {
  const store = new MemoryStore();
  const r = await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
  return { store, root: r.descriptor };
}

/** Pushes a referrer manifest of `subject` (or a manifest with no subject) and returns it. */
async function pushReferrer(
  store: MemoryStore,
  subject: Descriptor | undefined,
  annotations: Record<string, string> = {},
): Promise<Descriptor> {
  await store.push({ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }, EMPTY);
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.example.sbom',
    config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
    layers: [],
    ...(subject ? { subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size } } : {}),
    annotations,
  };
  const bytes = Buffer.from(JSON.stringify(m));
  const desc: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(desc, bytes);
  return desc;
}

function flat(n: InspectNode): InspectNode[] {
  return [n, ...(n.manifests ?? []).flatMap(flat), ...n.referrers.flatMap(flat)];
}

describe('inspectArtifact: the tree of an artifact', () => {
  it('shows the manifest, the model summary, the layers and each signature with what its bundle claims', async () => {
    const { store, root } = await packed();
    const signed = await signArtifact({ store, reference: 'v1', name: 'mem', setup });
    // A signature of the signature: a referrer of a referrer.
    const countersigned = await signArtifact({ store, reference: signed.referrer.digest, name: 'mem', setup });
    const r = await inspectArtifact(store, root);
    expect(r.truncated).toBe(false);
    expect(r.nodes).toBe(3);
    expect(r.root.artifactType).toBe('application/vnd.cncf.model.manifest.v1+json');
    expect(r.root.model).toMatchObject({ name: 'modelship-sample-llama', family: 'llama', format: 'safetensors' });
    expect(r.root.layers?.map((l) => l.path)).toContain('model-00001-of-00002.safetensors');
    expect(r.root.layers?.find((l) => l.path === 'LICENSE')?.kind).toBe('doc');
    const [sig] = r.root.referrers;
    expect(sig?.digest).toBe(signed.referrer.digest);
    const hint = (signed.bundle.verificationMaterial as { publicKey?: { hint?: string } }).publicKey?.hint;
    expect(sig?.signature).toMatchObject({
      bundleDigest: signed.bundleDescriptor.digest,
      signer: { kind: 'key', keyHint: hint },
      predicateType: COSIGN_SIGN_PREDICATE_TYPE,
      aboutArtifact: true,
      problems: [],
    });
    expect(sig?.referrers.map((n) => n.digest)).toEqual([countersigned.referrer.digest]);
    expect(sig?.referrers[0]?.signature?.aboutArtifact).toBe(true);
  });

  it('keeps annotations as they are (control characters, workflow commands): printing them safely is the front end’s job', async () => {
    const { store, root } = await packed();
    await pushReferrer(store, root, { note: HOSTILE });
    const r = await inspectArtifact(store, root);
    expect(r.root.referrers[0]?.annotations).toEqual({ note: HOSTILE });
  });

  it('a cycle in a lying referrers listing ends: a digest is read once, then shown as repeated', async () => {
    const { store, root } = await packed();
    const a = await pushReferrer(store, root);
    const b = await pushReferrer(store, a);
    // b's listing names a, a's names b, and the root names itself.
    store.setReferrers(b, [a, root]);
    store.setReferrers(root, [a, root]);
    const r = await inspectArtifact(store, root);
    const nodes = flat(r.root);
    expect(nodes.filter((n) => n.stopped === undefined).map((n) => n.digest)).toEqual([
      root.digest,
      a.digest,
      b.digest,
    ]);
    // Depth first: b's listing (a, root), then the root's own second entry (itself).
    expect(nodes.filter((n) => n.stopped === 'repeated').map((n) => n.digest)).toEqual([
      a.digest,
      root.digest,
      root.digest,
    ]);
    // b's listing is a lie about a and root, but each is only shown as repeated, never read again.
    expect(r.nodes).toBe(6);
  });

  it('a referrer whose manifest is not JSON, or is about another artifact, is a problem of its node; the rest is shown', async () => {
    const { store, root } = await packed();
    const junk = Buffer.from('this is not json');
    const notJson: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(junk), size: junk.length };
    await store.push(notJson, junk);
    const missing: Descriptor = { mediaType: OCI_MANIFEST, digest: `sha256:${'e'.repeat(64)}`, size: 10 };
    const other = await pushReferrer(store, undefined);
    const good = await pushReferrer(store, root);
    const layer: Descriptor = { mediaType: 'application/octet-stream', digest: `sha256:${'f'.repeat(64)}`, size: 1 };
    store.setReferrers(root, [notJson, missing, other, layer, good]);
    const r = await inspectArtifact(store, root);
    const [a, b, c, d, e] = r.root.referrers;
    expect(a?.problems).toEqual(['unreadable manifest: not a JSON object']);
    expect(b?.problems[0]).toMatch(/^unreadable manifest: .*not found/);
    expect(c?.problems).toEqual(['it has no subject']);
    expect(d?.problems).toEqual(['not a manifest (media type application/octet-stream); not read']);
    expect(e?.problems).toEqual([]);
    expect(e?.artifactType).toBe('application/vnd.example.sbom');
  });

  it('a listing over the referrers cap is a problem of its node, not a failure', async () => {
    const { store, root } = await packed();
    const many = Array.from({ length: 1001 }, (_, i) => ({
      mediaType: OCI_MANIFEST,
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      size: 100,
    }));
    store.setReferrers(root, many);
    const r = await inspectArtifact(store, root);
    expect(r.root.referrers).toEqual([]);
    expect(r.root.problems[0]).toMatch(/^referrers: .* lists more than 1000 referrers/);
  });

  it('is bounded: by nodes (the rest counted), by depth and by bytes read', async () => {
    const { store, root } = await packed();
    const direct: Descriptor[] = [];
    for (let i = 0; i < 12; i++) direct.push(await pushReferrer(store, root, { i: String(i) }));
    const byNodes = await inspectArtifact(store, root, { maxNodes: 5 });
    expect(byNodes.truncated).toBe(true);
    expect(byNodes.root.referrers).toHaveLength(4);
    expect(byNodes.root.omitted).toBe(8);

    let chain = root;
    const links: Descriptor[] = [];
    const deep = new MemoryStore();
    await deep.push(root, await store.fetchBytes(root));
    for (let i = 0; i < 5; i++) links.push((chain = await pushReferrer(deep, chain)));
    const byDepth = await inspectArtifact(deep, root, { maxDepth: 2 });
    const path = flat(byDepth.root);
    expect(path.map((n) => n.stopped)).toEqual([undefined, undefined, undefined, 'depth']);
    expect(byDepth.truncated).toBe(true);

    const byBytes = await inspectArtifact(store, root, { maxBytes: root.size + 1 });
    expect(byBytes.root.referrers.every((n) => n.stopped === 'limit')).toBe(true);
    // The config was not read either: past the byte bound.
    expect(byBytes.root.model).toBeUndefined();
    expect(byBytes.root.problems[0]).toMatch(/^config not read/);
  });

  it('an index: its manifests are nodes of the tree, each with its own config summary and referrers', async () => {
    const { store, root } = await packed();
    const signed = await signArtifact({ store, reference: 'v1', name: 'mem', setup });
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [root] }));
    const index: Descriptor = { mediaType: OCI_INDEX, digest: sha256Digest(bytes), size: bytes.length };
    await store.push(index, bytes);
    const r = await inspectArtifact(store, index);
    expect(r.root.layers).toBeUndefined();
    const [entry] = r.root.manifests ?? [];
    expect(entry?.model?.name).toBe('modelship-sample-llama');
    expect(entry?.referrers.map((n) => n.digest)).toEqual([signed.referrer.digest]);
  });

  it('refuses a root that is not a manifest (what the user named must be one)', async () => {
    const store = new MemoryStore();
    const junk = Buffer.from('[1,2]');
    const desc: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(junk), size: junk.length };
    await store.push(desc, junk);
    expect((await rejection(inspectArtifact(store, desc), 'INVALID')).message).toMatch(/not an OCI manifest or index/);
  });
});
