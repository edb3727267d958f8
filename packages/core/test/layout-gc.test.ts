import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyGraph } from '../src/copy.js';
import { sha256Digest } from '../src/digest.js';
import { OciLayoutStore } from '../src/layout.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import { MemoryStore } from '../src/memory-store.js';
import { digestHex, referrersFallbackTag, type Descriptor, type Index } from '../src/oci.js';
import { pack } from '../src/pack.js';
import { collectGarbage, removeReference } from '../src/remove.js';
import { generateKeyPair, keySetup, loadPrivateKey } from '../src/sign/keys.js';
import { signArtifact } from '../src/sign/sign.js';
import type { SigningSetup } from '../src/sign/types.js';
import { rejection } from './rejection.js';

const SAMPLE = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'examples', 'sample-model');
const REF_NAME = 'org.opencontainers.image.ref.name';
const KIND = 'kind';
const tmp = mkdtempSync(join(tmpdir(), 'layout-gc-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let setup: SigningSetup;
beforeAll(async () => {
  setup = await keySetup(await loadPrivateKey({ pem: generateKeyPair().privateKeyPem }));
});

let n = 0;
async function layout(): Promise<{ dir: string; store: OciLayoutStore }> {
  const dir = join(tmp, `l${n++}`);
  return { dir, store: await OciLayoutStore.open(dir, { create: true }) };
}

const blobs = (dir: string): string[] => readdirSync(join(dir, 'blobs', 'sha256')).sort();
const index = (dir: string): Index => JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
const hexes = (digests: string[]): string[] => digests.map(digestHex).sort();

/** Copies what `tag` reaches, referrers too, into memory: it throws if any blob is missing. */
async function reachable(store: OciLayoutStore, tag: string): Promise<{ manifests: number; blobs: number }> {
  const s = await copyGraph(store, new MemoryStore(), await store.resolve(tag));
  return { manifests: s.manifestsCopied, blobs: s.blobsCopied };
}

/** An untagged manifest with one layer of its own: garbage as soon as it is pushed. */
async function pushGarbage(store: OciLayoutStore, text: string): Promise<Descriptor[]> {
  const layerBytes = Buffer.from(text);
  const layer: Descriptor = {
    mediaType: 'application/octet-stream',
    digest: sha256Digest(layerBytes),
    size: layerBytes.length,
  };
  await store.push(layer, layerBytes);
  await store.push({ mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 }, Buffer.from('{}'));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
      layers: [layer],
    }),
  );
  const m: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(bytes), size: bytes.length };
  await store.push(m, bytes);
  return [m, layer];
}

const NOW_PLUS_2H = (): number => Date.now() + 2 * 3600_000;

describe('layout garbage collection: what no tag reaches goes, nothing a tag reaches does', () => {
  it('several tags sharing blobs, with signatures and a signature of a signature', async () => {
    const { dir, store } = await layout();
    const a = await pack({ dir: SAMPLE, target: store, tags: ['v1', 'latest'], cache: null });
    const b = await pack({ dir: SAMPLE, target: store, tags: ['v2'], cache: null, createdAt: '2026-01-02T03:04:05Z' });
    expect(b.descriptor.digest).not.toBe(a.descriptor.digest);
    const sigA = await signArtifact({ store, reference: 'v1', name: 'oci:l', setup });
    await signArtifact({ store, reference: 'v1', name: 'oci:l', setup });
    const counter = await signArtifact({ store, reference: sigA.referrer.digest, name: 'oci:l', setup });
    const sigB = await signArtifact({ store, reference: 'v2', name: 'oci:l', setup });
    const garbage = await pushGarbage(store, 'nobody tags this');
    const before = { v1: await reachable(store, 'v1'), v2: await reachable(store, 'v2') };
    expect(before.v1.manifests).toBe(4); // the artifact, two signatures, the countersignature

    const first = await collectGarbage(store, { minAgeMs: 0 });
    expect(first.manifests.map((m) => m.digest)).toEqual([garbage[0]!.digest]);
    expect(hexes(first.blobs.map((x) => x.digest))).toEqual(hexes(garbage.map((g) => g.digest)));
    expect(first.bytes).toBe(garbage[0]!.size + garbage[1]!.size);
    expect({ v1: await reachable(store, 'v1'), v2: await reachable(store, 'v2') }).toEqual(before);

    // v2 goes: its manifest, config, signature and bundle; the layers it shares with v1 stay.
    expect(await removeReference(store, 'v2')).toEqual({
      digest: b.descriptor.digest,
      tags: ['v2'],
      stillTagged: false,
    });
    const second = await collectGarbage(store, { minAgeMs: 0 });
    expect(second.manifests.map((m) => m.digest).sort()).toEqual([b.descriptor.digest, sigB.referrer.digest].sort());
    expect(hexes(second.blobs.map((x) => x.digest))).toEqual(
      hexes([b.descriptor.digest, b.manifest.config.digest, sigB.referrer.digest, sigB.bundleDescriptor.digest]),
    );
    expect(await reachable(store, 'v1')).toEqual(before.v1);
    expect(index(dir).manifests.map((d) => d.digest)).toContain(counter.referrer.digest);

    // v1 goes, latest still names the same artifact: nothing to collect.
    expect((await removeReference(store, 'v1')).stillTagged).toBe(true);
    const third = await collectGarbage(store, { minAgeMs: 0 });
    expect([third.manifests, third.blobs, third.bytes]).toEqual([[], [], 0]);
    expect(await reachable(store, 'latest')).toEqual(before.v1);
    await store.close();
  });

  it('a re-tagged layout stops growing: the old artifact’s own blobs go, to the size of one pack', async () => {
    const fresh = await layout();
    await pack({ dir: SAMPLE, target: fresh.store, tags: ['v1'], cache: null, createdAt: '2026-02-02T00:00:00Z' });
    const { dir, store } = await layout();
    const old = await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
    await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null, createdAt: '2026-02-02T00:00:00Z' });
    expect(blobs(dir)).toHaveLength(blobs(fresh.dir).length + 2);
    const r = await collectGarbage(store, { minAgeMs: 0 });
    expect(r.manifests.map((m) => m.digest)).toEqual([old.descriptor.digest]);
    expect(blobs(dir)).toEqual(blobs(fresh.dir));
    expect(index(dir).manifests).toEqual(index(fresh.dir).manifests);
    await Promise.all([store.close(), fresh.store.close()]);
  });

  it('keeps what changed less than the minimum age (a pack still running), and a dry run deletes nothing', async () => {
    const { dir, store } = await layout();
    await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
    const garbage = await pushGarbage(store, 'just written');
    const listed = blobs(dir);
    const recent = await collectGarbage(store);
    expect([recent.manifests, recent.blobs]).toEqual([[], []]);
    // The manifest, its layer and the empty config (no signature here shares it).
    const own = [...garbage.map((g) => g.digest), OCI_EMPTY_DIGEST];
    expect(recent.kept.recent).toBe(3);
    const dry = await collectGarbage(store, { dryRun: true, now: NOW_PLUS_2H() });
    expect(dry.dryRun).toBe(true);
    expect(hexes(dry.blobs.map((x) => x.digest))).toEqual(hexes(own));
    expect(blobs(dir)).toEqual(listed);
    expect(index(dir).manifests.map((d) => d.digest)).toContain(garbage[0]!.digest);
    const real = await collectGarbage(store, { now: NOW_PLUS_2H() });
    expect(real.blobs).toEqual(dry.blobs);
    expect(blobs(dir)).toHaveLength(listed.length - 3);
    await store.close();
  });

  it('a tagged manifest that cannot be read stops the collection before anything is deleted', async () => {
    const { dir, store } = await layout();
    const a = await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
    await pushGarbage(store, 'would be garbage');
    rmSync(join(dir, 'blobs', 'sha256', digestHex(a.descriptor.digest)));
    const listed = blobs(dir);
    const indexBefore = readFileSync(join(dir, 'index.json'), 'utf8');
    const err = await rejection(collectGarbage(store, { minAgeMs: 0 }), 'NOT_FOUND');
    expect(err.message).toMatch(new RegExp(`cannot tell what manifest ${a.descriptor.digest} .* nothing was deleted`));
    expect(blobs(dir)).toEqual(listed);
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe(indexBefore);
    await store.close();
  });

  it('never follows a link out of the layout: a linked blob is unlinked, a linked blobs/ directory refused', async () => {
    const { dir, store } = await layout();
    await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
    const outside = join(tmp, 'precious.bin');
    writeFileSync(outside, 'keep me');
    const name = sha256Digest(Buffer.from('keep me')).slice('sha256:'.length);
    symlinkSync(outside, join(dir, 'blobs', 'sha256', name));
    // Crash leftovers in ingest/ go; a link there is left alone.
    mkdirSync(join(dir, 'ingest'), { recursive: true });
    writeFileSync(join(dir, 'ingest', '123-abcdef'), 'half a blob');
    symlinkSync(outside, join(dir, 'ingest', '456-link'));
    const r = await collectGarbage(store, { minAgeMs: 0 });
    expect(r.blobs.map((x) => x.digest)).toEqual([`sha256:${name}`]);
    expect(r.temporary.map((t) => t.name)).toEqual(['123-abcdef']);
    expect(readFileSync(outside, 'utf8')).toBe('keep me');
    expect(existsSync(join(dir, 'blobs', 'sha256', name))).toBe(false);
    expect(await reachable(store, 'v1')).toMatchObject({ manifests: 1 });
    await store.close();

    const moved = join(tmp, 'blobs-elsewhere');
    renameSync(join(dir, 'blobs'), moved);
    symlinkSync(moved, join(dir, 'blobs'));
    const linked = await OciLayoutStore.open(dir);
    const err = await rejection(collectGarbage(linked, { minAgeMs: 0 }), 'INVALID');
    expect(err.message).toMatch(/blobs\/sha256 is a symbolic link: garbage collection never leaves the layout/);
    await linked.close();
  });

  it('blobs pack hard-linked to model files: their names go, the model files stay, and they count as no bytes freed', async () => {
    const model = join(tmp, 'model-copy');
    cpSync(SAMPLE, model, { recursive: true });
    const { dir, store } = await layout();
    const a = await pack({ dir: model, target: store, tags: ['v1'], cache: null });
    const weight = a.layers.find((l) => l.path === 'model-00001-of-00002.safetensors')!;
    expect(statSync(join(dir, 'blobs', 'sha256', digestHex(weight.descriptor.digest))).nlink).toBe(2);
    await removeReference(store, 'v1');
    const r = await collectGarbage(store, { minAgeMs: 0 });
    expect(r.linked).toBe(a.layers.length);
    const own = r.blobs.filter((b) => !a.layers.some((l) => l.descriptor.digest === b.digest));
    expect(r.bytes).toBe(own.reduce((sum, b) => sum + b.size, 0));
    expect(sha256Digest(readFileSync(join(model, weight.path)))).toBe(weight.descriptor.digest);
    expect(blobs(dir)).toEqual([]);
    await store.close();
  });

  it('a referrers list under the fallback tag (regclient’s shape) is kept with its subject, and goes with it', async () => {
    const { dir, store } = await layout();
    const a = await pack({ dir: SAMPLE, target: store, tags: ['v1'], cache: null });
    const sig = await signArtifact({ store, reference: 'v1', name: 'oci:l', setup });
    // The signature listed only in a fallback-tag index, not in index.json itself.
    const listBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [sig.referrer] }),
    );
    const list: Descriptor = { mediaType: OCI_INDEX, digest: sha256Digest(listBytes), size: listBytes.length };
    await store.push(list, listBytes);
    await store.tag(list, referrersFallbackTag(a.descriptor.digest));
    const idx = index(dir);
    idx.manifests = idx.manifests.filter((d) => d.digest !== sig.referrer.digest);
    writeFileSync(join(dir, 'index.json'), JSON.stringify(idx));
    expect((await store.referrers(a.descriptor)).map((d) => d.digest)).toEqual([sig.referrer.digest]);

    const kept = await collectGarbage(store, { minAgeMs: 0 });
    expect([kept.manifests, kept.blobs]).toEqual([[], []]);
    expect((await store.referrers(a.descriptor)).map((d) => d.digest)).toEqual([sig.referrer.digest]);

    await removeReference(store, 'v1');
    const gone = await collectGarbage(store, { minAgeMs: 0 });
    expect(gone.manifests.map((m) => m.digest).sort()).toEqual([a.descriptor.digest, list.digest].sort());
    expect(gone.blobs.map((x) => x.digest)).toEqual(expect.arrayContaining([sig.referrer.digest, list.digest]));
    expect(index(dir).manifests).toEqual([]);
    expect(blobs(dir)).toEqual([]);
    await store.close();
  });
});

describe('rm on a layout: tags and manifests leave index.json; cosign keeps one target', () => {
  it('a tag, then a manifest by digest with every tag; unknown ones are NOT_FOUND', async () => {
    const { dir, store } = await layout();
    const a = await pack({ dir: SAMPLE, target: store, tags: ['v1', 'latest'], cache: null });
    const b = await pack({ dir: SAMPLE, target: store, tags: ['v2'], cache: null, createdAt: '2026-01-02T03:04:05Z' });
    // b was tagged last: it is cosign's target. Removing its tag hands the target to a.
    expect(
      index(dir)
        .manifests.filter((d) => d.annotations?.[KIND])
        .map((d) => d.digest),
    ).toEqual([b.descriptor.digest]);
    expect(await removeReference(store, 'v2')).toMatchObject({ digest: b.descriptor.digest, stillTagged: false });
    const entries = index(dir).manifests;
    expect(entries.find((d) => d.digest === b.descriptor.digest)?.annotations).toBeUndefined();
    expect(new Set(entries.filter((d) => d.annotations?.[KIND]).map((d) => d.digest))).toEqual(
      new Set([a.descriptor.digest]),
    );

    expect(await removeReference(store, a.descriptor.digest)).toEqual({
      digest: a.descriptor.digest,
      tags: ['v1', 'latest'],
      stillTagged: false,
    });
    expect(index(dir).manifests.map((d) => [d.digest, d.annotations?.[REF_NAME]])).toEqual([
      [b.descriptor.digest, undefined],
    ]);
    expect((await rejection(removeReference(store, 'v1'), 'NOT_FOUND')).message).toMatch(/tag "v1" not found/);
    expect((await rejection(removeReference(store, a.descriptor.digest), 'NOT_FOUND')).message).toMatch(
      /is not listed/,
    );
    await store.close();
  });

  it('a store that cannot delete (a registry) is a USAGE error naming layouts', async () => {
    const store = new MemoryStore('registry.example/acme/model');
    expect((await rejection(removeReference(store as never, 'v1'), 'USAGE')).message).toMatch(/works on OCI layouts/);
    expect((await rejection(collectGarbage(store as never), 'USAGE')).message).toMatch(/works on OCI layouts/);
  });
});
