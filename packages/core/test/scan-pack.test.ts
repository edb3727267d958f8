// `pack` with the security scan: the scan rides the read pack makes anyway, on each of its
// read paths (hash pool into a layout, upload stream into a store without local files, tar
// layer streams), and a file pack does not read (a cached digest) is read once, as far as the
// scanner needs. The hash pool's tee hands over exactly the bytes asked for.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DigestCache } from '../src/digest-cache.js';
import { hashFiles } from '../src/hash-pool.js';
import { OciLayoutStore } from '../src/layout.js';
import { MemoryStore } from '../src/memory-store.js';
import { pack } from '../src/pack.js';
import { FileScanner } from '../src/scan/file-scan.js';
import type { ScanPredicate } from '../src/scan/predicate.js';
import { PY_EVIL, py } from './scan-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'ms-scan-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file with a 12 MiB tensor: three hash-pool buffers, of which the scan needs the first. */
function bigSafetensors(): Buffer {
  const n = 12 * 1024 * 1024;
  const json = Buffer.from(JSON.stringify({ w: { dtype: 'U8', shape: [n], data_offsets: [0, n] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, randomBytes(n)]);
}

let model: string;
beforeAll(() => {
  model = join(tmp, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'model.safetensors'), bigSafetensors());
  writeFileSync(
    join(model, 'pytorch_model.bin'),
    py(`${PY_EVIL}out.write(pickle.dumps({'w': evil(os.system, 'id')}, protocol=2))`),
  );
  writeFileSync(join(model, 'config.json'), JSON.stringify({ architectures: ['X'], model_type: 'x' }));
  writeFileSync(join(model, 'README.md'), '# tiny\n');
});

function verdicts(p: ScanPredicate | undefined): Record<string, string> {
  return Object.fromEntries((p?.files ?? []).map((f) => [f.path, f.verdict]));
}

const EXPECTED = {
  'README.md': 'safe',
  'config.json': 'safe',
  'model.safetensors': 'safe',
  'pytorch_model.bin': 'unsafe',
};

describe('hash pool tee', () => {
  it('hands the consumer only what it asks for, at the right offsets, and the hash stays right', async () => {
    const path = join(model, 'model.safetensors');
    const bytes = readFileSync(path);
    const scanner = new FileScanner({ path: 'model.safetensors', size: bytes.length });
    let received = 0;
    const tee = {
      write: (chunk: Buffer, offset: number) => {
        expect(chunk.equals(bytes.subarray(offset, offset + chunk.length))).toBe(true);
        received += chunk.length;
        scanner.write(chunk, offset);
      },
      needFrom: () => scanner.needFrom(),
    };
    const [r] = await hashFiles([{ path, tee }]);
    expect(r!.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    scanner.end(r!.size);
    expect(scanner.result()).toMatchObject({ format: 'safetensors', verdict: 'safe' });
    // The header sits in the first 4 MiB buffer; the other two were hashed, not handed over.
    expect(received).toBeLessThanOrEqual(4 * 1024 * 1024);
  });
});

describe('pack --scan', () => {
  it('into an OCI layout (hash pool): every file scanned, layers named by digest', async () => {
    const target = await OciLayoutStore.open(join(tmp, 'layout'), { create: true });
    const r = await pack({ dir: model, target, cache: null, securityScan: true });
    expect(verdicts(r.securityScan)).toEqual(EXPECTED);
    for (const f of r.securityScan!.files) {
      const layer = r.layers.find((l) => l.path === f.path)!;
      expect(f).toMatchObject({ layer: layer.descriptor.digest, digest: layer.descriptor.digest });
    }
    expect(r.securityScan!.files.find((f) => f.path === 'pytorch_model.bin')!.findings).toEqual([
      expect.objectContaining({ global: 'posix.system', severity: 'dangerous' }),
    ]);
    expect(r.securityScan!.summary).toEqual({ files: 4, safe: 3, unsafe: 1, unknownFormat: 0 });
  });

  it('into a store without local files (the upload stream), and as tar layers', async () => {
    const r = await pack({ dir: model, target: new MemoryStore(), cache: null, securityScan: true });
    expect(verdicts(r.securityScan)).toEqual(EXPECTED);
    for (const layerFormat of ['tar', 'tar+gzip'] as const) {
      const t = await pack({ dir: model, target: new MemoryStore(), cache: null, securityScan: true, layerFormat });
      expect(verdicts(t.securityScan)).toEqual(EXPECTED);
      expect(t.securityScan!.files.every((f) => f.digest === undefined)).toBe(true);
    }
  });

  it('files whose digest came from the cache (not read by pack) are still scanned', async () => {
    const cache = await DigestCache.open(join(tmp, 'cache'));
    const target = await OciLayoutStore.open(join(tmp, 'layout-cached'), { create: true });
    await pack({ dir: model, target, cache });
    const again = await pack({ dir: model, target, cache, securityScan: true });
    expect(again.stats.cacheHits).toBe(4);
    expect(verdicts(again.securityScan)).toEqual(EXPECTED);
  });

  it('without the option nothing is scanned', async () => {
    const r = await pack({ dir: model, target: new MemoryStore(), cache: null });
    expect(r.securityScan).toBeUndefined();
  });
});
