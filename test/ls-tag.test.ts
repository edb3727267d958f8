import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryStore, referrersFallbackTag, type Index } from '@modelship/core';
import { packSample, runCli } from './helpers/cli.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface LsJson {
  repository: string;
  tags: { tag: string; digest: string; mediaType: string; size: number }[];
}

describe('ls and tag on a registry (real docker-registry)', () => {
  let reg: TestRegistry;
  let digest: string;
  let repo: string;
  beforeAll(async () => {
    reg = await startRegistry();
    repo = `${reg.host}/acme/model`;
    digest = await packSample(tmp.dir, `${repo}:v1`);
  });
  afterAll(async () => reg?.cleanup());

  it('tag PUTs the manifest’s exact bytes under each new tag; no blob moves', async () => {
    reg.clearAccessLog();
    const r = await runCli(['tag', `${repo}:v1`, 'stable', 'prod', '--plain-http', '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      digest,
      tags: ['stable', 'prod'],
      references: [`${repo}:stable`, `${repo}:prod`],
    });
    const writes = reg.accessLog().filter((e) => e.method !== 'GET' && e.method !== 'HEAD');
    expect(writes.map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([
      'PUT /v2/acme/model/manifests/stable 201',
      'PUT /v2/acme/model/manifests/prod 201',
    ]);
    const store = new RegistryStore({ registry: reg.host, repository: 'acme/model', plainHttp: true });
    try {
      expect((await store.resolve('prod')).digest).toBe(digest);
    } finally {
      await store.close();
    }
  });

  it('ls lists every tag with its digest', async () => {
    const r = await runCli(['ls', repo, '--plain-http', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as LsJson;
    expect(j.repository).toBe(repo);
    expect(j.tags.map((t) => [t.tag, t.digest]).sort()).toEqual(
      [
        ['prod', digest],
        ['stable', digest],
        ['v1', digest],
      ].sort(),
    );
    const text = await runCli(['ls', repo, '--plain-http']);
    expect(text.stdout).toMatch(new RegExp(`^TAG +DIGEST\\n(?:\\S+ +sha256:[0-9a-f]{64}\\n){3}$`));
  });

  it('the tags list is read page by page through the Link header; a listing that never ends is refused', async () => {
    for (const t of ['a1', 'a2', 'a3']) expect((await runCli(['tag', `${repo}:v1`, t, '--plain-http'])).status).toBe(0);
    // docker-registry 2.8 ignores `n` on the tags list: a stand-in in front of it pages the real
    // list as distribution-spec says (at most n, here capped at 2 as a registry may, `last`,
    // and a Link header to the next page); manifests are the registry's.
    const all = ((await (await fetch(`${reg.url}/v2/acme/model/tags/list`)).json()) as { tags: string[] }).tags.sort();
    const proxy = await startFaultProxy(reg.host);
    let pages = 0;
    proxy.tagsList = (name, url) => {
      pages++;
      const n = Math.min(Number(url.searchParams.get('n') ?? all.length), 2);
      const last = url.searchParams.get('last');
      const rest = last ? all.filter((t) => t > last) : all;
      const page = rest.slice(0, n);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (rest.length > n) headers.link = `</v2/${name}/tags/list?n=${n}&last=${page[page.length - 1]}>; rel="next"`;
      return { status: 200, headers, body: JSON.stringify({ name, tags: page }) };
    };
    try {
      const r = await runCli(['ls', `${proxy.host}/acme/model`, '--plain-http', '--json']);
      expect(r.status).toBe(0);
      expect((JSON.parse(r.stdout) as LsJson).tags.map((t) => [t.tag, t.digest])).toEqual(all.map((t) => [t, digest]));
      expect(all.length).toBeGreaterThan(2);
      expect(pages).toBe(Math.ceil(all.length / 2));

      // A Link that always points back at the same page.
      proxy.tagsList = (name) => ({
        status: 200,
        headers: { 'content-type': 'application/json', link: `</v2/${name}/tags/list?n=1>; rel="next"` },
        body: JSON.stringify({ name, tags: ['v1'] }),
      });
      const endless = await runCli(['ls', `${proxy.host}/acme/model`, '--plain-http']);
      expect(endless.status).toBe(4);
      expect(endless.stderr).toContain('goes on for more than 1000 pages');
    } finally {
      await proxy.close();
    }
  });

  it('names what is wrong: an unknown repository (6), a tag in ls (2), a referrers index tag (2), an unknown source (6)', async () => {
    const missing = await runCli(['ls', `${reg.host}/acme/nothing-here`, '--plain-http']);
    expect([missing.status, missing.stderr]).toEqual([6, expect.stringContaining('repository')]);
    const withTag = await runCli(['ls', `${repo}:v1`, '--plain-http']);
    expect(withTag.status).toBe(2);
    expect(withTag.stderr).toContain('takes a whole repository or layout');
    const fallback = referrersFallbackTag(digest);
    const hijack = await runCli(['tag', `${repo}:v1`, fallback, '--plain-http']);
    expect(hijack.status).toBe(2);
    expect(hijack.stderr).toContain('is a referrers index tag');
    const unknown = await runCli(['tag', `${repo}:nope`, 'x', '--plain-http']);
    expect(unknown.status).toBe(6);
  });
});

describe('ls and tag on an OCI layout', () => {
  it('tag adds an index.json entry (no blob written), ls reads the tags from index.json', async () => {
    const layout = join(tmp.dir, 'oci');
    const digest = await packSample(tmp.dir, `oci:${layout}:v1`);
    const r = await runCli(['tag', `oci:${layout}:v1`, 'stable']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`tagged oci:${layout}:stable\ndigest: ${digest}\n`);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
    expect(index.manifests.map((d) => [d.digest, d.annotations?.['org.opencontainers.image.ref.name']])).toEqual([
      [digest, 'v1'],
      [digest, 'stable'],
    ]);
    const ls = await runCli(['ls', `oci:${layout}`, '--json']);
    expect((JSON.parse(ls.stdout) as LsJson).tags.map((t) => [t.tag, t.digest])).toEqual([
      ['v1', digest],
      ['stable', digest],
    ]);
    const empty = join(tmp.dir, 'empty-oci');
    expect((await runCli(['pull', `oci:${layout}:v1`, '--output', empty, '--no-progress'])).status).toBe(0);
    expect((await runCli(['rm', `oci:${empty}@${digest}`])).status).toBe(0);
    expect((await runCli(['ls', `oci:${empty}`])).stdout).toBe(`oci:${empty} has no tags\n`);
  });
});
