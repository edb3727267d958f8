// A hostile registry (or layout) cannot hand out an unbounded referrers list: past
// MAX_REFERRERS entries (counted across pages, malformed entries included) or MAX_REFERRER_PAGES
// pages, every store refuses with INVALID; at the cap everything still works. The registry is a
// loopback HTTP server speaking the referrers API (with `Link: rel="next"` pages) or only the
// fallback tag; the layout is written to disk as another tool would leave it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest } from '../src/digest.js';
import { OciLayoutStore } from '../src/layout.js';
import { OCI_EMPTY, OCI_EMPTY_DIGEST, OCI_INDEX, OCI_MANIFEST } from '../src/mediatypes.js';
import { referrersFallbackTag, type Descriptor } from '../src/oci.js';
import { MAX_REFERRER_PAGES, MAX_REFERRERS, addToFallbackIndex } from '../src/registry/referrers.js';
import { RegistryStore } from '../src/registry/registry-store.js';

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const subject: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest('the model'), size: 9 };

function entries(n: number, from = 0): Descriptor[] {
  return Array.from({ length: n }, (_, i) => ({
    mediaType: OCI_MANIFEST,
    digest: sha256Digest(`referrer ${from + i}`),
    size: 300,
    artifactType: BUNDLE,
  }));
}

/** What the stand-in serves: a referrers API in pages of `pageSize`, or only the fallback tag. */
interface Listing {
  list: unknown[];
  pageSize: number;
  api: boolean;
}

describe('referrers cap on a registry', () => {
  let server: Server;
  let registry: string;
  let listing: Listing;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === `/v2/x/y/referrers/${subject.digest}`) {
        if (!listing.api) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
        const page = Number(url.searchParams.get('page') ?? 0);
        const manifests = listing.list.slice(page * listing.pageSize, (page + 1) * listing.pageSize);
        const headers: Record<string, string> = { 'content-type': OCI_INDEX };
        if ((page + 1) * listing.pageSize < listing.list.length)
          headers['link'] = `</v2/x/y/referrers/${subject.digest}?page=${page + 1}>; rel="next"`;
        return void res
          .writeHead(200, headers)
          .end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
      }
      if (url.pathname === `/v2/x/y/manifests/${referrersFallbackTag(subject.digest)}`) {
        const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listing.list });
        return void res.writeHead(200, { 'content-type': OCI_INDEX }).end(body);
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function referrers(l: Listing): Promise<Descriptor[]> {
    listing = l;
    requests = 0;
    const store = new RegistryStore({
      registry,
      repository: 'x/y',
      plainHttp: true,
      retries: 0,
      dockerConfig: '/nonexistent',
    });
    try {
      return await store.referrers(subject);
    } finally {
      await store.close();
    }
  }

  const tooMany = { code: 'INVALID', message: expect.stringMatching(/more than 1000 referrers/) as unknown as string };

  it('one page: cap + 1 entries is INVALID, exactly the cap works', async () => {
    expect(MAX_REFERRERS).toBe(1000);
    await expect(referrers({ list: entries(MAX_REFERRERS + 1), pageSize: 5000, api: true })).rejects.toMatchObject(
      tooMany,
    );
    expect(await referrers({ list: entries(MAX_REFERRERS), pageSize: 5000, api: true })).toHaveLength(MAX_REFERRERS);
  });

  it('malformed entries count too: a page of junk past the cap is refused, not silently emptied', async () => {
    const junk = Array.from({ length: MAX_REFERRERS + 1 }, (_, i) => ({ digest: `nope-${i}` }));
    await expect(referrers({ list: junk, pageSize: 5000, api: true })).rejects.toMatchObject(tooMany);
  });

  it('across Link pages: cap + 1 in pages of 250 is INVALID after five pages, the cap in four works', async () => {
    await expect(referrers({ list: entries(MAX_REFERRERS + 1), pageSize: 250, api: true })).rejects.toMatchObject(
      tooMany,
    );
    expect(requests).toBe(5);
    const got = await referrers({ list: entries(MAX_REFERRERS), pageSize: 250, api: true });
    expect(got.map((d) => d.digest)).toEqual(entries(MAX_REFERRERS).map((d) => d.digest));
    expect(requests).toBe(4);
  });

  it('a listing that pages on past the page cap is INVALID instead of silently cut short', async () => {
    expect(MAX_REFERRER_PAGES).toBe(100);
    await expect(referrers({ list: entries(MAX_REFERRER_PAGES + 1), pageSize: 1, api: true })).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringMatching(/more than 100 pages/) as unknown as string,
    });
    expect(requests).toBe(MAX_REFERRER_PAGES);
    // The cap in pages of 10 (the ORAS draft's default page size) is exactly 100 pages: fine.
    expect(await referrers({ list: entries(MAX_REFERRERS), pageSize: 10, api: true })).toHaveLength(MAX_REFERRERS);
  });

  it('the fallback tag (no referrers API): cap + 1 is INVALID, the cap works', async () => {
    await expect(referrers({ list: entries(MAX_REFERRERS + 1), pageSize: 0, api: false })).rejects.toMatchObject(
      tooMany,
    );
    expect(await referrers({ list: entries(MAX_REFERRERS), pageSize: 0, api: false })).toHaveLength(MAX_REFERRERS);
  });
});

describe('referrers cap on the fallback index write', () => {
  /** A fallback tag in memory holding `n` entries; `puts` records the size of each write. */
  function io(n: number): {
    location: string;
    puts: number[];
    get(): Promise<Buffer>;
    put(t: string, b: Buffer): Promise<void>;
  } {
    let stored: Buffer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries(n) }));
    const puts: number[] = [];
    return {
      location: `cap.test/x${n}`,
      puts,
      get: async () => stored,
      put: async (_tag, bytes) => {
        puts.push((JSON.parse(bytes.toString('utf8')) as { manifests: unknown[] }).manifests.length);
        stored = bytes;
      },
    };
  }

  it('adding a referrer to an index already at the cap is refused before anything is written', async () => {
    const full = io(MAX_REFERRERS);
    await expect(addToFallbackIndex(full, subject.digest, entries(1, 5000)[0]!)).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringMatching(/more than 1000 referrers/) as unknown as string,
    });
    expect(full.puts).toEqual([]);
    const below = io(MAX_REFERRERS - 1);
    await addToFallbackIndex(below, subject.digest, entries(1, 5000)[0]!);
    expect(below.puts).toEqual([MAX_REFERRERS]);
  });
});

describe('referrers cap on an OCI layout', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelship-refcap-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A layout as another tool could leave it: `n` referrer manifests of `subject`, all in index.json. */
  async function layoutWith(n: number): Promise<string> {
    const root = join(dir, `l${n}`);
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const index: Descriptor[] = [];
    for (let i = 0; i < n; i++) {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: BUNDLE,
          config: { mediaType: OCI_EMPTY, digest: OCI_EMPTY_DIGEST, size: 2 },
          layers: [{ mediaType: BUNDLE, digest: sha256Digest(`bundle ${i}`), size: 10 }],
          subject,
        }),
      );
      const digest = sha256Digest(bytes);
      await writeFile(join(root, 'blobs', 'sha256', digest.slice(7)), bytes);
      index.push({ mediaType: OCI_MANIFEST, digest, size: bytes.length, artifactType: BUNDLE });
    }
    await writeFile(
      join(root, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: index }),
    );
    return root;
  }

  it('cap + 1 referrers of one subject is INVALID, the cap works', async () => {
    const over = await OciLayoutStore.open(await layoutWith(MAX_REFERRERS + 1));
    await expect(over.referrers(subject)).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringMatching(/more than 1000 referrers/) as unknown as string,
    });
    await over.close();
    const at = await OciLayoutStore.open(await layoutWith(MAX_REFERRERS));
    expect(await at.referrers(subject)).toHaveLength(MAX_REFERRERS);
    await at.close();
  });
});
