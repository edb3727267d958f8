import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  truncateSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { sha256Digest } from '../src/digest.js';
import { MAX_INDEX_BYTES } from '../src/layout/index-file.js';
import { OciLayoutStore } from '../src/layout.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import type { Descriptor } from '../src/oci.js';
import { rejection } from './rejection.js';

const BLOB = 'application/octet-stream';
const REF_NAME = 'org.opencontainers.image.ref.name';

const desc = (bytes: Buffer, mediaType = BLOB): Descriptor => ({
  mediaType,
  digest: sha256Digest(bytes),
  size: bytes.length,
});
const source = (bytes: Buffer) => ({ open: () => Readable.from([bytes.subarray(0, 7), bytes.subarray(7)]) });

function manifest(
  o: {
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
    config?: Descriptor;
    n?: number;
  } = {},
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(o.artifactType ? { artifactType: o.artifactType } : {}),
      config: o.config ?? { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
      layers: [{ mediaType: BLOB, digest: sha256Digest(String(o.n ?? 0)), size: 1 }],
      ...(o.subject ? { subject: o.subject } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
    }),
  );
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('OciLayoutStore', () => {
  let tmp: string;
  let dir: string;
  let store: OciLayoutStore;
  const blobFile = (d: Descriptor): string => join(dir, 'blobs', 'sha256', d.digest.slice(7));
  const ingestLeft = (): string[] => (existsSync(join(dir, 'ingest')) ? readdirSync(join(dir, 'ingest')) : []);
  const index = (): { schemaVersion: number; mediaType: string; manifests: Descriptor[] } =>
    JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));

  beforeEach(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ms-layout-'));
    dir = join(tmp, 'layout');
    store = await OciLayoutStore.open(dir, { create: true });
  });
  afterEach(async () => {
    await store.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('open', () => {
    it('creates a valid image layout (oci-layout, index.json, blobs/sha256)', () => {
      expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      expect(index()).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
      expect(statSync(join(dir, 'blobs', 'sha256')).isDirectory()).toBe(true);
      expect(store.kind).toBe('oci-layout');
      expect(store.location).toBe(dir);
    });

    it('creates into an existing empty directory and re-opens an existing layout without create', async () => {
      const empty = join(tmp, 'empty');
      mkdirSync(empty);
      await (await OciLayoutStore.open(empty, { create: true })).close();
      expect(existsSync(join(empty, 'oci-layout'))).toBe(true);
      await expect(OciLayoutStore.open(dir)).resolves.toBeInstanceOf(OciLayoutStore);
    });

    it('refuses a missing directory without create (NOT_FOUND)', async () => {
      const e = await rejection(OciLayoutStore.open(join(tmp, 'nope')));
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toContain('nope');
    });

    it('refuses a directory that is not a layout, even with create (INPUT + hint)', async () => {
      const other = join(tmp, 'model');
      mkdirSync(other);
      writeFileSync(join(other, 'config.json'), '{}');
      for (const create of [false, true]) {
        const e = await rejection(OciLayoutStore.open(other, { create }));
        expect(e.code).toBe('INPUT');
        expect(e.message).toMatch(/not an OCI image layout/);
        expect(e.hint).toBeTruthy();
      }
      expect(readdirSync(other)).toEqual(['config.json']);
      const file = join(tmp, 'file');
      writeFileSync(file, 'x');
      expect((await rejection(OciLayoutStore.open(file))).code).toBe('INPUT');
    });

    it('refuses an unsupported layout version (INVALID)', async () => {
      writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
      expect((await rejection(OciLayoutStore.open(dir))).code).toBe('INVALID');
    });
  });

  describe('blobs', () => {
    it('round-trips a streamed blob and a Buffer blob', async () => {
      const a = randomBytes(100_000);
      const d = desc(a);
      const progress: number[] = [];
      expect(await store.exists(d)).toBe(false);
      expect(await store.push(d, source(a), { onProgress: (n) => progress.push(n) })).toEqual({ uploaded: true });
      expect(progress[progress.length - 1]).toBe(a.length);
      expect(await store.exists(d)).toBe(true);
      expect(await store.exists({ ...d, size: d.size + 1 })).toBe(false);
      expect((await readAll(await store.fetch(d))).equals(a)).toBe(true);
      expect(readFileSync(blobFile(d)).equals(a)).toBe(true);

      const b = Buffer.from('{"small":true}');
      expect(await store.push(desc(b), b)).toEqual({ uploaded: true });
      expect((await store.fetchBytes(desc(b))).equals(b)).toBe(true);
      expect(ingestLeft()).toEqual([]);
    });

    it('skips a blob that is already there, without opening the source', async () => {
      const a = Buffer.from('present');
      await store.push(desc(a), a);
      const r = await store.push(desc(a), {
        open: () => {
          throw new Error('must not be opened');
        },
      });
      expect(r).toEqual({ uploaded: false });
    });

    it('hard-links a local file on the same filesystem (same inode, source never opened)', async () => {
      const src = join(tmp, 'weights.bin');
      const bytes = randomBytes(50_000);
      writeFileSync(src, bytes);
      const d = desc(bytes);
      const progress: number[] = [];
      const r = await store.push(
        d,
        {
          path: src,
          open: () => {
            throw new Error('must not be opened');
          },
        },
        { onProgress: (n) => progress.push(n) },
      );
      expect(r.uploaded).toBe(true);
      expect(statSync(blobFile(d)).ino).toBe(statSync(src).ino);
      expect(progress).toEqual([]); // a link moves no bytes
      expect((await readAll(await store.fetch(d))).equals(bytes)).toBe(true);
      expect(ingestLeft()).toEqual([]);
    });

    it('hard-links the target of a symlinked source, not the symlink', async () => {
      const src = join(tmp, 'real.bin');
      writeFileSync(src, 'real bytes');
      symlinkSync('real.bin', join(tmp, 'link.bin'));
      const d = desc(Buffer.from('real bytes'));
      await store.push(d, { path: join(tmp, 'link.bin'), open: () => Readable.from([]) });
      expect(lstatSync(blobFile(d)).isFile()).toBe(true);
      expect(statSync(blobFile(d)).ino).toBe(statSync(src).ino);
    });

    const shm = '/dev/shm';
    const otherFs = existsSync(shm) && statSync(shm).dev !== statSync(tmpdir()).dev;
    (otherFs ? it : it.skip)('copies (verified) when the file is on another filesystem (EXDEV)', async () => {
      const other = mkdtempSync(join(shm, 'ms-layout-'));
      try {
        const src = join(other, 'weights.bin');
        const bytes = randomBytes(70_000);
        writeFileSync(src, bytes);
        const d = desc(bytes);
        let opened = 0;
        await store.push(d, {
          path: src,
          open: () => {
            opened++;
            return Readable.from([bytes]);
          },
        });
        expect(opened).toBe(1);
        expect(statSync(blobFile(d)).ino).not.toBe(statSync(src).ino);
        expect(readFileSync(blobFile(d)).equals(bytes)).toBe(true);
        expect(ingestLeft()).toEqual([]);
      } finally {
        rmSync(other, { recursive: true, force: true });
      }
    });

    it('refuses to link a file whose size does not match the descriptor (INVALID, nothing stored)', async () => {
      const src = join(tmp, 'w.bin');
      writeFileSync(src, 'abc');
      const d = { ...desc(Buffer.from('abcd')) };
      const e = await rejection(store.push(d, { path: src, open: () => Readable.from([Buffer.from('abc')]) }));
      expect(e.code).toBe('INVALID');
      expect(existsSync(blobFile(d))).toBe(false);
    });

    it('fails INVALID on a tampered blob (same size) while streaming, and in fetchBytes', async () => {
      const a = randomBytes(3 * 1024 * 1024);
      const d = desc(a);
      await store.push(d, a);
      const tampered = Buffer.from(a);
      tampered[1234] = tampered[1234]! ^ 0xff;
      writeFileSync(blobFile(d), tampered);
      const e = await rejection(readAll(await store.fetch(d)));
      expect(e.code).toBe('INVALID');
      expect(e.message).toContain(d.digest);
      expect((await rejection(store.fetchBytes(d))).code).toBe('INVALID');
    });

    it('fails INVALID at once on a truncated blob', async () => {
      const a = Buffer.from('0123456789');
      await store.push(desc(a), a);
      writeFileSync(blobFile(desc(a)), '01234');
      expect((await rejection(store.fetch(desc(a)))).code).toBe('INVALID');
    });

    it('fetch of an absent blob is NOT_FOUND naming the digest', async () => {
      const d = desc(Buffer.from('absent'));
      const e = await rejection(store.fetch(d));
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toContain(d.digest);
    });

    it('rejects a push whose bytes do not match the digest or size: INVALID, no blob, no temp file', async () => {
      const claimed = desc(Buffer.from('the real content'));
      const liar = Buffer.from('other content!!!'); // same length
      for (const src of [source(liar), liar] as const) {
        const e = await rejection(store.push(claimed, src));
        expect(e.code).toBe('INVALID');
        expect(existsSync(blobFile(claimed))).toBe(false);
        expect(ingestLeft()).toEqual([]);
      }
      const longer = await rejection(store.push(claimed, source(Buffer.from('the real content, and more'))));
      expect(longer.code).toBe('INVALID');
      const shorter = await rejection(store.push(claimed, source(Buffer.from('the real'))));
      expect(shorter.code).toBe('INVALID');
      expect(existsSync(blobFile(claimed))).toBe(false);
      expect(ingestLeft()).toEqual([]);
    });

    it('replaces a corrupt blob of the wrong size on push', async () => {
      const a = Buffer.from('good content');
      const d = desc(a);
      mkdirSync(dirname(blobFile(d)), { recursive: true });
      writeFileSync(blobFile(d), 'bad');
      expect(await store.exists(d)).toBe(false);
      await store.push(d, source(a));
      expect(readFileSync(blobFile(d)).equals(a)).toBe(true);
    });

    it('validates digests before touching paths (no traversal)', async () => {
      for (const digest of [
        'sha256:../../../etc/passwd',
        'sha256:ABC',
        `sha512:${'a'.repeat(128)}`,
        `sha256:${'a'.repeat(63)}/`,
      ]) {
        const d = { mediaType: BLOB, digest, size: 1 };
        expect((await rejection(store.exists(d))).code).toBe('INVALID');
        expect((await rejection(store.fetch(d))).code).toBe('INVALID');
        expect((await rejection(store.push(d, Buffer.from('x')))).code).toBe('INVALID');
        expect((await rejection(store.tag(d, 'x'))).code).toBe('INVALID');
        expect((await rejection(store.referrers(d))).code).toBe('INVALID');
      }
    });

    it('caps fetchBytes (INVALID above the limit)', async () => {
      const a = randomBytes(2000);
      await store.push(desc(a), a);
      expect((await rejection(store.fetchBytes(desc(a), 1000))).code).toBe('INVALID');
      expect((await store.fetchBytes(desc(a), 2000)).length).toBe(2000);
    });

    it('ingests a stream of unknown digest in one read', async () => {
      const a = randomBytes(200_000);
      let reads = 0;
      const stream = Readable.from(
        (function* () {
          reads++;
          yield a.subarray(0, 1000);
          yield a.subarray(1000);
        })(),
      );
      const r = await store.ingest(BLOB, stream);
      expect(reads).toBe(1);
      expect(r).toEqual({ descriptor: desc(a), uploaded: true });
      expect(readFileSync(blobFile(desc(a))).equals(a)).toBe(true);
      const again = await store.ingest(BLOB, Readable.from([a]));
      expect(again.uploaded).toBe(false);
      expect(ingestLeft()).toEqual([]);
    });

    it('disk full (ENOSPC) while writing: INPUT "disk full" with a hint, no temp file, no blob', async () => {
      const a = randomBytes(100_000);
      const d = desc(a);
      const failing = {
        open: () =>
          new Readable({
            read() {
              this.destroy(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
            },
          }),
      };
      const e = await rejection(store.push(d, failing));
      expect(e.code).toBe('INPUT');
      expect(e.message).toMatch(/disk full/);
      expect(e.hint).toMatch(/free space/);
      expect(existsSync(blobFile(d))).toBe(false);
      expect(ingestLeft()).toEqual([]);
    });
  });

  describe('disk full on a real small filesystem', () => {
    const canMount = process.getuid?.() === 0 && process.platform === 'linux';
    (canMount ? it : it.skip)('leaves nothing half-written when the disk fills up', async () => {
      const mnt = join(tmp, 'small');
      mkdirSync(mnt);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' });
      } catch {
        return; // no mount permission in this sandbox
      }
      try {
        const small = await OciLayoutStore.open(join(mnt, 'layout'), { create: true });
        const big = randomBytes(2 * 1024 * 1024);
        const e = await rejection(small.push(desc(big), source(big)));
        expect(e.code).toBe('INPUT');
        expect(e.message).toMatch(/disk full/);
        expect(readdirSync(join(mnt, 'layout', 'blobs', 'sha256'))).toEqual([]);
        expect(readdirSync(join(mnt, 'layout', 'ingest'))).toEqual([]);
        const ok = Buffer.from('fits');
        await small.push(desc(ok), ok);
        expect(await small.exists(desc(ok))).toBe(true);
      } finally {
        execFileSync('umount', [mnt]);
      }
    });
  });

  describe('manifests, tags and resolve', () => {
    it('lists every pushed manifest in index.json (untagged) and resolves it by digest', async () => {
      const m = manifest({ artifactType: 'application/x.test' });
      const d = desc(m, OCI_MANIFEST);
      await store.push(d, m);
      await store.push(d, m); // idempotent
      expect(index().manifests).toEqual([{ ...d, artifactType: 'application/x.test' }]);
      expect(await store.resolve(d.digest)).toEqual({ ...d, artifactType: 'application/x.test' });
      const viaIngest = await store.ingest(OCI_MANIFEST, Readable.from([manifest({ n: 2 })]));
      expect(index().manifests.map((x) => x.digest)).toContain(viaIngest.descriptor.digest);
    });

    it('tags, resolves, moves a tag, and keeps the old manifest as an untagged root', async () => {
      const a = manifest({ n: 1 });
      const b = manifest({ n: 2 });
      const da = desc(a, OCI_MANIFEST);
      const db = desc(b, OCI_MANIFEST);
      await store.push(da, a);
      await store.push(db, b);
      await store.tag(da, 'v1');
      expect(await store.resolve('v1')).toEqual(da);
      await store.tag(db, 'v1');
      expect(await store.resolve('v1')).toEqual(db);
      await store.tag(da, 'old');
      await store.tag(da, 'v0.9');
      expect(await store.resolve('old')).toEqual(da);
      expect(await store.resolve('v0.9')).toEqual(da);
      await store.tag(db, 'v1'); // no-op
      const entries = index().manifests;
      expect(entries.filter((e) => e.annotations?.[REF_NAME] === 'v1').map((e) => e.digest)).toEqual([db.digest]);
      expect(
        entries
          .filter((e) => e.digest === da.digest)
          .map((e) => e.annotations?.[REF_NAME])
          .sort(),
      ).toEqual(['old', 'v0.9']);
      expect(entries.filter((e) => e.digest === db.digest)).toHaveLength(1);
      expect(await store.tags()).toEqual(expect.arrayContaining(['v1', 'old', 'v0.9']));
    });

    it('NOT_FOUND for an unknown tag names the tag and layout and lists the tags', async () => {
      const m = manifest();
      await store.push(desc(m, OCI_MANIFEST), m);
      await store.tag(desc(m, OCI_MANIFEST), 'latest');
      const e = await rejection(store.resolve('v2'));
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toContain('"v2"');
      expect(e.message).toContain(dir);
      expect(e.hint).toContain('latest');
      expect((await rejection(store.resolve(sha256Digest('nothing')))).code).toBe('NOT_FOUND');
      expect((await rejection(store.resolve('bad tag!'))).code).toBe('USAGE');
    });

    it('refuses to tag a manifest that is not in the layout, and invalid tags', async () => {
      const m = manifest();
      expect((await rejection(store.tag(desc(m, OCI_MANIFEST), 'x'))).code).toBe('NOT_FOUND');
      await store.push(desc(m, OCI_MANIFEST), m);
      expect((await rejection(store.tag(desc(m, OCI_MANIFEST), '-bad'))).code).toBe('USAGE');
    });

    it('resolves a manifest blob by digest even when index.json does not list it', async () => {
      const m = manifest({ n: 7 });
      await store.push(desc(m, BLOB), m); // stored as a plain blob: not indexed
      expect(index().manifests).toEqual([]);
      expect(await store.resolve(desc(m).digest)).toEqual(desc(m, OCI_MANIFEST));
    });

    it('reports a corrupt index.json instead of overwriting it', async () => {
      writeFileSync(join(dir, 'index.json'), '{"manifests": [');
      const m = manifest();
      expect((await rejection(store.push(desc(m, OCI_MANIFEST), m))).code).toBe('INVALID');
      expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe('{"manifests": [');
    });

    it('refuses an index.json over MAX_INDEX_BYTES without reading it into memory whole', async () => {
      // Sparse: 1 byte over the cap costs no disk.
      truncateSync(join(dir, 'index.json'), MAX_INDEX_BYTES + 1);
      const e = await rejection(store.resolve('latest'), 'INVALID');
      expect(e.message).toMatch(/index\.json is larger than 67108864 bytes/);
      truncateSync(join(dir, 'index.json'), 0);
      writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
    });
  });

  describe('referrers', () => {
    async function pushManifest(s: OciLayoutStore, m: Buffer): Promise<Descriptor> {
      const d = desc(m, OCI_MANIFEST);
      await s.push(d, m);
      return d;
    }

    it('finds referrers with artifactType and annotations, and filters by artifactType', async () => {
      const subject = await pushManifest(store, manifest({ n: 1 }));
      const other = await pushManifest(store, manifest({ n: 2 }));
      const sig = await pushManifest(
        store,
        manifest({ artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json', subject, annotations: { k: 'v' } }),
      );
      const att = await pushManifest(
        store,
        manifest({ config: { mediaType: 'application/x.legacy-config', digest: sha256Digest('c'), size: 1 }, subject }),
      );
      await pushManifest(store, manifest({ artifactType: 'application/x.other', subject: other }));

      const all = await store.referrers(subject);
      expect(all).toEqual([
        { ...sig, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json', annotations: { k: 'v' } },
        { ...att, artifactType: 'application/x.legacy-config' },
      ]);
      expect(await store.referrers(subject, 'application/x.legacy-config')).toEqual([all[1]]);
      expect(await store.referrers(subject, 'application/x.none')).toEqual([]);
      expect(await store.referrers(sig)).toEqual([]);
      // A referrer of a referrer (a signature on an attestation) is found on its own subject.
      const sigOfSig = await pushManifest(store, manifest({ artifactType: 'application/x.sig', subject: sig }));
      expect((await store.referrers(sig)).map((d) => d.digest)).toEqual([sigOfSig.digest]);
    });

    it('sees referrers pushed by another store instance after it was opened', async () => {
      const subject = await pushManifest(store, manifest({ n: 1 }));
      expect(await store.referrers(subject)).toEqual([]);
      const other = await OciLayoutStore.open(dir);
      const r = await pushManifest(other, manifest({ artifactType: 'application/x.a', subject }));
      await other.close();
      expect((await store.referrers(subject)).map((d) => d.digest)).toEqual([r.digest]);
    });

    it('reads the image-spec#1171 shape and regclient fallback-tag indexes, re-checking each subject', async () => {
      const subject = await pushManifest(store, manifest({ n: 1 }));
      const unrelated = await pushManifest(store, manifest({ n: 2 }));
      // Referrer manifests stored as plain blobs, so index.json does not list them directly.
      const r1 = manifest({ artifactType: 'application/x.r1', subject });
      const r2 = manifest({ artifactType: 'application/x.r2', subject });
      const liar = manifest({ artifactType: 'application/x.liar', subject: unrelated });
      for (const m of [r1, r2, liar]) await store.push(desc(m), m);
      const listing = (ms: Buffer[]) =>
        Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: ms.map((m) => desc(m, OCI_MANIFEST)) }),
        );
      const proposal = listing([r1, liar]);
      const fallback = listing([r2]);
      await store.push(desc(proposal), proposal);
      await store.push(desc(fallback), fallback);
      const idx = index();
      idx.manifests.push(
        { ...desc(proposal, OCI_INDEX), annotations: { 'org.opencontainers.image.referrer.subject': subject.digest } },
        { ...desc(fallback, OCI_INDEX), annotations: { [REF_NAME]: `sha256-${subject.digest.slice(7)}` } },
      );
      writeFileSync(join(dir, 'index.json'), JSON.stringify(idx));
      const found = await store.referrers(subject);
      expect(found.map((d) => d.artifactType).sort()).toEqual(['application/x.r1', 'application/x.r2']);
    });

    it('keeps every referrer when two store instances push concurrently (index.json lock)', async () => {
      const subject = await pushManifest(store, manifest({ n: 1 }));
      const a = await OciLayoutStore.open(dir);
      const b = await OciLayoutStore.open(dir);
      const pushes: Promise<Descriptor>[] = [];
      for (let i = 0; i < 25; i++) {
        pushes.push(pushManifest(a, manifest({ artifactType: 'application/x.a', subject, n: i })));
        pushes.push(pushManifest(b, manifest({ artifactType: 'application/x.b', subject, n: i })));
      }
      await Promise.all(pushes);
      await Promise.all([a.close(), b.close()]);
      expect(await store.referrers(subject)).toHaveLength(50);
      expect(index().manifests).toHaveLength(51);
      expect(existsSync(join(dir, 'index.json.lock'))).toBe(false);
    });

    it('keeps every referrer when two processes push concurrently', async () => {
      const subject = await pushManifest(store, manifest({ n: 1 }));
      // The children load the compiled package (npm test runs `tsc -b` first).
      const child = join(tmp, 'child.mjs');
      writeFileSync(
        child,
        `import { OciLayoutStore } from ${JSON.stringify(pathToFileURL(COMPILED_LAYOUT).href)};
import { createHash } from 'node:crypto';
const [dir, subjectJson, who] = process.argv.slice(2);
const subject = JSON.parse(subjectJson);
const store = await OciLayoutStore.open(dir);
for (let i = 0; i < 30; i++) {
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: '${OCI_MANIFEST}', artifactType: 'application/x.' + who,
    config: { mediaType: '${OCI_EMPTY}', digest: '${OCI_EMPTY_DIGEST}', size: 2 }, layers: [], subject, annotations: { i: String(i) } }));
  const digest = 'sha256:' + createHash('sha256').update(m).digest('hex');
  await store.push({ mediaType: '${OCI_MANIFEST}', digest, size: m.length }, m);
}
await store.close();
`,
      );
      const run = (who: string): Promise<void> =>
        new Promise((resolve, reject) => {
          const p = spawn(process.execPath, [child, dir, JSON.stringify(subject), who], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let err = '';
          p.stderr.on('data', (c: Buffer) => (err += c.toString()));
          p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${who} exited ${code}: ${err}`))));
        });
      await Promise.all([run('one'), run('two')]);
      const found = await store.referrers(subject);
      expect(found.filter((d) => d.artifactType === 'application/x.one')).toHaveLength(30);
      expect(found.filter((d) => d.artifactType === 'application/x.two')).toHaveLength(30);
      expect(index().manifests).toHaveLength(61);
    }, 60_000);
  });

  describe('index.json lock', () => {
    it('breaks a stale lock left by a dead process', async () => {
      writeFileSync(join(dir, 'index.json.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), time: 0 }));
      const m = manifest();
      await store.push(desc(m, OCI_MANIFEST), m);
      expect(index().manifests).toHaveLength(1);
      expect(existsSync(join(dir, 'index.json.lock'))).toBe(false);
    });

    it('gives up with CONFLICT while a live process holds the lock', async () => {
      writeFileSync(
        join(dir, 'index.json.lock'),
        JSON.stringify({ pid: process.ppid, host: hostname(), time: Date.now() }),
      );
      const s = await OciLayoutStore.open(dir, { lockTimeoutMs: 200 });
      const m = manifest();
      const e = await rejection(s.push(desc(m, OCI_MANIFEST), m));
      expect(e.code).toBe('CONFLICT');
      expect(e.hint).toContain('index.json.lock');
      expect(existsSync(join(dir, 'index.json.lock'))).toBe(true);
    });
  });
});

const COMPILED_LAYOUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'layout.js');
