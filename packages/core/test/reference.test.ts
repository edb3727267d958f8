import { describe, expect, it } from '@jest/globals';
import { ModelshipError } from '../src/errors.js';
import { formatReference, parseReference, registryApiHost } from '../src/reference.js';

const D = 'sha256:' + 'a1'.repeat(32);

describe('parseReference', () => {
  it.each([
    ['ghcr.io/org/model:v1', { registry: 'ghcr.io', repository: 'org/model', tag: 'v1' }],
    ['ghcr.io/org/model', { registry: 'ghcr.io', repository: 'org/model' }],
    [`ghcr.io/org/model@${D}`, { registry: 'ghcr.io', repository: 'org/model', digest: D }],
    [`ghcr.io/org/model:v1@${D}`, { registry: 'ghcr.io', repository: 'org/model', tag: 'v1', digest: D }],
    ['localhost:5000/x', { registry: 'localhost:5000', repository: 'x' }],
    ['localhost/x:t', { registry: 'localhost', repository: 'x', tag: 't' }],
    ['127.0.0.1:5000/a/b/c:1.0', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: '1.0' }],
    ['[::1]:5000/x', { registry: '[::1]:5000', repository: 'x' }],
    ['us-docker.pkg.dev/p/r/img:latest', { registry: 'us-docker.pkg.dev', repository: 'p/r/img', tag: 'latest' }],
    ['ubuntu', { registry: 'docker.io', repository: 'library/ubuntu' }],
    ['ubuntu:24.04', { registry: 'docker.io', repository: 'library/ubuntu', tag: '24.04' }],
    ['library/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu' }],
    ['someone/model:v2', { registry: 'docker.io', repository: 'someone/model', tag: 'v2' }],
    ['docker.io/ubuntu', { registry: 'docker.io', repository: 'library/ubuntu' }],
    ['index.docker.io/someone/x', { registry: 'docker.io', repository: 'someone/x' }],
    [
      'registry.example.com:8443/a__b/c-d.e:T_1',
      { registry: 'registry.example.com:8443', repository: 'a__b/c-d.e', tag: 'T_1' },
    ],
  ])('%s', (input, expected) => {
    expect(parseReference(input)).toEqual(expected);
  });

  it.each([
    ['', 'empty'],
    ['Ghcr.io/Org/Model', 'repository'],
    ['ghcr.io/Org/model', 'lowercase'],
    ['ghcr.io/org/model:', 'tag'],
    ['ghcr.io/org/model:-bad', 'tag'],
    [`ghcr.io/org/model:${'x'.repeat(129)}`, 'tag'],
    ['ghcr.io/org/model@sha256:abc', 'digest'],
    ['ghcr.io/org/model@md5:' + 'a'.repeat(32), 'digest'],
    ['ghcr.io/', 'repository'],
    ['ghcr.io//x', 'repository'],
    ['ghcr.io/a_-b', 'repository'],
    ['https://ghcr.io/org/model', 'scheme'],
    ['ghcr.io/org/model name', 'whitespace'],
    ['host:99999/x', 'port'],
    ['bad_host.io:1/x', 'host'],
    [`ghcr.io/${'a'.repeat(250)}`, '255'],
  ])('rejects %j with USAGE', (input, why) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelshipError);
    const e = err as ModelshipError;
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain(`"${input}"`);
    expect(e.message).toContain('host[:port]/name[:tag]');
    expect(`${e.message} ${e.hint ?? ''}`.toLowerCase()).toContain(why.toLowerCase());
  });

  it('formats the canonical form and round-trips', () => {
    for (const s of ['ghcr.io/org/model:v1', `localhost:5000/x@${D}`, `docker.io/library/ubuntu:1@${D}`])
      expect(formatReference(parseReference(s))).toBe(s);
    expect(formatReference(parseReference('ubuntu'))).toBe('docker.io/library/ubuntu');
  });

  it('knows where Docker Hub serves its API', () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('ghcr.io')).toBe('ghcr.io');
  });
});
