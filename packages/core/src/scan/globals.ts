/**
 * Which Python globals a pickle may import. A global on the allow-list is what a weights file
 * legitimately names: PyTorch's tensor rebuild helpers, storage and dtype classes,
 * `collections.OrderedDict`, NumPy's array reconstruction. Anything else makes the file
 * `unsafe`: unpickling imports it and may call it. The deny-list only grades the finding
 * (`dangerous`: known to run commands, code, network or file access; `not-allowed`: unknown
 * code). Sources (docs/predicates.md, "Model scan", Sources):
 * - allow: what PyTorch's weights-only unpickler accepts (`_get_allowed_globals`,
 *   `_tensor_rebuild_functions`: what `torch.load(weights_only=True)` loads), and
 *   picklescan's `_safe_globals` (the NumPy entries);
 * - deny: picklescan's `_unsafe_globals` and modelscan's `unsafe_globals`, merged.
 */

/** Python 2 module names pickles written with protocol < 3 use (CPython's `_compat_pickle`). */
const PY2_MODULES: Record<string, string> = {
  __builtin__: 'builtins',
  copy_reg: 'copyreg',
  exceptions: 'builtins',
  commands: 'subprocess',
  httplib: 'http.client',
};

const TORCH_DTYPES = [
  'float32', 'float', 'float64', 'double', 'float16', 'half', 'bfloat16',
  'complex32', 'chalf', 'complex64', 'cfloat', 'complex128', 'cdouble',
  'uint8', 'int8', 'int16', 'short', 'int32', 'int', 'int64', 'long', 'bool',
  'uint16', 'uint32', 'uint64',
  'uint1', 'uint2', 'uint3', 'uint4', 'uint5', 'uint6', 'uint7',
  'int1', 'int2', 'int3', 'int4', 'int5', 'int6', 'int7',
  'quint8', 'qint8', 'qint32', 'quint4x2', 'quint2x4',
  'float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'float4_e2m1fn_x2',
  'bits1x8', 'bits2x4', 'bits4x2', 'bits8', 'bits16',
]; // prettier-ignore

const TORCH_STORAGE_PREFIXES = [
  'Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool',
  'ComplexFloat', 'ComplexDouble', 'QUInt8', 'QInt8', 'QInt32', 'QUInt4x2', 'QUInt2x4',
]; // prettier-ignore

const TORCH_REBUILD = [
  '_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3', '_rebuild_parameter',
  '_rebuild_parameter_with_state', '_rebuild_qtensor', '_rebuild_sparse_tensor',
  '_rebuild_meta_tensor_no_storage', '_rebuild_wrapper_subclass',
  '_rebuild_device_tensor_from_numpy', '_rebuild_device_tensor_from_cpu_tensor',
]; // prettier-ignore

const QSCHEMES = [
  'per_tensor_affine', 'per_tensor_symmetric', 'per_channel_affine', 'per_channel_symmetric',
  'per_channel_affine_float_qparams',
]; // prettier-ignore

/** `module.name` of every allowed global (module names already mapped from Python 2). */
export const SAFE_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'collections.Counter',
  'torch.nn.parameter.Parameter',
  'torch.serialization._get_layout',
  'torch.Size',
  'torch.Tensor',
  'torch.device',
  'torch._tensor._rebuild_from_type_v2',
  'torch.storage.TypedStorage',
  'torch.storage.UntypedStorage',
  'torch.UntypedStorage',
  // How protocol 2 pickles bytes (`_codecs.encode(str, 'latin1')`), sets, bytearrays and complex numbers.
  '_codecs.encode',
  'builtins.bytearray',
  'builtins.set',
  'builtins.frozenset',
  'builtins.complex',
  ...TORCH_REBUILD.map((f) => `torch._utils.${f}`),
  ...TORCH_DTYPES.map((t) => `torch.${t}`),
  ...TORCH_STORAGE_PREFIXES.flatMap((p) => [`torch.${p}Storage`, `torch.${p}Tensor`]),
  ...QSCHEMES.map((q) => `torch.${q}`),
  'numpy.dtype',
  'numpy.ndarray',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
]);

/** Modules whose every global (and every submodule's) is dangerous. */
const DANGEROUS_MODULES: ReadonlySet<string> = new Set([
  'os', 'nt', 'posix', 'subprocess', 'sys', 'socket', 'ssl', 'runpy', 'webbrowser', 'shutil', 'pty',
  'pickle', '_pickle', 'pdb', 'bdb', 'pip', 'pydoc', 'timeit', 'venv', 'ctypes', 'asyncio', 'aiohttp',
  'http.client', 'requests.api', 'numpy.f2py', 'numpy.testing._private.utils', 'distutils.file_util',
  'importlib', 'multiprocessing', 'code',
]); // prettier-ignore

/** Single dangerous globals, `module.name`. */
const DANGEROUS_GLOBALS: ReadonlySet<string> = new Set([
  ...['eval', 'exec', 'compile', 'getattr', 'setattr', 'delattr', 'apply', 'open', 'breakpoint', '__import__',
    'execfile', 'input', 'globals', 'locals', 'vars'].map((f) => `builtins.${f}`),
  'functools.partial',
  'functools.reduce',
  'operator.attrgetter',
  'operator.itemgetter',
  'operator.methodcaller',
  'cProfile.run',
  'cProfile.runctx',
  'profile.Profile.run',
  'profile.Profile.runctx',
  'doctest.debug_script',
  'ensurepip._run_pip',
  'trace.Trace.run',
  'trace.Trace.runctx',
  'torch.serialization.load',
  'torch.load',
  'torch._inductor.codecache.compile_file',
  'torch.jit.unsupported_tensor_ops.execWrapper',
  'torch.utils._config_module.ConfigModule.load_config',
  'torch.utils.collect_env.run',
  'torch.utils.data.datapipes.utils.decoder.basichandlers',
  'torch.fx.experimental.symbolic_shapes.ShapeEnv.evaluate_guards_expression',
  'torch._dynamo.guards.GuardBuilder.get',
  'torch.utils.bottleneck.__main__.run_cprofile',
  'torch.utils.bottleneck.__main__.run_autograd_prof',
]); // prettier-ignore

export type GlobalClass = 'safe' | 'dangerous' | 'not-allowed';

/** The module as Python 3 imports it (`__builtin__` → `builtins`). */
export function py3Module(module: string): string {
  return PY2_MODULES[module] ?? module;
}

/** Classifies `module` + `name` as a pickle's GLOBAL / STACK_GLOBAL / INST names them. */
export function classifyGlobal(module: string, name: string): GlobalClass {
  const mod = py3Module(module);
  const full = `${mod}.${name}`;
  if (DANGEROUS_GLOBALS.has(full)) return 'dangerous';
  const parts = mod.split('.');
  for (let i = 1; i <= parts.length; i++) if (DANGEROUS_MODULES.has(parts.slice(0, i).join('.'))) return 'dangerous';
  // A dotted name (`Profile.run`) reaches an attribute of an attribute: allowed names never have one.
  if (SAFE_GLOBALS.has(full)) return 'safe';
  return 'not-allowed';
}
