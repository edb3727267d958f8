import { execFileSync } from 'node:child_process';
import { FileScanner, type FileScanInput } from '../src/scan/file-scan.js';
import type { FileScanResult } from '../src/scan/report.js';

/**
 * Test files written by CPython itself (`pickle`, `zipfile`, `numpy`): the script writes the
 * file's bytes to stdout. Nothing is ever unpickled, by Python or by the scanner.
 */
export function py(script: string): Buffer {
  return execFileSync('python3', ['-c', script], { maxBuffer: 64 * 1024 * 1024 });
}

/** Python source defining `evil(f, *args)`: an object whose unpickling calls `f(*args)`. */
export const PY_EVIL = `
import pickle, sys, io, os, subprocess, zipfile, collections
class evil:
    def __init__(self, f, *args): self.f, self.args = f, args
    def __reduce__(self): return (self.f, self.args)
out = sys.stdout.buffer
`;

/**
 * Python source defining a stand-in `torch` module (torch is not installed here) whose
 * functions have the qualified names torch.save writes, and `torch_pickle(obj, protocol)`: the
 * pickle torch.save writes, storages as persistent ids `('storage', torch.FloatStorage, key,
 * 'cpu', numel)`.
 */
export const PY_TORCH = `
import pickle, sys, io, types, zipfile, collections
torch = types.ModuleType('torch'); sys.modules['torch'] = torch
_utils = types.ModuleType('torch._utils'); sys.modules['torch._utils'] = _utils; torch._utils = _utils
class FloatStorage: pass
FloatStorage.__module__ = 'torch'; torch.FloatStorage = FloatStorage
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = 'torch._utils'; _utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class Storage:
    def __init__(self, key, n): self.key, self.n = key, n
class Tensor:
    def __init__(self, storage, shape): self.storage, self.shape = storage, shape
    def __reduce__(self):
        return (_rebuild_tensor_v2, (self.storage, 0, self.shape, (1,) * len(self.shape), False, collections.OrderedDict()))
class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage): return ('storage', FloatStorage, obj.key, 'cpu', obj.n)
        return None
def torch_pickle(obj, protocol=2):
    b = io.BytesIO(); TorchPickler(b, protocol=protocol).dump(obj); return b.getvalue()
def state_dict():
    d = collections.OrderedDict()
    d['layer.weight'] = Tensor(Storage('0', 4), (2, 2))
    d['layer.bias'] = Tensor(Storage('1', 2), (2,))
    return d
def torch_zip(data_pkl, name='archive', extra=()):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_STORED) as z:
        z.writestr(name + '/data.pkl', data_pkl)
        z.writestr(name + '/byteorder', 'little')
        z.writestr(name + '/data/0', bytes(16))
        z.writestr(name + '/data/1', bytes(8))
        for n, v in extra: z.writestr(n, v)
        z.writestr(name + '/version', '3\\n')
        z.writestr(name + '/.data/serialization_id', '1234')
    return b.getvalue()
out = sys.stdout.buffer
`;

/** Scans `bytes` as the file `path`, pushed in `chunk`-byte pieces, skipping what the scanner says it does not need. */
export function scanBytes(
  bytes: Buffer,
  path: string,
  options: { chunk?: number; kind?: string; honourNeedFrom?: boolean } = {},
): FileScanResult & { bytesSent: number } {
  const input: FileScanInput = { path, size: bytes.length, ...(options.kind ? { kind: options.kind } : {}) };
  const s = new FileScanner(input);
  const chunk = options.chunk ?? 4096;
  let sent = 0;
  for (let pos = 0; pos < bytes.length;) {
    const need = options.honourNeedFrom === false ? pos : s.needFrom();
    if (need === Infinity) break;
    if (need > pos) pos = Math.min(need, bytes.length);
    if (pos >= bytes.length) break;
    const c = bytes.subarray(pos, pos + chunk);
    s.write(Buffer.from(c), pos);
    sent += c.length;
    pos += c.length;
  }
  s.end(bytes.length);
  return { ...s.result(), bytesSent: sent };
}

/** The global names of the findings. */
export function globalsOf(r: FileScanResult): string[] {
  return r.findings.map((f) => f.global ?? '').sort();
}
