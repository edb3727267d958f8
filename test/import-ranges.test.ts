// Large files in `importFromHub`: parallel ranged downloads from the stand-in Hub's CDN into a
// real registry, a stalled range retried from where it stopped, and the same artifact as one
// sequential download. Thresholds are scaled down (256 MiB and 8 MiB ranges by default) so the
// files stay small; the code path is the one large files take.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { importFromHub, RegistryStore } from '@modelship/core';
import { randomSafetensors } from './helpers/model-files.js';
import { startHubStandIn, type HubStandIn } from './helpers/hf-hub.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';

const KiB = 1024;
const MiB = 1024 * KiB;
let hub: HubStandIn;
let registry: TestRegistry;
beforeAll(async () => {
  hub = await startHubStandIn();
  registry = await startRegistry();
});
afterAll(async () => {
  await hub?.close();
  await registry?.cleanup();
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** What import reads ahead for the weight headers. */
const HEAD = 64 * KiB;
const ranges = { parallelThreshold: 2 * MiB, partSize: 256 * KiB, parallelRanges: 4, backoffMs: 10 };

function run(repo: string, weights: Buffer, options: { stallMs?: number; ranges?: object } = {}) {
  return importFromHub({
    ref: { repo: 'acme/big' },
    access: { endpoint: hub.url },
    target: new RegistryStore({ registry: registry.host, repository: repo, plainHttp: true }),
    tags: ['main'],
    client: { stallMs: options.stallMs ?? 30_000, backoffMs: 10 },
    ranges: { ...ranges, ...options.ranges },
  }).then((r) => {
    expect(r.files.find((f) => f.path === 'model.safetensors')!.digest).toBe(`sha256:${sha256(weights)}`);
    return r;
  });
}

describe('large files', () => {
  const weights = randomSafetensors(5 * MiB);
  beforeAll(() => {
    hub.addRepo('acme/big');
    hub.commit('acme/big', [
      { path: 'README.md', data: Buffer.from('---\nlicense: mit\n---\n') },
      { path: 'model.safetensors', data: weights },
    ]);
  });

  it('are fetched as parallel ranges, each once, after the header read ahead', async () => {
    hub.resetStats();
    hub.cdnDelayMs = 50;
    const r = await run('big/parallel', weights).finally(() => (hub.cdnDelayMs = 0));
    expect(hub.stats.cdnBytes).toBe(weights.length);
    // The 64 KiB read ahead for the safetensors header, then the rest in 256 KiB ranges, 4 at once.
    expect(hub.stats.cdnRanges[0]).toBe(`bytes=0-${HEAD - 1}`);
    const parts = hub.stats.cdnRanges.slice(1);
    expect(parts).toHaveLength(Math.ceil((weights.length - HEAD) / (256 * KiB)));
    expect(parts[0]).toBe(`bytes=${HEAD}-${HEAD + 256 * KiB - 1}`);
    expect(hub.stats.cdnMaxInFlight).toBe(4);
    expect(r.pack.config['config']).toMatchObject({ paramSize: '5.2m' });

    // A sequential download of the same file gives the same artifact.
    const seq = await run('big/sequential', weights, { ranges: { parallelThreshold: 1024 * MiB } });
    expect(seq.pack.descriptor.digest).toBe(r.pack.descriptor.digest);
  });

  it('a download that stalls is aborted and resumed from the byte where it stopped', async () => {
    hub.resetStats();
    hub.stall(sha256(weights), 100 * KiB, 1, HEAD);
    const sequential = { parallelThreshold: 1024 * MiB };
    const r = await run('big/stalled', weights, { stallMs: 300, ranges: sequential });
    // After the header: one GET of the rest, which stalled after 100 KiB and was resumed there.
    const last = weights.length - 1;
    expect(hub.stats.cdnRanges).toEqual([
      `bytes=0-${HEAD - 1}`,
      `bytes=${HEAD}-${last}`,
      `bytes=${HEAD + 100 * KiB}-${last}`,
    ]);
    expect(hub.stats.cdnBytes).toBe(weights.length);
    expect(r.stats.uploadedBytes).toBeGreaterThanOrEqual(weights.length);
  });

  it('a stalled part of the parallel download is retried alone, from where it stopped', async () => {
    hub.resetStats();
    const part = HEAD + 2 * 256 * KiB; // the third part
    hub.stall(sha256(weights), 10 * KiB, 1, part);
    const r = await run('big/part-stall', weights, { stallMs: 300 });
    expect(r.stats.uploadedBytes).toBeGreaterThanOrEqual(weights.length);
    expect(hub.stats.cdnRanges).toContain(`bytes=${part + 10 * KiB}-${part + 256 * KiB - 1}`);
    expect(hub.stats.cdnBytes).toBe(weights.length);
  });
});

describe('several large files at once', () => {
  const shards = [1, 2, 3, 4].map(() => randomSafetensors(3 * MiB));
  beforeAll(() => {
    hub.addRepo('acme/sharded');
    hub.commit('acme/sharded', [
      { path: 'README.md', data: Buffer.from('---\nlicense: mit\n---\n') },
      ...shards.map((data, i) => ({ path: `model-0000${i + 1}-of-00004.safetensors`, data })),
    ]);
  });

  it('read ahead within one budget for the process: each file its next part, 8 parts more in all', async () => {
    hub.resetStats();
    hub.cdnDelayMs = 50;
    const r = await importFromHub({
      ref: { repo: 'acme/sharded' },
      access: { endpoint: hub.url },
      target: new RegistryStore({ registry: registry.host, repository: 'big/sharded', plainHttp: true }),
      tags: ['main'],
      client: { stallMs: 30_000, backoffMs: 10 },
      ranges,
    }).finally(() => (hub.cdnDelayMs = 0));
    shards.forEach((data, i) =>
      expect(r.files.find((f) => f.path === `model-0000${i + 1}-of-00004.safetensors`)!.digest).toBe(
        `sha256:${sha256(data)}`,
      ),
    );
    expect(hub.stats.cdnBytes).toBe(shards.reduce((n, b) => n + b.length, 0));
    // Four files with 4 ranges each would be 16 at once (and 16 parts held in memory).
    expect(hub.stats.cdnMaxInFlight).toBeGreaterThan(4);
    expect(hub.stats.cdnMaxInFlight).toBeLessThanOrEqual(4 + 8);
  });
});
