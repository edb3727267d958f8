import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GcResult, Index } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { signingKeyFiles } from './helpers/signing-key.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const { key: KEY, policy: POLICY } = signingKeyFiles(tmp.dir, 'release');

const blobs = (layout: string): string[] => readdirSync(join(layout, 'blobs', 'sha256')).sort();
const indexDigests = (layout: string): string[] =>
  (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index).manifests.map((d) => d.digest);

async function ok(args: string[], opts: { honourFileModes?: boolean } = {}): Promise<string> {
  const r = await runCli(args, opts);
  expect([args.join(' '), r.status, r.stderr]).toEqual([args.join(' '), 0, '']);
  return r.stdout;
}

async function gc(layout: string, extra: string[]): Promise<GcResult> {
  return JSON.parse(await ok(['gc', `oci:${layout}`, '--json', ...extra])) as GcResult;
}

/** Signs (and, with `attest`, attests MOF) the artifact; returns the referrer digests. */
async function sign(ref: string, attest = false): Promise<string[]> {
  const s = JSON.parse(await ok(['sign', ref, '--key', KEY, '--no-tlog', '--json'])) as { referrerDigest: string };
  const out = [s.referrerDigest];
  if (attest) {
    const a = JSON.parse(await ok(['attest', ref, '--type', 'mof', '--key', KEY, '--no-tlog', '--json'])) as {
      attestations: { referrerDigest: string }[];
    };
    out.push(...a.attestations.map((x) => x.referrerDigest));
  }
  return out;
}

describe('rm and gc on an OCI layout, through the CLI, with real signatures', () => {
  const layout = join(tmp.dir, 'oci');
  let old: string;
  let fresh: string;
  let v2: string;
  let oldReferrers: string[];
  beforeAll(async () => {
    old = await packSample(tmp.dir, `oci:${layout}:v1`);
    await ok(['tag', `oci:${layout}:v1`, 'latest']);
    oldReferrers = await sign(`oci:${layout}@${old}`, true);
    v2 = await packSample(tmp.dir, `oci:${layout}:v2`, ['--created', '2026-01-01T00:00:00Z']);
    await sign(`oci:${layout}@${v2}`);
    // Re-tagged: v1 now names a new pack, latest still the old one.
    fresh = await packSample(tmp.dir, `oci:${layout}:v1`, ['--created', '2026-02-01T00:00:00Z']);
    await sign(`oci:${layout}@${fresh}`);
  });

  it('nothing a tag reaches is garbage; rm latest leaves the old artifact, its signature and attestation to gc', async () => {
    expect((await gc(layout, ['--min-age', '0', '--dry-run'])).blobs).toEqual([]);
    const rm = await runCli(['rm', `oci:${layout}:latest`]);
    expect(rm.status).toBe(0);
    expect(rm.stdout).toContain(`nothing tags it now; modelship gc oci:${layout} frees what only it used`);

    // Just written: the default minimum age keeps it.
    const recent = await runCli(['gc', `oci:${layout}`]);
    expect(recent.status).toBe(0);
    expect(recent.stdout).toMatch(/freed 0 B: 0 blobs/);
    expect(recent.stdout).toMatch(/unreferenced but newer than --min-age/);

    const before = blobs(layout);
    const dry = await gc(layout, ['--min-age', '0', '--dry-run']);
    expect(blobs(layout)).toEqual(before);
    expect(dry.manifests.map((m) => m.digest).sort()).toEqual([old, ...oldReferrers].sort());
    // The old manifest, its config, and per referrer its manifest and bundle: the layers are v1's and v2's too.
    expect(dry.blobs).toHaveLength(2 + 2 * oldReferrers.length);

    const real = await gc(layout, ['--min-age', '0']);
    expect(real.blobs).toEqual(dry.blobs);
    expect(real.bytes).toBe(dry.blobs.reduce((n, b) => n + b.size, 0));
    expect(blobs(layout)).toHaveLength(before.length - dry.blobs.length);
    expect(indexDigests(layout)).not.toContain(old);

    // What the tags reach is whole: both verify, the files extract, and the old one is gone.
    for (const d of [fresh, v2]) await ok(['verify', `oci:${layout}@${d}`, '--policy', POLICY]);
    await ok(['pull', `oci:${layout}:v2`, '--extract', join(tmp.dir, 'files'), '--no-progress']);
    expect((await runCli(['inspect', `oci:${layout}@${old}`])).status).toBe(6);
    expect((await gc(layout, ['--min-age', '0'])).blobs).toEqual([]);
  });

  it('names what is wrong: an unknown tag (6), a tag given to gc (2), a bad --min-age (2), a registry (2: rm and gc work on layouts)', async () => {
    expect((await runCli(['rm', `oci:${layout}:nope`])).status).toBe(6);
    const tagged = await runCli(['gc', `oci:${layout}:v1`]);
    expect(tagged.status).toBe(2);
    expect(tagged.stderr).toContain('takes a whole repository or layout');
    const age = await runCli(['gc', `oci:${layout}`, '--min-age', 'soon']);
    expect([age.status, age.stderr]).toEqual([2, expect.stringContaining('--min-age "soon" is not a duration')]);
    // Refused before anything is sent: nothing listens on this port.
    const digest = `sha256:${'a'.repeat(64)}`;
    for (const args of [
      ['rm', `127.0.0.1:9/acme/model@${digest}`],
      ['gc', '127.0.0.1:9/acme/model'],
    ]) {
      const r = await runCli(args);
      expect([args[0], r.status]).toEqual([args[0], 2]);
      expect(r.stderr).toContain('works on OCI layouts, and 127.0.0.1:9/acme/model is a registry repository');
    }
  });
});

describe('gc crash-safety: index.json is rewritten before any blob is deleted', () => {
  it('blob deletion failing half-way leaves garbage only: every tag still reaches a whole artifact', async () => {
    const layout = join(tmp.dir, 'crash-oci');
    const v1 = await packSample(tmp.dir, `oci:${layout}:v1`);
    await sign(`oci:${layout}@${v1}`);
    const v2 = await packSample(tmp.dir, `oci:${layout}:v2`, ['--created', '2026-01-01T00:00:00Z']);
    await ok(['rm', `oci:${layout}:v2`]);
    const before = blobs(layout);
    // blobs/sha256 read-only: nothing in it can be deleted (the CLI runs without root's
    // CAP_DAC_OVERRIDE so the mode applies).
    chmodSync(join(layout, 'blobs', 'sha256'), 0o555);
    try {
      const r = await runCli(['gc', `oci:${layout}`, '--min-age', '0'], { honourFileModes: true });
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(/cannot delete .*permission denied/i);
    } finally {
      chmodSync(join(layout, 'blobs', 'sha256'), 0o755);
    }
    expect(indexDigests(layout)).not.toContain(v2);
    expect(blobs(layout)).toEqual(before);
    await ok(['verify', `oci:${layout}@${v1}`, '--policy', POLICY]);
    const again = await gc(layout, ['--min-age', '0']);
    expect(again.blobs.map((b) => b.digest)).toContain(v2);
    await ok(['verify', `oci:${layout}@${v1}`, '--policy', POLICY]);
  });
});
