"""Every third-party workaround d3l needs, in one place.

Each patch says which package and version it is for, why it is needed, and
when it is inactive. :func:`apply_all` runs on ``import d3l``; every patch
checks first whether it is needed, so a full GPU install (full mmcv,
torchvision, CUDA) leaves the libraries untouched.

Patches
-------
``checkpoint_loading``
    mmengine 0.10.7 calls ``torch.load(filename)``. Since torch 2.6 that means
    ``weights_only=True`` and MMEngine's own checkpoints (message hub
    ``HistoryBuffer``, numpy scalars, ...) are refused. We keep
    ``weights_only=True`` and allowlist exactly the globals MMEngine
    checkpoints contain (:data:`MMENGINE_CHECKPOINT_GLOBALS`), only during the
    load. A checkpoint that needs anything else (e.g. one whose pickle would
    call ``os.system``) raises :class:`UnsafeCheckpointError` naming the file;
    a truncated or corrupt one raises :class:`CorruptCheckpointError`.
``mmcv_ops_placeholder``
    mmcv-lite 2.1.0 has no compiled ``mmcv._ext`` but mmsegmentation 1.2.2
    and mmdet3d 1.4.0 import ``mmcv.ops`` (and mmdet3d ``mmcv._ext``)
    eagerly. When ``mmcv._ext`` is missing, ``mmcv.utils.ext_loader`` hands
    out a placeholder extension: ``mmcv.ops`` imports, pure-PyTorch ops
    (e.g. ``point_sample``) work, and every compiled op raises
    :class:`MissingCompiledOpError` ("needs full mmcv") when called.
    Inactive with full mmcv.
``spconv_cpu_stream``
    spconv 2.3.8 asks ``torch.cuda.current_stream()`` for every op, even on
    CPU tensors, which fails on a CPU-only torch. Without CUDA we return
    stream 0 (the CPU kernels ignore it). Inactive when CUDA is available.
``spconv_cpu_single_thread``
    spconv 2.3.8's CPU kernels race when torch runs more than one thread:
    the same SparseUNet forward on the same input differs from run to run
    by up to 0.05 (measured with 2 threads; exact with 1), so training and
    evaluation on CPU would be silently wrong. Every compute op of
    ``spconv.pytorch.ops`` (index pairs, convolutions, pooling, forward and
    backward) runs with one torch thread when its tensors are on the CPU;
    CUDA calls are untouched. Inactive when spconv is not installed.
``ocnn_without_torchvision``
    ocnn 2.3.3 imports torchvision in ``ocnn.models.image2shape`` only (for
    one image model); the PyPI torchvision wheel does not load beside the CPU
    torch build. When torchvision cannot be imported, ``Image2Shape`` becomes
    a placeholder raising a clear error; everything else in ocnn works.
``mmdet3d_spconv_state_dict``
    mmdet3d 1.4.0 (``register_spconv2``, run when ``mmdet3d.models`` is
    imported) replaces spconv's ``SparseModule._load_from_state_dict`` for
    the whole process: every kernel of a state dict without version-2
    metadata is permuted from mmcv's old layout, so a plain ``dict`` state
    dict of spconv 2 weights (an exported backbone, a converted checkpoint)
    no longer loads into d3l's ``SparseUNet``. d3l keeps mmdet3d's
    conversion for old-layout checkpoints and skips it when the stored
    kernels already have the module's current shapes.
``mmengine_cpu_distributed``
    mmengine 0.10.7 ``init_dist('pytorch')`` calls ``torch.cuda.set_device``,
    which fails on a CPU-only torch. Without CUDA we skip it and use gloo.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import os.path as osp
import pickle
import sys
import types
import warnings
import zipfile
from typing import Callable, Dict, List

from d3l.utils.errors import D3LError

APPLIED: Dict[str, bool] = {}


class UnsafeCheckpointError(D3LError, RuntimeError):
    """A checkpoint's pickle references a global outside the allowlist."""


class CorruptCheckpointError(D3LError, RuntimeError):
    """A checkpoint file is truncated or not a torch checkpoint."""


class MissingCompiledOpError(D3LError, RuntimeError):
    """A compiled mmcv op was used while only mmcv-lite is installed."""


# ----------------------------------------------------------------------------
# post-import hooks
# ----------------------------------------------------------------------------
class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Runs callbacks right after a module (or any module under a prefix) is
    executed, without importing the target library eagerly."""

    def __init__(self):
        self.hooks: Dict[str, List[Callable[[types.ModuleType], None]]] = {}
        self._busy = set()

    def find_spec(self, fullname, path, target=None):
        callbacks = [cb for prefix, cbs in self.hooks.items()
                     if fullname == prefix or fullname.startswith(prefix + '.')
                     for cb in cbs]
        if not callbacks or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_patch(module, _exec=exec_module, _cbs=tuple(callbacks)):
            _exec(module)
            for cb in _cbs:
                cb(module)

        loader.exec_module = exec_and_patch
        return spec


_POST_IMPORT = _PostImportFinder()


def when_imported(prefix: str, callback: Callable[[types.ModuleType], None]):
    """Call ``callback(module)`` for ``prefix`` and every module below it,
    now for those already imported and later for the rest."""
    if _POST_IMPORT not in sys.meta_path:
        sys.meta_path.insert(0, _POST_IMPORT)
    _POST_IMPORT.hooks.setdefault(prefix, []).append(callback)
    for name, module in list(sys.modules.items()):
        if module is not None and (name == prefix or name.startswith(prefix + '.')):
            callback(module)


def _module_importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


# ----------------------------------------------------------------------------
# mmengine checkpoints under torch >= 2.6 (weights_only kept on)
# ----------------------------------------------------------------------------
def mmengine_checkpoint_globals() -> list:
    """The exact globals found in checkpoints that MMEngine 0.10.7 writes:
    message-hub history buffers, numpy scalars/arrays used in log values and
    dataset meta, and plain containers."""
    import collections

    import numpy as np
    from mmengine.logging import HistoryBuffer

    allowed = [HistoryBuffer, collections.OrderedDict, collections.defaultdict,
               np.ndarray, np.dtype, slice]
    core = getattr(np, '_core', None) or np.core
    allowed += [core.multiarray._reconstruct, core.multiarray.scalar]
    for dtype_name in ('Float64DType', 'Float32DType', 'Float16DType',
                       'Int64DType', 'Int32DType', 'Int16DType', 'Int8DType',
                       'UInt64DType', 'UInt32DType', 'UInt16DType', 'UInt8DType',
                       'BoolDType', 'StrDType', 'ObjectDType'):
        dtype_cls = getattr(getattr(np, 'dtypes', None), dtype_name, None)
        if dtype_cls is not None:
            allowed.append(dtype_cls)
    try:
        from mmengine.config import ConfigDict
        allowed.append(ConfigDict)
    except ImportError:  # pragma: no cover - mmengine always has it
        pass
    # HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer,
    # 'min') etc. (pickle protocol 2); allow exactly those lookups.
    allowed += [(_history_buffer_getattr, '__builtin__.getattr'),
                (_history_buffer_getattr, 'builtins.getattr')]
    return allowed


def _history_buffer_getattr(obj, name, *default):
    """``getattr`` restricted to the attributes MMEngine checkpoints look up:
    public methods of ``HistoryBuffer``."""
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(obj, name, *default)
    raise pickle.UnpicklingError(
        f'Unsupported global: getattr({getattr(obj, "__name__", type(obj).__name__)}, '
        f'{name!r}) is not a lookup MMEngine checkpoints make')


def safe_torch_load(filename, map_location=None):
    """``torch.load`` with ``weights_only=True`` and the MMEngine allowlist.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptCheckpointError: the file is truncated or not a checkpoint.
        UnsafeCheckpointError: the pickle needs a global outside the
            allowlist (it could run code), so it is refused.
    """
    import torch

    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    if osp.getsize(filename) == 0:
        raise CorruptCheckpointError(f'checkpoint {filename} is empty (0 bytes)')
    _check_checkpoint_format(filename)
    try:
        with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
        if 'Unsupported global' in message or 'weights_only' in message.lower():
            culprit = ''
            for line in message.splitlines():
                if 'Unsupported global' in line or 'GLOBAL' in line:
                    culprit = line.strip()
                    break
            raise UnsafeCheckpointError(
                f'refusing to load checkpoint {filename}: its pickle references '
                f'a global that is not on d3l\'s allowlist of safe types '
                f'({culprit or message.splitlines()[0]}). Loading it could run '
                'arbitrary code. If you trust the file, convert it to a plain '
                'state_dict in a separate process.') from None
        raise CorruptCheckpointError(
            f'checkpoint {filename} is corrupt: {message.splitlines()[0]}') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CorruptCheckpointError(
            f'checkpoint {filename} is corrupt or truncated '
            f'({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""})'
        ) from None


def _check_checkpoint_format(filename: str) -> None:
    """A file that is neither a zip archive (torch >= 1.6) nor a pickle
    (the legacy format starts with the pickle protocol opcode) is not a
    checkpoint at all; say so instead of torch's "unsafe pickle" message."""
    with open(filename, 'rb') as f:
        head = f.read(2)
    if zipfile.is_zipfile(filename):
        return
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return
    if head == b'PK':
        raise CorruptCheckpointError(f'checkpoint {filename} is corrupt or truncated (a zip '
                                     'archive without its directory: a partial copy?)')
    raise CorruptCheckpointError(
        f'{filename} is not a checkpoint: neither a torch zip archive nor a pickle '
        f'({osp.getsize(filename)} bytes starting with {head!r}); is it the right file, '
        'or a partial download?')


def _patch_checkpoint_loading():
    from mmengine.runner.checkpoint import CheckpointLoader

    def load_from_local(filename, map_location):
        return safe_torch_load(filename, map_location=map_location)

    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    return True


# ----------------------------------------------------------------------------
# mmcv-lite: placeholder compiled extension behind mmcv.ops
# ----------------------------------------------------------------------------
def _mmcv_dir():
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


class _MissingExtension(types.ModuleType):
    """Stands in for ``mmcv._ext``: every op raises when called."""

    _d3l_placeholder = True

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)

        def missing_op(*args, **kwargs):
            raise MissingCompiledOpError(
                f'mmcv op {name!r} needs the compiled ops of full mmcv; only '
                'mmcv-lite is installed. Install full mmcv (see '
                'docs/installation.md, "GPU install") to use it.')

        missing_op.__name__ = name
        return missing_op


def _patch_ext_loader(module):
    if module.__name__ != 'mmcv.utils.ext_loader':
        return
    original = module.load_ext
    if getattr(original, '_d3l_patched', False):
        return

    def load_ext(name, funcs):
        try:
            return original(name, funcs)
        except ModuleNotFoundError:
            return _MissingExtension(f'mmcv.{name}')

    load_ext._d3l_patched = True
    module.load_ext = load_ext


def _install_mmcv_ops_placeholder():
    mmcv_dir = _mmcv_dir()
    if mmcv_dir is None or not osp.isdir(mmcv_dir):
        return False
    if any(name.startswith('_ext') for name in os.listdir(mmcv_dir)):
        return False  # full mmcv: the real ops work
    when_imported('mmcv.utils.ext_loader', _patch_ext_loader)
    return True


# ----------------------------------------------------------------------------
# spconv without CUDA
# ----------------------------------------------------------------------------
def _cpu_current_stream():
    import torch
    if torch.cuda.is_available():
        return torch.cuda.current_stream().cuda_stream
    return 0


def _patch_spconv_module(module):
    current = getattr(module, 'get_current_stream', None)
    if current is not None and current is not _cpu_current_stream:
        module.get_current_stream = _cpu_current_stream


def _install_spconv_patch():
    if not _module_importable('spconv'):
        return False
    if _cuda_available():
        return False
    when_imported('spconv', _patch_spconv_module)
    return True


#: the compute ops of spconv.pytorch.ops (spconv 2.3.8); functional.py,
#: conv.py and pool.py call them as ``ops.<name>``, so wrapping the module
#: attributes covers forward and backward
SPCONV_CPU_OPS = (
    'get_indice_pairs', 'get_indice_pairs_implicit_gemm', 'indice_conv',
    'indice_conv_backward', 'fused_indice_conv', 'implicit_gemm', 'implicit_gemm_backward',
    'indice_maxpool', 'indice_maxpool_backward', 'indice_maxpool_implicit_gemm',
    'indice_maxpool_implicit_gemm_backward', 'indice_avgpool_implicit_gemm',
    'indice_avgpool_implicit_gemm_backward', 'global_pool_rearrange')


def _first_tensor_on_cpu(args, kwargs) -> bool:
    import torch
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device.type == 'cpu'
    return False


def _single_threaded_on_cpu(function):
    import functools

    import torch

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads == 1 or not _first_tensor_on_cpu(args, kwargs):
            return function(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    wrapper._d3l_single_threaded = True
    return wrapper


def _patch_spconv_ops(module):
    for name in SPCONV_CPU_OPS:
        function = getattr(module, name, None)
        if callable(function) and not getattr(function, '_d3l_single_threaded', False):
            setattr(module, name, _single_threaded_on_cpu(function))


def _install_spconv_thread_patch():
    if not _module_importable('spconv'):
        return False
    when_imported('spconv.pytorch.ops', _patch_spconv_ops)
    return True


# ----------------------------------------------------------------------------
# ocnn without torchvision
# ----------------------------------------------------------------------------
def _torchvision_loads() -> bool:
    if not _module_importable('torchvision'):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            import torchvision  # noqa: F401
            return True
        except Exception:  # the CUDA wheel fails with RuntimeError/OSError
            sys.modules.pop('torchvision', None)
            return False


def _install_ocnn_patch():
    if not _module_importable('ocnn'):
        return False
    name = 'ocnn.models.image2shape'
    if name in sys.modules or _torchvision_loads():
        return False
    placeholder = types.ModuleType(name)
    placeholder.__doc__ = 'd3l placeholder: torchvision could not be imported.'

    class Image2Shape:
        def __init__(self, *args, **kwargs):
            raise ImportError(
                'ocnn.models.Image2Shape needs torchvision, which could not be '
                'imported beside this torch build; every other ocnn model works.')

    Image2Shape.__module__ = name
    placeholder.Image2Shape = Image2Shape
    placeholder._d3l_placeholder = True
    sys.modules[name] = placeholder
    return True


# ----------------------------------------------------------------------------
# mmengine distributed init on a CPU-only torch
# ----------------------------------------------------------------------------
def _patch_mmengine_cpu_dist():
    if _cuda_available():
        return False
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils

    original = dist_utils._init_dist_pytorch
    if getattr(original, '_d3l_patched', False):
        return True

    def _init_dist_pytorch(backend='gloo', init_backend='torch', **kwargs):
        if backend in ('nccl', None):
            backend = 'gloo'
        if init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch._d3l_patched = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch
    return True


# ----------------------------------------------------------------------------
# mmdet3d's process-wide spconv state-dict override
# ----------------------------------------------------------------------------
_MMDET3D_SPCONV = 'mmdet3d.models.layers.spconv.overwrite_spconv.write_spconv2'


def _stored_in_current_layout(module, state_dict, prefix) -> bool:
    present = [(state_dict[prefix + name].shape, param.shape)
               for name, param in module._parameters.items()
               if param is not None and prefix + name in state_dict and param.dim() > 1]
    return bool(present) and all(tuple(a) == tuple(b) for a, b in present)


def _patch_mmdet3d_spconv_loader(module):
    if module.__name__ != _MMDET3D_SPCONV:
        return
    original = module._load_from_state_dict
    if getattr(original, '_d3l_patched', False):
        return

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        if local_metadata.get('version') is None and _stored_in_current_layout(
                self, state_dict, prefix):
            local_metadata = dict(local_metadata, version=2)
        return original(self, state_dict, prefix, local_metadata, strict, missing_keys,
                        unexpected_keys, error_msgs)

    _load_from_state_dict._d3l_patched = True
    module._load_from_state_dict = _load_from_state_dict
    # mmdet3d imported before d3l: its override is already installed
    sparse_module = getattr(sys.modules.get('spconv.pytorch.modules'), 'SparseModule', None)
    if sparse_module is not None and sparse_module._load_from_state_dict is original:
        sparse_module._load_from_state_dict = _load_from_state_dict


def _install_mmdet3d_spconv_patch():
    if not (_module_importable('mmdet3d') and _module_importable('spconv')):
        return False
    when_imported(_MMDET3D_SPCONV, _patch_mmdet3d_spconv_loader)
    return True


PATCHES = {
    'mmcv_ops_placeholder': _install_mmcv_ops_placeholder,
    'ocnn_without_torchvision': _install_ocnn_patch,
    'spconv_cpu_stream': _install_spconv_patch,
    'spconv_cpu_single_thread': _install_spconv_thread_patch,
    'mmdet3d_spconv_state_dict': _install_mmdet3d_spconv_patch,
    'checkpoint_loading': _patch_checkpoint_loading,
    'mmengine_cpu_distributed': _patch_mmengine_cpu_dist,
}


def apply_all() -> Dict[str, bool]:
    """Apply every needed patch once; returns ``{name: active}``."""
    if os.environ.get('D3L_NO_COMPAT') == '1':
        return APPLIED
    for name, patch in PATCHES.items():
        if name not in APPLIED:
            APPLIED[name] = bool(patch())
    return APPLIED
