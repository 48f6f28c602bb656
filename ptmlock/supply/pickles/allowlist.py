"""Which globals a weights pickle may import: an exact allow-list, and the names known to run code.

An entry is an exact `module` + `qualname` pair. A qualname with a dot (`exec.__call__`) is an
attribute chain the protocol-4 unpickler walks with `getattr`; it matches only an entry that
lists those dots, and none does (issue 12: `fnmatch`'s `*` crossed dots, so
`torch._utils._rebuild_*` let `torch._utils._rebuild_x.__globals__...` through).

Severity comes from the allow-list, not from a deny-list (issue 23): a global on `SAFE` is
plain data; one on `WEIGHTS_STYLE` is a reviewed class libraries pickle beside weights (training
arguments, their enums), which `trust-pickle = true` accepts; anything else is possible code
execution, whether `DANGEROUS_*` knows why (it only adds the explanation) or not.

`SAFE` is torch's `weights_only` unpickler's list (`torch._weights_only_unpickler._get_allowed_globals()`
of torch 2.14, copied so the scanner imports no torch), plus torch's layouts and memory formats,
the builtin containers, numpy's arrays and scalars (numpy 1.26 and 2.4), numpy's random state
objects (`RandomState`, `Generator`, their bit generators and `SeedSequence`, numpy 2.4
`numpy/random/_pickle.py`), and joblib's array wrapper (joblib 1.6.0 `numpy_pickle.py`: the
scanner follows the array bytes joblib reads after it). Optimizer, scheduler, `GradScaler` and
RNG states (`torch.get_rng_state`, `random.getstate`, `np.random.get_state`) are builtins,
tensors and arrays: nothing more is needed for them.
"""
from __future__ import annotations

import _compat_pickle


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SAFE: dict[str, frozenset[str]] = {
    "_codecs": _words("""
        encode
    """),
    "builtins": _words("""
        bool bytearray bytes complex dict float frozenset int list set slice str tuple
    """),
    "collections": _words("""
        Counter OrderedDict defaultdict
    """),
    "numpy": _words("""
        dtype memmap ndarray
    """),
    "numpy._core.multiarray": _words("""
        _reconstruct scalar
    """),
    "numpy.core.multiarray": _words("""
        _reconstruct scalar
    """),
    "numpy.random._pickle": _words("""
        __bit_generator_ctor __generator_ctor __randomstate_ctor
    """),
    "numpy.random": _words("""
        __RandomState_ctor
    """),
    "numpy.random.mtrand": _words("""
        RandomState
    """),
    "numpy.random._mt19937": _words("""
        MT19937
    """),
    "numpy.random._pcg64": _words("""
        PCG64 PCG64DXSM
    """),
    "numpy.random._philox": _words("""
        Philox
    """),
    "numpy.random._sfc64": _words("""
        SFC64
    """),
    "numpy.random.bit_generator": _words("""
        SeedSequence __pyx_unpickle_SeedSequence
    """),
    "joblib.numpy_pickle": _words("""
        NumpyArrayWrapper
    """),
    "numpy.dtypes": _words("""
        BoolDType ByteDType BytesDType CLongDoubleDType Complex128DType Complex64DType DateTime64DType
        Float16DType Float32DType Float64DType Int16DType Int32DType Int64DType Int8DType IntDType LongDType
        LongDoubleDType LongLongDType ShortDType StrDType StringDType TimeDelta64DType UByteDType
        UInt16DType UInt32DType UInt64DType UInt8DType UIntDType ULongDType ULongLongDType UShortDType
        VoidDType
    """),
    "torch": _words("""
        BFloat16Storage BFloat16Tensor BoolStorage BoolTensor ByteStorage ByteTensor CharStorage CharTensor
        ComplexDoubleStorage ComplexFloatStorage DoubleStorage DoubleTensor FloatStorage FloatTensor
        HalfStorage HalfTensor IntStorage IntTensor LongStorage LongTensor QInt32Storage QInt8Storage
        QUInt2x4Storage QUInt4x2Storage QUInt8Storage ShortStorage ShortTensor Size Tensor _mkldnn
        bcomplex32 bfloat16 bits16 bits1x8 bits2x4 bits4x2 bits8 bool channels_last channels_last_3d
        complex128 complex32 complex64 contiguous_format device float16 float32 float4_e2m1fn_x2 float64
        float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu int1 int16 int2 int3 int32
        int4 int5 int6 int64 int7 int8 per_channel_affine per_channel_affine_float_qparams
        per_channel_symmetric per_tensor_affine per_tensor_symmetric preserve_format qint32 qint8 quint2x4
        quint4x2 quint8 sparse_bsc sparse_bsr sparse_coo sparse_csc sparse_csr strided uint1 uint16 uint2
        uint3 uint32 uint4 uint5 uint6 uint64 uint7 uint8
    """),
    "torch._tensor": _words("""
        _rebuild_from_type_v2
    """),
    "torch._utils": _words("""
        _rebuild_device_tensor_from_cpu_tensor _rebuild_device_tensor_from_numpy
        _rebuild_meta_tensor_no_storage _rebuild_nested_tensor _rebuild_parameter
        _rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor _rebuild_tensor
        _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_wrapper_subclass
    """),
    "torch.cuda": _words("""
        BFloat16Storage BFloat16Tensor BoolStorage BoolTensor ByteStorage ByteTensor CharStorage CharTensor
        ComplexDoubleStorage ComplexFloatStorage DoubleStorage DoubleTensor FloatStorage FloatTensor
        HalfStorage HalfTensor IntStorage IntTensor LongStorage LongTensor ShortStorage ShortTensor
    """),
    "torch.cuda.sparse": _words("""
        BFloat16Tensor ByteTensor CharTensor DoubleTensor FloatTensor HalfTensor IntTensor LongTensor
        ShortTensor
    """),
    "torch.nn.parameter": _words("""
        Parameter
    """),
    "torch.serialization": _words("""
        _get_layout
    """),
    "torch.sparse": _words("""
        BFloat16Tensor ByteTensor CharTensor DoubleTensor FloatTensor HalfTensor IntTensor LongTensor
        ShortTensor
    """),
    "torch.storage": _words("""
        TypedStorage UntypedStorage
    """),
}

# Classes libraries pickle beside weights that only hold settings (transformers 4.57 and 5.x
# `training_args.bin`): built with NEWOBJ/REDUCE of the class and a dict state, no code of their
# own runs. Not weights_only-loadable, so `trust-pickle = true` is needed to accept them.
WEIGHTS_STYLE: dict[str, frozenset[str]] = {
    "argparse": _words("Namespace"),
    "transformers.training_args": _words("TrainingArguments OptimizerNames"),
    "transformers.training_args_seq2seq": _words("Seq2SeqTrainingArguments"),
    "transformers.trainer_utils": _words("IntervalStrategy SchedulerType HubStrategy SaveStrategy EvaluationStrategy"),
    "transformers.debug_utils": _words("DebugOption"),
    "transformers.trainer_pt_utils": _words("AcceleratorConfig"),
    "transformers.generation.configuration_utils": _words("GenerationConfig"),
    "accelerate.utils.dataclasses": _words("DistributedType"),
}

# Modules any callable of which can run code, touch files, processes, the network or the
# interpreter (the names attackers reach for; cf. picklescan's and modelscan's deny lists).
DANGEROUS_MODULES = _words("""
    _io _operator _pickle _posixsubprocess _thread _winapi asyncio bdb builtins cProfile code codecs codeop
    commands ctypes dill distutils ensurepip ftplib functools gc glob http httplib httpx idlelib imp
    importlib inspect io joblib lib2to3 linecache logging marshal multiprocessing nt operator os pathlib pdb
    pickle pip pkgutil platform posix profile pty pydoc requests runpy sched setuptools shelve shutil signal
    site smtplib socket ssl subprocess sys sysconfig tempfile telnetlib threading timeit trace types
    unittest urllib urllib2 venv webbrowser xmlrpc zipimport
""")
# Attribute names that run code wherever they are reached from (`torch.hub.load`, `numpy.load`).
DANGEROUS_ATTRS = _words("""
    __builtins__ __call__ __class__ __getattribute__ __globals__ __import__ __init__ __reduce__
    __reduce_ex__ __subclasses__ _load_from_bytes apply breakpoint call check_call check_output compile
    eval exec execfile fromfile getattr import_module load load_state_dict_from_url loads methodcaller
    open popen reduce resolve_name run runcall runctx runstring setattr spawn system
""")

DYNAMIC = "<dynamic>"  # a STACK_GLOBAL whose module or name was computed: no honest pickle does that


def qualified(module: str, name: str, proto: int) -> tuple[str, str]:
    """The (module, qualname) `pickle.Unpickler.find_class` imports: Python 2 names are mapped
    only below protocol 3, as the unpickler's `fix_imports` does."""
    if proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            return _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return module, name


def is_safe(name: str) -> bool:
    """True when `name` ("module.qualname", as `split_name` reads it) is on the allow-list exactly."""
    module, _, qualname = name.rpartition(".")
    return qualname in SAFE.get(module, frozenset())


def classify(name: str) -> str:
    """`"safe"`, `"weights-style"`, `"dangerous"` or `"unknown"` for a global written
    `module:qualname` or `module.qualname`.

    Safe: on `SAFE` exactly. Weights-style: on `WEIGHTS_STYLE` exactly. Dangerous (the reason is
    known): a computed name, a module in `DANGEROUS_MODULES` (or a submodule of one), any dotted
    component that names one (`pathlib.os.system`), any attribute in `DANGEROUS_ATTRS` or any
    dunder, or a qualname that walks attributes (`exec.__call__`). Unknown: any other global;
    it is as severe as dangerous (a full unpickle calls it), only unexplained.
    """
    if name == DYNAMIC or name.startswith("<"):
        return "dangerous"
    module, sep, qualname = name.partition(":")
    if not sep:
        module, _, qualname = name.rpartition(".")
    if qualname in SAFE.get(module, frozenset()):
        return "safe"
    if qualname in WEIGHTS_STYLE.get(module, frozenset()):
        return "weights-style"
    parts = module.split(".") + qualname.split(".")
    if "." in qualname or any(p in DANGEROUS_MODULES or p in DANGEROUS_ATTRS for p in parts):
        return "dangerous"
    if any(p.startswith("__") and p.endswith("__") for p in parts):
        return "dangerous"
    return "unknown"


def display(module: str, qualname: str) -> str:
    """How a global is shown: `module.qualname`, or `module:qualname` when the qualname has dots
    (so `builtins:exec.__call__` cannot be mistaken for a module path)."""
    return f"{module}:{qualname}" if "." in qualname else f"{module}.{qualname}"
