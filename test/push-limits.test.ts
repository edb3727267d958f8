// Registry limits known up front (packages/core/src/registry/limits.ts): a layer over a known
// per-layer limit fails with INPUT (exit 3) before any request and before the file is read.
// The layers are sparse stand-ins of the size; ghcr.io is never contacted (nothing outside
// loopback is reachable here, so a request would fail with NETWORK, not INPUT).
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { ModelshipError } from '../packages/core/src/errors.js';
import { RegistryStore } from '../packages/core/src/registry/index.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const tmp = tempDir('modelship-limits-');
afterAll(() => tmp.cleanup());

function sparse(path: string, size: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
}

describe('registry limits known up front', () => {
  it('store.push refuses an 11 GB layer for ghcr.io with INPUT, opening nothing and sending nothing', async () => {
    const store = new RegistryStore({ registry: 'ghcr.io', repository: 'org/model', uploadStateDir: false });
    let opened = 0;
    const err = await store
      .push(
        {
          mediaType: 'application/vnd.cncf.model.weight.v1.raw',
          digest: `sha256:${'a'.repeat(64)}`,
          size: 11_000_000_000,
          annotations: { 'org.opencontainers.image.title': 'model.gguf' },
        },
        {
          open: () => {
            opened++;
            throw new Error('read');
          },
        },
      )
      .catch((e: unknown) => e);
    await store.close();
    expect(err).toBeInstanceOf(ModelshipError);
    const e = err as ModelshipError;
    expect(e.code).toBe('INPUT');
    expect(e.message).toMatch(/model\.gguf/);
    expect(e.message).toMatch(/11000000000 bytes/);
    expect(e.message).toMatch(/10000000000 bytes\) per-layer limit of GHCR/);
    expect(e.hint).toMatch(/shard the weights.*another registry/);
    expect(opened).toBe(0);
  });

  it('a layer at the limit passes the check (and only then would the push contact the registry)', () => {
    const store = new RegistryStore({ registry: 'ghcr.io', repository: 'org/model', uploadStateDir: false });
    expect(() => store.checkLayerSize('layer x', 10_000_000_000)).not.toThrow();
    expect(() => store.checkLayerSize('layer x', 10_000_000_001)).toThrow(/per-layer limit of GHCR/);
    const ecr = new RegistryStore({
      registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      repository: 'm',
      uploadStateDir: false,
    });
    expect(() => ecr.checkLayerSize('layer y', 52_000 * 1024 * 1024 + 1)).toThrow(/Amazon ECR/);
    const local = new RegistryStore({ registry: '127.0.0.1:5000', repository: 'm', uploadStateDir: false });
    expect(() => local.checkLayerSize('layer z', 100e12)).not.toThrow();
  });

  it('pack --push to ghcr.io fails with exit 3 for a 10.5 GB weight file before any request', async () => {
    const model = join(tmp.dir, 'big');
    mkdirSync(model);
    const file = join(model, 'weights.bin');
    sparse(file, 10_500_000_000);
    // Had pack started the upload first, ghcr.io (unreachable here) would have failed it with NETWORK.
    const r = await runCli(['pack', model, '--push', 'ghcr.io/org/model:v1', '--no-cache', '--no-progress']);
    expect(r.stderr).toMatch(/weights\.bin for ghcr\.io\/org\/model is 9\.8 GiB \(10500000000 bytes\), over/);
    expect(r.stderr).toMatch(/GHCR \(ghcr\.io\)/);
    expect(r.stderr).toMatch(/shard the weights/);
    expect(r.stderr).not.toMatch(/unreachable|cannot resolve/i);
    expect(r.status).toBe(3);
  }, 60_000);
});
