// Fault injection against real docker-registry instances on 127.0.0.1 (through the fault
// proxy) and a size-limited tmpfs for the layout: each scenario runs FAULT_RUNS times (default
// 3 here; docs/reliability.md reports a 50-run sweep, MODELSHIP_FAULT_RUNS=50). Every run must
// either complete or fail with a clear ModelshipError, and in both cases the target must be
// consistent: no manifest pointing at a missing blob, no fallback index missing a referrer that
// is present, no layout entry whose bytes are wrong. A failed run is re-run without faults and
// must then complete, moving only what is missing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyGraph } from '../packages/core/src/copy.js';
import { parseManifest } from '../packages/core/src/manifest.js';
import { sha256Digest } from '../packages/core/src/digest.js';
import { ModelshipError } from '../packages/core/src/errors.js';
import { OciLayoutStore } from '../packages/core/src/layout.js';
import { referrersFallbackTag, type Descriptor, type Index } from '../packages/core/src/oci.js';
import { RegistryStore, type RegistryStoreOptions } from '../packages/core/src/registry/index.js';
import type { ContentStore } from '../packages/core/src/store.js';
import { parsePolicy, type Policy } from '../packages/core/src/policy/index.js';
import { promoteArtifact, type PromoteResult } from '../packages/core/src/promote.js';
import { keySourceFrom, signingSetup, type SigningSetup } from '../packages/core/src/sign/index.js';
import { verifyArtifact } from '../packages/core/src/verify/index.js';
import { runCli } from './helpers/cli.js';
import { startFaultProxy, type Fault, type FaultProxy } from './helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const RUNS = Number(process.env['MODELSHIP_FAULT_RUNS'] ?? 3);
const REPORT = process.env['MODELSHIP_FAULT_REPORT'];
const MiB = 1024 * 1024;

const tmp = tempDir('modelship-faults-');
const outcomes: Record<
  string,
  { runs: number; completed: number; failedClearly: number; rerunCompleted: number; errors: string[] }
> = {};

afterAll(() => {
  if (REPORT) writeFileSync(REPORT, JSON.stringify({ runs: RUNS, outcomes }, null, 2));
  tmp.cleanup();
});

/** A seeded PRNG so a failing run can be replayed (the seed is in the test name). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

interface Graph {
  root: Descriptor;
  /** Every manifest of the graph: root first, then referrers (and theirs). */
  manifests: Descriptor[];
  blobs: Descriptor[];
  referrersOf: Map<string, Descriptor[]>;
}

async function walk(store: ContentStore, root: Descriptor): Promise<Graph> {
  const g: Graph = { root, manifests: [], blobs: [], referrersOf: new Map() };
  const visit = async (d: Descriptor): Promise<void> => {
    g.manifests.push(d);
    const doc = parseManifest(await store.fetchBytes(d), d);
    if ('layers' in doc) g.blobs.push(doc.config, ...doc.layers);
    const refs = await store.referrers(d);
    g.referrersOf.set(d.digest, refs);
    for (const r of refs) await visit({ mediaType: r.mediaType, digest: r.digest, size: r.size });
  };
  await visit(root);
  return g;
}

/**
 * The consistency rules after any run, read straight from the registry (not through the
 * proxy): every manifest present has all its blobs, and a present referrer is listed in the
 * subject's fallback index.
 */
async function checkRegistry(store: RegistryStore, g: Graph): Promise<{ manifestsPresent: number }> {
  let manifestsPresent = 0;
  for (const m of g.manifests) {
    if (!(await store.exists(m))) continue;
    manifestsPresent++;
    const bytes = await store.fetchBytes(m);
    expect(sha256Digest(bytes)).toBe(m.digest);
    const doc = parseManifest(bytes, m);
    if ('layers' in doc)
      for (const b of [doc.config, ...doc.layers])
        if (!(await store.exists(b))) throw new Error(`manifest ${m.digest} points at missing blob ${b.digest}`);
  }
  for (const [subject, refs] of g.referrersOf) {
    const present: Descriptor[] = [];
    for (const r of refs) if (await store.exists(r)) present.push(r);
    if (present.length === 0) continue;
    let listed: string[] = [];
    try {
      const ix = JSON.parse(
        (await store.fetchBytes(await store.resolve(referrersFallbackTag(subject)))).toString('utf8'),
      ) as Index;
      listed = ix.manifests.map((d) => d.digest);
    } catch {
      listed = [];
    }
    for (const r of present)
      if (!listed.includes(r.digest)) throw new Error(`fallback index of ${subject} lost referrer ${r.digest}`);
  }
  return { manifestsPresent };
}

/** Every index.json entry of a layout resolves to a complete graph with bytes matching their digests. */
async function checkLayout(dir: string): Promise<void> {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Index;
  const blob = (d: Descriptor): Buffer => {
    const bytes = readFileSync(join(dir, 'blobs', 'sha256', d.digest.slice(7)));
    if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest)
      throw new Error(`layout blob ${d.digest} is corrupt`);
    return bytes;
  };
  const visit = (d: Descriptor): void => {
    const doc = parseManifest(blob(d), d);
    if ('manifests' in doc) doc.manifests.forEach(visit);
    else [doc.config, ...doc.layers].forEach(blob);
  };
  index.manifests.forEach(visit);
  // No half-written blob under a digest name, whatever index.json references.
  for (const name of readdirSync(join(dir, 'blobs', 'sha256'))) {
    if (!/^[a-f0-9]{64}$/.test(name)) throw new Error(`stray file blobs/sha256/${name} in layout ${dir}`);
    const bytes = readFileSync(join(dir, 'blobs', 'sha256', name));
    if (sha256Digest(bytes) !== `sha256:${name}`) throw new Error(`layout blob ${name} holds other bytes`);
  }
}

function record(scenario: string): (typeof outcomes)[string] {
  return (outcomes[scenario] ??= { runs: 0, completed: 0, failedClearly: 0, rerunCompleted: 0, errors: [] });
}

describe('fault injection: push with referrers through a misbehaving network', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let source: OciLayoutStore;
  let root: Descriptor;
  let graph: Graph;
  let policy: Policy;
  let recordSetup: SigningSetup;
  const stores: RegistryStore[] = [];
  const open = (host: string, repository: string, o: Partial<RegistryStoreOptions> = {}): RegistryStore => {
    const s = new RegistryStore({
      registry: host,
      repository,
      plainHttp: true,
      retries: 3,
      backoffMs: 20,
      dockerConfig: '/nonexistent',
      ...o,
    });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    // The sample model plus two multi-MiB weights, so resets land mid-blob; signed twice so
    // the fallback index has more than one entry to lose.
    const model = copySample(tmp.dir, 'model');
    writeFileSync(join(model, 'extra-1.safetensors'), randomBytes(3 * MiB));
    writeFileSync(join(model, 'extra-2.safetensors'), randomBytes(2 * MiB));
    const layout = join(tmp.dir, 'src-oci');
    const packed = await runCli(['pack', model, '--output', `${layout}:v1`, '--json', '--no-cache']);
    expect(packed.status).toBe(0);
    const keyPath = join(tmp.dir, 'k.pem');
    const kp = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(keyPath, kp.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const pubPath = join(tmp.dir, 'k.pub');
    writeFileSync(pubPath, kp.publicKey.export({ type: 'spki', format: 'pem' }));
    policy = parsePolicy(`version: 1\nsigners:\n  - key: { path: ${pubPath} }\n`, 'faults-policy.yaml');
    recordSetup = await signingSetup({ key: keySourceFrom(keyPath), tlog: false });
    for (let i = 0; i < 2; i++)
      expect((await runCli(['sign', `oci:${layout}:v1`, '--key', keyPath, '--no-tlog'])).status).toBe(0);
    source = await OciLayoutStore.open(layout);
    root = await source.resolve('v1');
    graph = await walk(source, root);
    expect(graph.manifests.length).toBe(3);
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await source?.close();
    await proxy?.close();
    await reg?.cleanup();
  });

  /**
   * One run: copy the graph through the proxy with `faults`; check consistency; on failure
   * check the error is a clear ModelshipError, re-run clean and check it completes.
   */
  async function runScenario(
    scenario: string,
    i: number,
    faults: Fault[],
    o: Partial<RegistryStoreOptions> = {},
    /** Awaited after the faulty attempt, before checking (a killed registry coming back). */
    settle: () => Promise<void> = () => Promise.resolve(),
    /** What moves the artifact: a plain graph copy (push) by default, or a promotion. */
    transfer: (dst: RegistryStore) => Promise<unknown> = (dst) => copyGraph(source, dst, root, { tags: ['v1'] }),
  ): Promise<void> {
    const stat = record(scenario);
    stat.runs++;
    const repo = `faults/${scenario}-${i}`;
    proxy.faults = faults;
    const firedBefore = Object.values(proxy.fired).reduce((a, b) => a + b, 0);
    const through = open(proxy.host, repo, o);
    const direct = open(reg.host, repo);
    let done = false;
    try {
      await transfer(through);
      done = true;
      stat.completed++;
    } catch (e) {
      if (!(e instanceof ModelshipError)) throw e;
      expect(e.message).toMatch(/127\.0\.0\.1|registry|blob|manifest|upload/);
      stat.failedClearly++;
      if (stat.errors.length < 5) stat.errors.push(`${e.code}: ${e.message.slice(0, 200)}`);
    } finally {
      proxy.faults = [];
      await settle();
    }
    // A scenario whose fault never fired would test nothing.
    expect(Object.values(proxy.fired).reduce((a, b) => a + b, 0)).toBeGreaterThan(firedBefore);
    await checkRegistry(direct, graph);
    if (!done) {
      await transfer(open(proxy.host, repo));
      stat.rerunCompleted++;
    }
    const final = await checkRegistry(direct, graph);
    expect(final.manifestsPresent).toBe(graph.manifests.length);
    expect((await direct.resolve('v1')).digest).toBe(root.digest);
  }

  const UPLOAD = /\/blobs\/uploads\//;

  it.each(Array.from({ length: RUNS }, (_, i) => i))('connection reset mid-blob (run %i)', async (i) => {
    const r = rng(1000 + i);
    await runScenario('reset-mid-blob', i, [
      {
        method: r() < 0.5 ? 'PUT' : 'PATCH',
        path: UPLOAD,
        times: 1 + Math.floor(r() * 2),
        action: { kind: 'reset-request', afterBytes: 1 + Math.floor(r() * 2 * MiB) },
      },
    ]);
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))('500/502/503 bursts anywhere (run %i)', async (i) => {
    const r = rng(2000 + i);
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
    const faults: Fault[] = Array.from({ length: 2 }, () => ({
      method: pick(['HEAD', 'GET', 'POST', 'PUT', 'PATCH']),
      path: pick([/\/blobs\//, /\/manifests\//, UPLOAD, /sha256-/]),
      times: 1 + Math.floor(r() * 3),
      action: { kind: 'status', status: pick([500, 502, 503]), when: r() < 0.7 ? 'before' : 'after' },
    }));
    // One that always meets a request (every blob is HEADed first), two anywhere.
    faults.unshift({
      method: 'HEAD',
      path: /\/blobs\//,
      times: 1 + Math.floor(r() * 3),
      action: { kind: 'status', status: pick([500, 502, 503]), when: 'before' },
    });
    await runScenario('5xx-bursts', i, faults);
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))('429 with Retry-After (run %i)', async (i) => {
    await runScenario('429-retry-after', i, [
      {
        path: i % 2 ? /\/manifests\// : /\/blobs\//,
        times: 2,
        action: { kind: 'status', status: 429, when: 'before', headers: { 'retry-after': '1' } },
      },
    ]);
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))('slow responses past the timeout (run %i)', async (i) => {
    await runScenario(
      'slow-past-timeout',
      i,
      [{ method: i % 2 ? 'HEAD' : 'POST', path: /\/blobs\//, times: 1, action: { kind: 'delay', ms: 1500 } }],
      { timeoutMs: 400 },
    );
  });

  /**
   * A fault that stops the registry during an upload and brings it back 0–2.5 s later: some
   * runs outlast the retries (clear failure + re-run), some don't. `settle` waits for it.
   */
  function killDuringUpload(seed: number): { faults: Fault[]; settle: () => Promise<void> } {
    const r = rng(seed);
    let restarted: Promise<void> = Promise.resolve();
    return {
      faults: [
        {
          method: r() < 0.5 ? 'PUT' : 'PATCH',
          path: UPLOAD,
          times: 1,
          action: {
            kind: 'call',
            fn: async () => {
              await reg.stop();
              restarted = sleep(Math.floor(r() * 2500)).then(() => reg.restart());
            },
          },
        },
      ],
      settle: () => restarted,
    };
  }

  it.each(Array.from({ length: RUNS }, (_, i) => i))('registry killed and restarted mid-push (run %i)', async (i) => {
    const kill = killDuringUpload(3000 + i);
    await runScenario('registry-restart', i, kill.faults, {}, kill.settle);
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))(
    'registry killed and restarted mid-promote (run %i)',
    async (i) => {
      const kill = killDuringUpload(4000 + i);
      let result: PromoteResult | undefined;
      await runScenario('promote-registry-restart', i, kill.faults, {}, kill.settle, async (dst) => {
        result = await promoteArtifact({
          source: { name: 'oci:src-oci', store: source, reference: 'v1' },
          destination: { name: `${proxy.host}/${dst.repository}`, store: dst },
          tags: ['v1'],
          policy,
          recordSetup,
        });
      });
      // Promoted in the end, with its signed record, and it verifies at the destination.
      expect(result?.record).toBeDefined();
      const direct = open(reg.host, `faults/promote-registry-restart-${i}`);
      const report = await verifyArtifact({ store: direct, reference: 'v1', policy });
      expect(report.ok).toBe(true);
    },
  );
});

describe('fault injection: token expiry during a long upload', () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  const stores: RegistryStore[] = [];
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token', users: { ci: 'pw' }, tokenExpiresIn: 2 });
    proxy = await startFaultProxy(reg.host);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await proxy?.close();
    await reg?.cleanup();
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))(
    'completes when tokens expire mid-upload (run %i)',
    async (i) => {
      const stat = record('token-expiry');
      stat.runs++;
      const store = new RegistryStore({
        registry: proxy.host,
        repository: `faults/token-${i}`,
        plainHttp: true,
        username: 'ci',
        password: 'pw',
        backoffMs: 20,
        dockerConfig: '/nonexistent',
      });
      stores.push(store);
      // Each blob's commit is held past the token's life, so later requests need a fresh token.
      proxy.faults = [{ method: 'PUT', path: /\/blobs\/uploads\//, times: 3, action: { kind: 'delay', ms: 2200 } }];
      const blobs = Array.from({ length: 3 }, () => randomBytes(512 * 1024));
      for (const b of blobs) {
        const d = { mediaType: 'application/octet-stream', digest: sha256Digest(b), size: b.length };
        expect(await store.push(d, b)).toEqual({ uploaded: true });
        expect((await store.fetchBytes(d, MiB)).equals(b)).toBe(true);
      }
      stat.completed++;
      expect(proxy.fired['delay']).toBeGreaterThan(0);
      proxy.faults = [];
    },
    60_000,
  );
});

describe('fault injection: disk full in an OCI layout', () => {
  const mnt = join(tmp.dir, 'small-disk');
  let mounted = false;
  beforeAll(() => {
    mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'ignore' });
      mounted = true;
    } catch {
      mounted = false;
    }
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [mnt], { stdio: 'ignore' });
  });

  it.each(Array.from({ length: RUNS }, (_, i) => i))(
    'ENOSPC fails clearly, leaves a consistent layout, and a re-run after freeing space completes (run %i)',
    async (i) => {
      if (!mounted) {
        // Needs root (mount); .ci/run runs as root. Say so instead of passing silently.
        console.warn('disk-full scenario skipped: cannot mount a tmpfs here (needs root)');
        return;
      }
      const stat = record('disk-full');
      stat.runs++;
      for (const f of readdirSync(mnt)) rmSync(join(mnt, f), { recursive: true, force: true });
      execFileSync('mount', ['-o', 'remount,size=3m', mnt]);
      const model = copySample(join(tmp.dir, `m-${i}`), 'model');
      writeFileSync(join(model, 'big.safetensors'), randomBytes(4 * MiB));
      const dir = join(mnt, `oci-${i}`);
      const r = await runCli(['pack', model, '--output', `${dir}:v1`, '--no-cache', '--no-progress']);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/disk full while writing .* OCI layout/);
      expect(r.stderr).toMatch(/hint: free space/);
      stat.failedClearly++;
      if (stat.errors.length < 2) stat.errors.push(r.stderr.split('\n')[0]!);
      await checkLayout(dir);
      execFileSync('mount', ['-o', 'remount,size=64m', mnt]);
      const again = await runCli(['pack', model, '--output', `${dir}:v1`, '--no-cache', '--no-progress']);
      expect(again.stderr).toBe('');
      expect(again.status).toBe(0);
      await checkLayout(dir);
      stat.rerunCompleted++;
    },
    60_000,
  );
});

describe('hostile token service', () => {
  it('an endless token answer is cut at 1 MiB with INVALID, not buffered', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/v2/')) {
        const { port } = server.address() as { port: number };
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="hostile"`,
        });
        res.end();
        return;
      }
      // 64 MiB of JSON-looking bytes, streamed: the client must stop long before the end.
      res.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (sent < 64 * MiB) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (sent = Infinity));
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as { port: number };
    const store = new RegistryStore({
      registry: `127.0.0.1:${port}`,
      repository: 'x/y',
      plainHttp: true,
      retries: 0,
      dockerConfig: '/nonexistent',
    });
    try {
      const e = await store.exists({ mediaType: 'application/octet-stream', digest: sha256Digest('x'), size: 1 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ModelshipError);
      expect((e as ModelshipError).code).toBe('INVALID');
      expect((e as ModelshipError).message).toMatch(/token answer from .* is larger than 1048576 bytes/);
    } finally {
      await store.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
