// Header sanity for the formats whose loaders trust a header (safetensors, GGUF, ONNX external
// data), NumPy object arrays, hostile zip structure, and the byte plumbing: a scan that skips
// what it does not need must say the same as one fed every byte.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { scanLocalFile } from '../src/scan/local.js';
import { PY_EVIL, PY_TORCH, globalsOf, py, scanBytes } from './scan-fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'ms-scan-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function safetensors(header: Record<string, unknown>, dataBytes: number, rawLength?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(rawLength ?? BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
}

describe('safetensors header', () => {
  const ok = {
    __metadata__: { format: 'pt' },
    a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    b: { dtype: 'BF16', shape: [4], data_offsets: [16, 24] },
  };

  it('a well-formed file is safe, and only its header is read', () => {
    const file = safetensors(ok, 24 + 0);
    const big = Buffer.concat([file.subarray(0, file.length - 24), Buffer.alloc(24)]);
    const r = scanBytes(big, 'model.safetensors', { chunk: 16 });
    expect(r).toMatchObject({ format: 'safetensors', verdict: 'safe', findings: [] });
    expect(r.bytesSent).toBeLessThan(big.length);
  });

  it('a header size bomb, a header longer than the file, out-of-range and overlapping offsets are unsafe', () => {
    const cases: [Buffer, RegExp][] = [
      [safetensors(ok, 24, 1n << 40n), /exceeds the 100000000 bytes .*size bomb/],
      [safetensors(ok, 24, 10_000n), /larger than the file/],
      [safetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /outside the 8-byte buffer/],
      [
        safetensors(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          },
          12,
        ),
        /overlaps/,
      ],
    ];
    for (const [bytes, message] of cases) {
      const r = scanBytes(bytes, 'model.safetensors');
      expect(r.verdict).toBe('unsafe');
      expect(r.findings.map((f) => f.message).join('\n')).toMatch(message);
      expect(r.findings.some((f) => f.kind === 'header' && f.severity === 'dangerous')).toBe(true);
    }
  });

  it('a header length whose first bytes read like a pickle PROTO (0x0480 = 80 04) is still safetensors', () => {
    // The sample model's shard 1 has exactly this: a 1152-byte header.
    const json = JSON.stringify({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } });
    const header = Buffer.from(json.padEnd(0x480, ' '));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(0x480n);
    const bytes = Buffer.concat([len, header, Buffer.alloc(4)]);
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x80, 0x04]));
    for (const path of ['model-00001-of-00002.safetensors', 'weights.bin'])
      expect(scanBytes(bytes, path)).toMatchObject({ format: 'safetensors', verdict: 'safe', findings: [] });
  });

  it('an unknown dtype and a size that does not match the shape are findings too', () => {
    const r = scanBytes(
      safetensors(
        {
          a: { dtype: 'Q9', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F16', shape: [3], data_offsets: [8, 16] },
        },
        16,
      ),
      'm.safetensors',
    );
    expect(r.verdict).toBe('unsafe');
    expect(r.findings.map((f) => f.message).join('\n')).toMatch(/unknown dtype "Q9"[\s\S]*need 6/);
  });
});

/** A GGUF v3 file: KVs, tensor infos, aligned data. */
function gguf(o: { kvCount?: bigint; strLen?: bigint; tensors?: { name: string; dims: number[]; type: number; offset: bigint }[]; data?: number }): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); parts.push(b); };
  const str = (s: string, len?: bigint) => { u64(len ?? BigInt(Buffer.byteLength(s))); parts.push(Buffer.from(s)); };
  const tensors = o.tensors ?? [{ name: 'w', dims: [8], type: 0, offset: 0n }];
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(BigInt(tensors.length));
  u64(o.kvCount ?? 2n);
  str('general.architecture'); u32(8); str('llama', o.strLen);
  str('tokenizer.ggml.tokens'); u32(9); u32(8); u64(2n); str('a'); str('b');
  for (const t of tensors) { str(t.name); u32(t.dims.length); for (const d of t.dims) u64(BigInt(d)); u32(t.type); u64(t.offset); }
  const head = Buffer.concat(parts);
  const pad = (32 - (head.length % 32)) % 32;
  return Buffer.concat([head, Buffer.alloc(pad), Buffer.alloc(o.data ?? 32)]);
} // prettier-ignore

describe('GGUF header', () => {
  it('a well-formed file is safe', () => {
    expect(scanBytes(gguf({}), 'm.gguf')).toMatchObject({ format: 'gguf', verdict: 'safe', findings: [] });
  });

  it('counts and lengths that do not fit in the file are unsafe (before anything is allocated)', () => {
    expect(scanBytes(gguf({ kvCount: 1n << 60n }), 'm.gguf').findings[0]?.message).toMatch(
      /metadata count .* does not fit/,
    );
    expect(scanBytes(gguf({ strLen: 1n << 40n }), 'm.gguf').findings[0]?.message).toMatch(
      /string value length .* does not fit/,
    );
  });

  it('tensor data outside the data section or overlapping is unsafe', () => {
    const outside = gguf({ tensors: [{ name: 'w', dims: [64], type: 0, offset: 0n }] });
    expect(scanBytes(outside, 'm.gguf').findings[0]?.message).toMatch(/outside the 32-byte data section/);
    const overlap = gguf({
      tensors: [
        { name: 'a', dims: [8], type: 0, offset: 0n },
        { name: 'b', dims: [8], type: 0, offset: 0n },
      ],
      data: 64,
    });
    expect(scanBytes(overlap, 'm.gguf').findings.map((f) => f.message)).toContain(
      `tensor "b" overlaps the previous tensor's data`,
    );
  });
});

/** Protobuf encoding helpers for a minimal ONNX ModelProto. */
const varint = (n: number): Buffer => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const field = (no: number, body: Buffer): Buffer => Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
const tensor = (name: string, location?: string): Buffer =>
  Buffer.concat([
    Buffer.from([0x08, 4]), // dims
    field(8, Buffer.from(name)),
    field(9, Buffer.alloc(4096)), // inline raw_data, skipped
    ...(location
      ? [
          field(13, Buffer.concat([field(1, Buffer.from('location')), field(2, Buffer.from(location))])),
          Buffer.from([0x70, 1]),
        ]
      : []),
  ]);
const onnx = (...graphFields: Buffer[]): Buffer =>
  Buffer.concat([Buffer.from([0x08, 8]), field(7, Buffer.concat(graphFields))]);

describe('ONNX external data', () => {
  it('inline weights and a location inside the model directory are safe', () => {
    const r = scanBytes(onnx(field(5, tensor('w')), field(5, tensor('x', 'weights/x.bin'))), 'onnx/model.onnx');
    expect(r).toMatchObject({ format: 'onnx', verdict: 'safe', findings: [] });
  });

  it('absolute locations and ones that leave the model directory are unsafe, in subgraphs too', () => {
    for (const loc of ['/etc/passwd', '../../.ssh/id_rsa', 'C:\\Windows\\win.ini', '..\\..\\x']) {
      const r = scanBytes(onnx(field(5, tensor('w', loc))), 'onnx/model.onnx');
      expect(r.verdict).toBe('unsafe');
      expect(r.findings).toEqual([expect.objectContaining({ kind: 'external-data', location: loc })]);
    }
    // Graph → node → attribute g (a subgraph) → initializer.
    const node = field(1, field(5, field(6, field(5, tensor('deep', '/proc/self/environ')))));
    expect(scanBytes(onnx(node), 'model.onnx').findings).toEqual([
      expect.objectContaining({ location: '/proc/self/environ' }),
    ]);
  });

  it('a protobuf that lies about lengths is unknown-format', () => {
    const bad = Buffer.concat([Buffer.from([0x08, 8]), Buffer.from([0x3a, 0xff, 0x01]), Buffer.alloc(4)]);
    expect(scanBytes(bad, 'model.onnx').verdict).toBe('unknown-format');
  });
});

describe('NumPy', () => {
  it('a numeric .npy is safe; an object array is walked as the pickle it holds', () => {
    const plain = py(`import numpy as np, io, sys
b = io.BytesIO(); np.save(b, np.arange(10, dtype='<f4')); sys.stdout.buffer.write(b.getvalue())`);
    expect(scanBytes(plain, 'a.npy')).toMatchObject({ format: 'numpy', verdict: 'safe' });
    const objects = py(`import numpy as np, io, sys
b = io.BytesIO(); np.save(b, np.array(['a', 1, None], dtype=object), allow_pickle=True); sys.stdout.buffer.write(b.getvalue())`);
    expect(scanBytes(objects, 'a.npy')).toMatchObject({ verdict: 'safe', findings: [] });
    const evil = py(`${PY_EVIL}
import numpy as np
b = io.BytesIO(); np.save(b, np.array([evil(os.system, 'id')], dtype=object), allow_pickle=True); out.write(b.getvalue())`);
    expect(globalsOf(scanBytes(evil, 'a.npy'))).toEqual(['posix.system']);
  });

  it('.npz archives: stored and deflated members are scanned', () => {
    const benign = py(`import numpy as np, io, sys
b = io.BytesIO(); np.savez_compressed(b, x=np.ones(100), y=np.zeros(3)); sys.stdout.buffer.write(b.getvalue())`);
    expect(scanBytes(benign, 'a.npz')).toMatchObject({ format: 'npz', verdict: 'safe' });
    for (const save of ['savez', 'savez_compressed']) {
      const evil = py(`${PY_EVIL}
import numpy as np
b = io.BytesIO(); np.${save}(b, ok=np.ones(1000), bad=np.array([evil(subprocess.call, 'id')], dtype=object)); out.write(b.getvalue())`);
      const r = scanBytes(evil, 'a.npz', { chunk: 100 });
      expect(r.findings).toEqual([expect.objectContaining({ global: 'subprocess.call', entry: 'bad.npy' })]);
    }
  });
});

describe('zip structure', () => {
  it('a central directory pointing at a member hidden inside another member is a container finding', () => {
    // Member "blob" carries, inside its data, a complete local header + malicious data.pkl; the
    // central directory is rewritten to list that hidden header instead of "blob".
    const bytes = py(`${PY_TORCH}
import struct
class evil:
    def __reduce__(self): return (__import__('os').system, ('id',))
inner = io.BytesIO()
with zipfile.ZipFile(inner, 'w') as z: z.writestr('archive/data.pkl', pickle.dumps(evil(), protocol=2))
inner = inner.getvalue()
hidden = inner[:inner.index(b'PK\\x01\\x02')]  # local header + data of the evil member
b = io.BytesIO()
with zipfile.ZipFile(b, 'w') as z:
    z.writestr('archive/data.pkl', torch_pickle(state_dict()))
    z.writestr('archive/blob', b'\\0' * 7 + hidden)
data = bytearray(b.getvalue())
blob_local = data.index(b'PK\\x03\\x04', 1)
hidden_at = blob_local + 30 + len('archive/blob') + 7
cd = data.index(b'PK\\x01\\x02')
cd2 = data.index(b'PK\\x01\\x02', cd + 1)  # the central entry of blob
name = b'archive/data.pkl'
# Point it at the hidden header and give it the hidden member's name and sizes (same length names).
hidden_cd = inner[inner.index(b'PK\\x01\\x02'):inner.index(b'PK\\x05\\x06')]
entry = bytearray(hidden_cd); struct.pack_into('<I', entry, 42, hidden_at)
end = data.index(b'PK\\x05\\x06')
data = data[:cd2] + entry + data[end:]
eocd = data.index(b'PK\\x05\\x06'); struct.pack_into('<I', data, eocd + 12, len(data[cd:eocd]))
out.write(bytes(data))`);
    const r = scanBytes(bytes, 'model.pt');
    expect(r.verdict).toBe('unsafe');
    expect(r.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'container', message: expect.stringMatching(/not a member this scan read/) }),
      ]),
    );
  });

  it('bytes after the end-of-archive record and a member with a data descriptor are not passed as safe', () => {
    const zip = py(`${PY_TORCH}out.write(torch_zip(torch_pickle(state_dict())))`);
    const trailing = scanBytes(Buffer.concat([zip, Buffer.from('PK\x05\x06junk')]), 'model.pt');
    expect(trailing.findings).toEqual([
      expect.objectContaining({ kind: 'container', message: expect.stringMatching(/after the end-of-archive/) }),
    ]);
    // A zip written to a pipe uses data descriptors (sizes after the data).
    const streamed = py(`import zipfile, sys
class Pipe:
    def __init__(self): self.b = bytearray()
    def write(self, d): self.b += d; return len(d)
    def flush(self): pass
p = Pipe()
with zipfile.ZipFile(p, 'w') as z: z.writestr('archive/data.pkl', b'\\x80\\x02N.')
sys.stdout.buffer.write(bytes(p.b))`);
    expect(scanBytes(streamed, 'model.pt')).toMatchObject({ verdict: 'unknown-format' });
  });

  it('TorchScript code in an archive is not passed as safe', () => {
    const bytes = py(
      `${PY_TORCH}out.write(torch_zip(torch_pickle(state_dict()), extra=[('archive/code/__torch__/m.py', 'def forward(self): pass')]))`,
    );
    expect(scanBytes(bytes, 'model.pt')).toMatchObject({ verdict: 'unknown-format' });
  });
});

describe('other files', () => {
  it('text is safe; binary data of no known format, code and unread model formats are unknown-format', () => {
    expect(scanBytes(Buffer.from('{"architectures": ["X"]}'), 'config.json')).toMatchObject({
      format: 'text',
      verdict: 'safe',
    });
    expect(scanBytes(Buffer.from([1, 0, 2, 3]), 'blob.xyz')).toMatchObject({ verdict: 'unknown-format' });
    expect(scanBytes(Buffer.from('import os\n'), 'modeling_x.py')).toMatchObject({
      format: 'code',
      verdict: 'unknown-format',
    });
    expect(scanBytes(Buffer.from('# tool\n'), 'run', { kind: 'code' })).toMatchObject({ verdict: 'unknown-format' });
    expect(scanBytes(Buffer.from('\x89HDF\r\n\x1a\n'), 'tf_model.h5')).toMatchObject({ verdict: 'unknown-format' });
    expect(scanBytes(Buffer.alloc(0), 'empty.txt')).toMatchObject({ format: 'empty', verdict: 'safe' });
  });
});

describe('one read, only what is needed', () => {
  const files: [string, Buffer][] = [
    [
      'model.pt',
      py(`${PY_TORCH}out.write(torch_zip(torch_pickle(state_dict()), extra=[('archive/data/2', bytes(100000))]))`),
    ],
    ['evil.pkl', py(`${PY_EVIL}out.write(pickle.dumps([b'x' * 100000, evil(os.system, 'id')], protocol=4))`)],
    ['model.safetensors', safetensors({ a: { dtype: 'U8', shape: [100000], data_offsets: [0, 100000] } }, 100000)],
    ['m.gguf', gguf({ tensors: [{ name: 'w', dims: [32768], type: 0, offset: 0n }], data: 131072 })],
  ];

  it.each(files)('%s: skipping what needFrom says is not needed changes nothing, and skips bytes', (path, bytes) => {
    const all = scanBytes(bytes, path, { honourNeedFrom: false, chunk: 1000 });
    const some = scanBytes(bytes, path, { chunk: 1000 });
    const { bytesSent: a, ...allResult } = all;
    const { bytesSent: b, ...someResult } = some;
    expect(someResult).toEqual(allResult);
    expect(b).toBeLessThan(a / 2);
  });

  it.each(files)('%s: a local file scan (positional reads) agrees with the pushed one', async (path, bytes) => {
    const file = join(tmp, path);
    writeFileSync(file, bytes);
    const { bytesSent: _b, ...pushed } = scanBytes(bytes, path);
    expect(await scanLocalFile(file, { path })).toEqual(pushed);
  });
});
