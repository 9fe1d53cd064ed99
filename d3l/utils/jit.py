"""Numba kernels compiled on first use, not at import (numba's import alone
takes ~0.5 s): :func:`lazy_njit`. Numba comes with the dev and mmdet3d
installs; without it the callers take their NumPy / torch paths, which give
the same results."""
from typing import Callable, Dict, Optional

_COMPILED: Dict[Callable, Optional[Callable]] = {}


def lazy_njit(kernel: Callable) -> Optional[Callable]:
    """``numba.njit(cache=True, nogil=True)(kernel)``, built on the first
    call and kept (the on-disk cache sits beside the kernel's module), or
    None without numba."""
    if kernel not in _COMPILED:
        try:
            import numba
        except ImportError:  # pragma: no cover - the callers' fallbacks run instead
            _COMPILED[kernel] = None
        else:
            _COMPILED[kernel] = numba.njit(cache=True, nogil=True)(kernel)
    return _COMPILED[kernel]
