// The pickle walker against pickles CPython writes (protocols 0-5), PyTorch's zip and legacy
// layouts built with Python's zipfile (torch is not installed: a stand-in module gives the
// globals torch.save names), and hand-assembled opcode streams for what Python's pickler
// never writes (INST, EXT, STACK_GLOBAL fed from the memo). Nothing is ever unpickled.
import { describe, expect, it } from '@jest/globals';
import { PY_EVIL, PY_TORCH, globalsOf, py, scanBytes } from './scan-fixtures.js';

const PROTOCOLS = [0, 1, 2, 3, 4, 5];

describe('pickle: benign files are safe', () => {
  it.each(PROTOCOLS)('a state dict of plain Python values, protocol %i', (protocol) => {
    const bytes = py(`${PY_EVIL}
d = collections.OrderedDict(a=[1, 2.5, -3, 2**70], b=('x', b'\\x00\\xff' * 10, None, True), c={'k': {1, 2}}, e=complex(1, 2), f=bytearray(b'ab'), g=frozenset([3]))
out.write(pickle.dumps(d, protocol=${protocol}))`);
    const r = scanBytes(bytes, 'state.pkl');
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ format: 'pickle', verdict: 'safe' });
  });

  it.each(PROTOCOLS)('a PyTorch state dict (rebuild helpers, storages as persistent ids), protocol %i', (protocol) => {
    const bytes = py(`${PY_TORCH}out.write(torch_pickle(state_dict(), ${protocol}))`);
    const r = scanBytes(bytes, 'pytorch_model.bin');
    expect(r.findings).toEqual([]);
    expect(r.verdict).toBe('safe');
  });

  it('a PyTorch zip checkpoint (archive/data.pkl, archive/data/N, archive/version) is safe, in any chunking', () => {
    const bytes = py(`${PY_TORCH}out.write(torch_zip(torch_pickle(state_dict())))`);
    for (const chunk of [1, 7, 512, 1 << 20]) {
      const r = scanBytes(bytes, 'model.pt', { chunk });
      expect(r).toMatchObject({ format: 'pytorch-zip', verdict: 'safe', findings: [] });
    }
  });

  it('the legacy torch.save format: five pickles, then raw storage bytes that are not scanned', () => {
    const bytes = py(`${PY_TORCH}
import os
parts = [pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2), pickle.dumps(1001, protocol=2),
         pickle.dumps({'protocol_version': 1001, 'little_endian': True}, protocol=2),
         torch_pickle(state_dict()), pickle.dumps(['0', '1'], protocol=2)]
# Storage bytes that happen to look like a pickle importing os.system must not count.
out.write(b''.join(parts) + (8).to_bytes(8, 'little') + b'\\x80\\x02cos\\nsystem\\n.' + os.urandom(64))`);
    const r = scanBytes(bytes, 'model.bin');
    expect(r).toMatchObject({ format: 'pytorch-legacy', verdict: 'safe', findings: [] });
  });
});

describe('pickle: imports outside the allow-list are unsafe', () => {
  it.each(PROTOCOLS)(
    'os.system through REDUCE, protocol %i (named posix.system, as CPython pickles it here)',
    (protocol) => {
      const bytes = py(`${PY_EVIL}out.write(pickle.dumps(evil(os.system, 'echo pwned'), protocol=${protocol}))`);
      const r = scanBytes(bytes, 'model.pkl');
      expect(r.verdict).toBe('unsafe');
      expect(r.findings).toEqual([
        expect.objectContaining({
          kind: 'global',
          severity: 'dangerous',
          global: 'posix.system',
          opcode: protocol >= 4 ? 'STACK_GLOBAL' : 'GLOBAL',
        }),
      ]);
    },
  );

  it.each(PROTOCOLS)('subprocess.Popen, protocol %i', (protocol) => {
    const bytes = py(`${PY_EVIL}out.write(pickle.dumps([evil(subprocess.Popen, ['id'])], protocol=${protocol}))`);
    expect(globalsOf(scanBytes(bytes, 'x.pkl'))).toEqual(['subprocess.Popen']);
  });

  it('builtins.eval and exec hidden in a benign-looking state dict are each reported', () => {
    const bytes = py(
      `${PY_TORCH}
d = state_dict(); d['x'] = evil(eval, '1'); d['y'] = evil(exec, 'pass')
out.write(torch_pickle(d, 4))`.replace(
        'def state_dict',
        `class evil:
    def __init__(self, f, *args): self.f, self.args = f, args
    def __reduce__(self): return (self.f, self.args)
def state_dict`,
      ),
    );
    const r = scanBytes(bytes, 'pytorch_model.bin');
    expect(globalsOf(r)).toEqual(['builtins.eval', 'builtins.exec']);
    expect(r.findings.every((f) => f.severity === 'dangerous')).toBe(true);
  });

  it('a global that is merely unknown is not-allowed (unsafe, but graded below the deny-list)', () => {
    const bytes = py(`${PY_EVIL}
import json
out.write(pickle.dumps(evil(json.loads, '{}'), protocol=2))`);
    const r = scanBytes(bytes, 'x.pkl');
    expect(r.verdict).toBe('unsafe');
    expect(r.findings).toEqual([expect.objectContaining({ global: 'json.loads', severity: 'not-allowed' })]);
  });

  it('a PyTorch zip whose data.pkl runs os.system is unsafe, naming the member', () => {
    const bytes = py(`${PY_TORCH}
class evil:
    def __reduce__(self): return (__import__('os').system, ('id',))
d = state_dict(); d['boom'] = evil()
out.write(torch_zip(torch_pickle(d)))`);
    const r = scanBytes(bytes, 'model.pt');
    expect(r).toMatchObject({ format: 'pytorch-zip', verdict: 'unsafe' });
    expect(r.findings).toEqual([expect.objectContaining({ global: 'posix.system', entry: 'archive/data.pkl' })]);
  });

  it('protocol-0 INST (which CPython 3 no longer writes) is read as an import and a call', () => {
    const r = scanBytes(Buffer.from("(S'id'\nios\nsystem\n.", 'latin1'), 'old.pkl');
    expect(r.verdict).toBe('unsafe');
    expect(r.findings).toEqual([
      expect.objectContaining({ global: 'os.system', opcode: 'INST', severity: 'dangerous' }),
    ]);
  });

  it('STACK_GLOBAL resolves names from the memo, however far back they were stored', () => {
    // 'os' and 'system' are memoized and popped, a harmless global is built, then the names
    // come back with BINGET for a second STACK_GLOBAL.
    const s = (t: string): Buffer => Buffer.concat([Buffer.from([0x8c, t.length]), Buffer.from(t)]);
    const bytes = Buffer.concat([
      Buffer.from([0x80, 0x04]),
      s('os'), Buffer.from([0x94]), // MEMOIZE -> 0
      s('system'), Buffer.from([0x94]), // MEMOIZE -> 1
      Buffer.from('00', 'latin1'), // POP POP
      s('collections'), s('OrderedDict'), Buffer.from([0x93, 0x30]), // a safe STACK_GLOBAL, POP
      Buffer.from([0x68, 0, 0x68, 1, 0x93]), // BINGET 0, BINGET 1, STACK_GLOBAL
      s('id'), Buffer.from([0x85, 0x52, 0x2e]), // ('id',) REDUCE STOP
    ]); // prettier-ignore
    const r = scanBytes(bytes, 'x.pkl');
    expect(r.findings).toEqual([expect.objectContaining({ global: 'os.system', opcode: 'STACK_GLOBAL' })]);
  });

  it('a nested STACK_GLOBAL (a name that is itself an imported global or a missing memo entry) is an unknown import', () => {
    const s = (t: string): Buffer => Buffer.concat([Buffer.from([0x8c, t.length]), Buffer.from(t)]);
    const nested = Buffer.concat([
      Buffer.from([0x80, 0x04]),
      s('collections'), s('OrderedDict'), Buffer.from([0x93]), // a global as the "module"
      s('system'), Buffer.from([0x93]), // STACK_GLOBAL(<global>, 'system')
      Buffer.from([0x29, 0x52, 0x2e]),
    ]); // prettier-ignore
    expect(scanBytes(nested, 'x.pkl').findings).toEqual([
      expect.objectContaining({ global: '?', opcode: 'STACK_GLOBAL', severity: 'dangerous' }),
    ]);
    const missing = Buffer.concat([Buffer.from([0x80, 0x04, 0x68, 7]), s('system'), Buffer.from([0x93, 0x2e])]);
    expect(scanBytes(missing, 'x.pkl').findings).toEqual([expect.objectContaining({ global: '?' })]);
  });

  it('EXT1/EXT2/EXT4 (globals from the loader’s copyreg registry) are unsafe: the file does not say what they are', () => {
    for (const ext of [
      [0x82, 1],
      [0x83, 1, 0],
      [0x84, 1, 0, 0, 0],
    ]) {
      const r = scanBytes(Buffer.from([0x80, 0x02, ...ext, 0x29, 0x52, 0x2e]), 'x.pkl');
      expect(r.verdict).toBe('unsafe');
      expect(r.findings).toEqual([
        expect.objectContaining({ kind: 'extension', global: 'ext:1', severity: 'dangerous' }),
      ]);
    }
  });

  it('a REDUCE whose callable is the result of another call is reported even when every import is allowed', () => {
    // collections.OrderedDict() called, and its result called again.
    const bytes = Buffer.from('\x80\x02ccollections\nOrderedDict\n)R)R.', 'latin1');
    expect(scanBytes(bytes, 'x.pkl').findings).toEqual([expect.objectContaining({ kind: 'call', opcode: 'REDUCE' })]);
  });

  it('a second pickle after the first (PROTO) is walked too: loaders that read several would run it', () => {
    const bytes = py(
      `${PY_EVIL}out.write(pickle.dumps({'a': 1}, protocol=2) + pickle.dumps(evil(os.system, 'id'), protocol=2))`,
    );
    expect(globalsOf(scanBytes(bytes, 'x.pkl'))).toEqual(['posix.system']);
  });
});

describe('pickle: truncated and hostile input', () => {
  it('a truncated benign pickle is unknown-format (never safe), a truncated malicious one still unsafe', () => {
    const benign = py(`${PY_TORCH}out.write(torch_pickle(state_dict(), 4))`);
    const cut = scanBytes(benign.subarray(0, Math.floor(benign.length / 2)), 'x.pkl');
    expect(cut.verdict).toBe('unknown-format');
    expect(cut.notes.join(' ')).toMatch(/truncated|no STOP/);
    const evil = py(`${PY_EVIL}out.write(pickle.dumps(evil(os.system, 'x' * 100), protocol=2))`);
    const at = evil.indexOf(Buffer.from('system\n')) + 7;
    expect(scanBytes(evil.subarray(0, at + 2), 'x.pkl').verdict).toBe('unsafe');
  });

  it('a string claiming 2^40 bytes is skipped by length, never allocated: the file is just truncated', () => {
    const bytes = Buffer.concat([
      Buffer.from([0x80, 0x04, 0x8e]),
      Buffer.from('0000000000010000', 'hex'),
      Buffer.alloc(64),
    ]);
    const r = scanBytes(bytes, 'x.pkl');
    expect(r.verdict).toBe('unknown-format');
  });

  it('bytes that are not a pickle, in a .bin, are unknown-format', () => {
    const r = scanBytes(Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), 'weights.bin');
    expect(r.verdict).toBe('unknown-format');
    expect(r.notes[0]).toMatch(/unknown opcode 0xde/);
  });

  it('an unsupported protocol number and a stack underflow are unknown-format', () => {
    expect(scanBytes(Buffer.from([0x80, 0x09, 0x4e, 0x2e]), 'x.pkl').verdict).toBe('unknown-format');
    expect(scanBytes(Buffer.from([0x80, 0x02, 0x52, 0x2e]), 'x.pkl').verdict).toBe('unknown-format');
  });

  it('names kept are bounded per pickle (32 MiB): past that a name is an unknown global, never a pass', () => {
    // BINUNICODE of `len` bytes, MEMOIZE, POP.
    const str = (len: number, i: number): Buffer => {
      const t = Buffer.alloc(len, 0x61);
      t.write(String(i));
      const n = Buffer.alloc(4);
      n.writeUInt32LE(len);
      return Buffer.concat([Buffer.from([0x58]), n, t, Buffer.from([0x94, 0x30])]);
    };
    const s = (t: string): Buffer => Buffer.concat([Buffer.from([0x8c, t.length]), Buffer.from(t)]);
    // 33,554 names of 1000 bytes and one of 431 leave one byte of the 32 MiB: 'os' no longer fits.
    const bytes = Buffer.concat([
      Buffer.from([0x80, 0x04]),
      ...Array.from({ length: 33_554 }, (_, i) => str(1000, i)),
      str(431, -1),
      s('os'), s('system'), Buffer.from([0x93, 0x29, 0x52, 0x2e]),
    ]); // prettier-ignore
    expect(scanBytes(bytes, 'x.pkl', { chunk: 1 << 20 }).findings).toEqual([
      expect.objectContaining({ global: '?', opcode: 'STACK_GLOBAL', severity: 'dangerous' }),
    ]);
  });

  it('an over-long GLOBAL module name cannot hide the import: it is an unknown global', () => {
    const bytes = Buffer.from(`\x80\x02c${'o'.repeat(5000)}\nsystem\n)R.`, 'latin1');
    expect(scanBytes(bytes, 'x.pkl').findings).toEqual([expect.objectContaining({ global: '?', opcode: 'GLOBAL' })]);
  });
});
