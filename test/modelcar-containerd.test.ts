/**
 * The modelcar variant through a real containerd: Debian's containerd pulls it from the real
 * registry with `ctr images pull` (the client-side pull and unpack a node's containerd does for
 * an image, and for an ImageVolume in 2.1+), then `ctr images mount` shows its root filesystem:
 * every file of the model must be under /models, byte for byte, with its exec bit. A second
 * modelcar sits on a base image (the shape KServe's `oci://` runs), whose layer is mounted
 * across repositories rather than uploaded, and whose files show next to /models.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import tarStream from 'tar-stream';
import {
  OCI_IMAGE_CONFIG,
  OCI_LAYER_TAR,
  OCI_MANIFEST,
  RegistryStore,
  sha256Digest,
  type Descriptor,
} from '@modelship/core';
import { runCli } from './helpers/cli.js';
import { containerdUnavailable, startContainerd, type TestContainerd } from './helpers/containerd.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { copySample, tempDir } from './helpers/tmp.js';

const unavailable = containerdUnavailable();
const tmp = tempDir();

/** Every regular file below `root`, as relative path -> { bytes, exec }. */
function tree(root: string): Map<string, { bytes: Buffer; exec: boolean }> {
  const out = new Map<string, { bytes: Buffer; exec: boolean }>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile())
        out.set(relative(root, p), { bytes: readFileSync(p), exec: (statSync(p).mode & 0o111) !== 0 });
    }
  };
  walk(root);
  return out;
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/** A one-layer base image for this machine's platform, pushed as a real registry would hold it. */
async function pushBaseImage(reg: TestRegistry, repository: string): Promise<Descriptor> {
  const pack = tarStream.pack();
  pack.entry({ name: 'etc/', type: 'directory', mode: 0o755, mtime: new Date(0) });
  pack.entry({ name: 'etc/base-release', mode: 0o644, mtime: new Date(0) }, 'tiny base 1\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const layerBytes = Buffer.concat(chunks);
  const layer: Descriptor = { mediaType: OCI_LAYER_TAR, digest: sha256Digest(layerBytes), size: layerBytes.length };
  const config = Buffer.from(
    JSON.stringify({
      architecture: GOARCH[process.arch] ?? process.arch,
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      history: [{ created_by: 'test base layer' }],
    }),
  );
  const configDesc: Descriptor = { mediaType: OCI_IMAGE_CONFIG, digest: sha256Digest(config), size: config.length };
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: [layer] }),
  );
  const desc: Descriptor = { mediaType: OCI_MANIFEST, digest: sha256Digest(manifest), size: manifest.length };
  const store = new RegistryStore({ registry: reg.host, repository, plainHttp: true });
  try {
    await store.push(layer, layerBytes);
    await store.push(configDesc, config);
    await store.push(desc, manifest);
    await store.tag(desc, '1');
  } finally {
    await store.close();
  }
  return layer;
}

interface PackJson {
  digest: string;
  size: number;
  variants: { name: string; digest: string; reference: string; addedBytes: number }[];
}

(unavailable ? describe.skip : describe)('modelcar variant unpacked by containerd', () => {
  let reg: TestRegistry;
  let ctrd: TestContainerd;
  let model: string;
  let baseLayer: Descriptor;

  beforeAll(async () => {
    reg = await startRegistry();
    ctrd = await startContainerd();
    model = copySample(tmp.dir, 'model');
    // An executable and a nested file: both must come out as they went in.
    writeFileSync(join(model, 'run.sh'), '#!/bin/sh\nexec serve /models\n');
    chmodSync(join(model, 'run.sh'), 0o755);
    baseLayer = await pushBaseImage(reg, 'base/tiny');
  }, 60_000);

  afterAll(async () => {
    await ctrd?.stop();
    await reg?.cleanup();
    tmp.cleanup();
  });

  async function pullAndMount(reference: string, name: string): Promise<string> {
    await ctrd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', reference]);
    const mnt = join(ctrd.dir, `mnt-${name}`);
    mkdirSync(mnt);
    await ctrd.ctr(['images', 'mount', '--snapshotter', 'native', reference, mnt]);
    return mnt;
  }

  it('shows every model file under /models, byte-identical, exec bits kept', async () => {
    const packed = await runCli([
      'pack',
      model,
      '--push',
      `${reg.host}/data/model:v1`,
      '--plain-http',
      '--no-cache',
      '--variant',
      'modelcar',
      '--json',
      '--no-progress',
    ]);
    expect(packed.stderr).toBe('');
    expect(packed.status).toBe(0);
    const r = JSON.parse(packed.stdout) as PackJson;
    const car = r.variants[0]!;
    expect(car.reference).toBe(`${reg.host}/data/model:v1-modelcar`);
    const mnt = await pullAndMount(car.reference, 'data');
    try {
      const want = tree(model);
      const got = tree(join(mnt, 'models'));
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [p, f] of want) {
        expect(got.get(p)!.bytes.equals(f.bytes)).toBe(true);
        expect([p, got.get(p)!.exec]).toEqual([p, f.exec]);
      }
      // Data only: nothing but /models in the image.
      expect(readdirSync(mnt)).toEqual(['models']);
    } finally {
      await ctrd.ctr(['images', 'unmount', mnt]);
    }
    // The image is what the index says for this platform.
    const images = (await ctrd.ctr(['images', 'ls'])).stdout;
    expect(images).toContain(car.digest);
    expect(images).toContain('linux/amd64,linux/arm64');
  }, 120_000);

  it('puts the model on a base image, whose layer is mounted from its repository, not uploaded', async () => {
    reg.clearAccessLog();
    const packed = await runCli([
      'pack',
      model,
      '--push',
      `${reg.host}/kserve/model:v1`,
      '--plain-http',
      '--no-cache',
      '--variant',
      'modelcar',
      '--base-image',
      `${reg.host}/base/tiny:1`,
      '--json',
      '--no-progress',
    ]);
    expect(packed.stderr).toBe('');
    expect(packed.status).toBe(0);
    const car = (JSON.parse(packed.stdout) as PackJson).variants[0]!;
    const log = reg.accessLog();
    expect(
      log.some(
        (e) =>
          e.method === 'POST' && e.path.includes(`mount=${encodeURIComponent(baseLayer.digest)}`) && e.status === 201,
      ) || log.some((e) => e.method === 'POST' && e.path.includes(`mount=${baseLayer.digest}`) && e.status === 201),
    ).toBe(true);
    expect(log.some((e) => e.method === 'PUT' && e.path.includes(baseLayer.digest.slice(7)))).toBe(false);
    const mnt = await pullAndMount(car.reference, 'kserve');
    try {
      expect(readFileSync(join(mnt, 'etc', 'base-release'), 'utf8')).toBe('tiny base 1\n');
      const want = tree(model);
      const got = tree(join(mnt, 'models'));
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [p, f] of want) expect(got.get(p)!.bytes.equals(f.bytes)).toBe(true);
    } finally {
      await ctrd.ctr(['images', 'unmount', mnt]);
    }
  }, 120_000);
});

if (unavailable)
  describe('modelcar variant unpacked by containerd', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
