import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { CopyStats, InspectNode } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { signingKeyFiles } from './helpers/signing-key.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { key: KEY, policy: POLICY } = signingKeyFiles(
  tmp.dir,
  'release',
  'require:\n  predicates: [https://modelship.dev/attestations/mof/v0.1]\n',
);

interface CpJson {
  reference: string;
  digest: string;
  tags: string[];
  stats: CopyStats;
}

async function cp(args: string[]): Promise<CpJson> {
  const r = await runCli(['cp', ...args, '--json', '--no-progress']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as CpJson;
}

/** The referrer tree by digest (sorted), what a copy with every referrer must reproduce. */
async function tree(ref: string, extra: string[] = []): Promise<unknown> {
  const r = await runCli(['inspect', ref, '--json', ...extra]);
  expect(r.status).toBe(0);
  const shape = (n: InspectNode): unknown => ({
    digest: n.digest,
    referrers: n.referrers.map(shape).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  });
  return shape((JSON.parse(r.stdout) as { root: InspectNode }).root);
}

async function tags(repo: string, extra: string[] = []): Promise<string[]> {
  const r = await runCli(['ls', repo, '--json', ...extra]);
  expect(r.status).toBe(0);
  return (JSON.parse(r.stdout) as { tags: { tag: string }[] }).tags
    .map((t) => t.tag)
    .filter((t) => !t.startsWith('sha256-'));
}

describe('cp: the graph copy with every referrer, no policy (real registries, real signatures)', () => {
  let a: TestRegistry;
  let b: TestRegistry;
  let digest: string;
  let source: string;
  let sourceTree: unknown;
  beforeAll(async () => {
    [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    source = `${a.host}/staging/model`;
    digest = await packSample(tmp.dir, `${source}:v1`);
    const signed = await runCli(['sign', `${source}@${digest}`, '--key', KEY, '--no-tlog', '--plain-http', '--json']);
    expect(signed.status).toBe(0);
    const sig = (JSON.parse(signed.stdout) as { referrerDigest: string }).referrerDigest;
    expect(
      (await runCli(['attest', `${source}@${digest}`, '--type', 'mof', '--key', KEY, '--no-tlog', '--plain-http']))
        .status,
    ).toBe(0);
    expect((await runCli(['sign', `${source}@${sig}`, '--key', KEY, '--no-tlog', '--plain-http'])).status).toBe(0);
    sourceTree = await tree(`${source}@${digest}`, ['--plain-http']);
  });
  afterAll(async () => Promise.all([a?.cleanup(), b?.cleanup()]));

  it('registry to another registry: the artifact, its signatures, attestation and countersignature; the source tag; verify passes there', async () => {
    const j = await cp([`${source}:v1`, `${b.host}/prod/model`, '--plain-http']);
    expect(j).toMatchObject({ reference: `${b.host}/prod/model:v1`, digest, tags: ['v1'] });
    expect(j.stats.referrersCopied).toBe(3);
    expect(j.stats.blobsCopied).toBeGreaterThan(0);
    expect(await tree(`${b.host}/prod/model@${digest}`, ['--plain-http'])).toEqual(sourceTree);
    const verify = await runCli(['verify', `${b.host}/prod/model@${digest}`, '--policy', POLICY, '--plain-http']);
    expect(verify.status).toBe(0);

    // Run again: everything is there, nothing moves.
    const again = await cp([`${source}:v1`, `${b.host}/prod/model`, '--plain-http']);
    expect([again.stats.blobsCopied, again.stats.manifestsCopied]).toEqual([0, 0]);
  });

  it('another repository on the same registry mounts the blobs; the destination tag and every -t are set', async () => {
    const j = await cp([
      `${source}@${digest}`,
      `${a.host}/prod/model:rc1`,
      '-t',
      'stable',
      '-t',
      'prod',
      '--plain-http',
    ]);
    expect(j.tags).toEqual(['rc1', 'stable', 'prod']);
    expect(j.stats.blobsMounted).toBeGreaterThan(0);
    expect(j.stats.blobsCopied).toBe(0);
    expect((await tags(`${a.host}/prod/model`, ['--plain-http'])).sort()).toEqual(['prod', 'rc1', 'stable']);
    expect(await tree(`${a.host}/prod/model:rc1`, ['--plain-http'])).toEqual(sourceTree);
  });

  it('registry to a new layout and back to a registry: the same tree; -t adds to the source tag', async () => {
    const layout = join(tmp.dir, 'copy-oci');
    const down = await cp([`${source}:v1`, `oci:${layout}`, '-t', 'kept', '--plain-http']);
    expect(down.tags).toEqual(['v1', 'kept']);
    expect(await tree(`oci:${layout}:kept`)).toEqual(sourceTree);
    const up = await cp([`oci:${layout}:kept`, `${b.host}/from-layout/model`, '--plain-http']);
    expect(up.tags).toEqual(['kept']);
    expect(await tree(`${b.host}/from-layout/model:kept`, ['--plain-http'])).toEqual(sourceTree);
  });

  it('--no-referrers copies the artifact alone; a destination digest must be the source’s (exit 2)', async () => {
    const j = await cp([`${source}:v1`, `${b.host}/bare/model`, '--no-referrers', '--plain-http']);
    expect(j.stats.referrersCopied).toBe(0);
    expect(await tree(`${b.host}/bare/model:v1`, ['--plain-http'])).toEqual({ digest, referrers: [] });
    const other = `sha256:${'0'.repeat(64)}`;
    const r = await runCli(['cp', `${source}:v1`, `${b.host}/bare/model@${other}`, '--plain-http']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`names digest ${other}, but the source is ${digest}`);
  });
});
