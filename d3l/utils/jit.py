"""Numba kernels for the hot loops, with NumPy / torch fallbacks when numba
is missing (it comes with the dev and mmdet3d installs; the callers'
fallbacks give the same results). Numba's import alone takes ~0.5 s, so
nothing here imports it before a kernel is needed: :func:`lazy_njit`
compiles a kernel on its first call; :func:`njit_now` compiles at
definition, for kernels that other kernels call (numba must see their
callees compiled), in modules imported on first use."""
import functools
from typing import Callable, Dict, Optional

_COMPILED: Dict[Callable, Optional[Callable]] = {}


@functools.cache
def _numba():
    try:
        import numba
    except ImportError:  # pragma: no cover - the callers' fallbacks run instead
        return None
    return numba


def have_numba() -> bool:
    """Whether numba is installed (imports it)."""
    return _numba() is not None


def njit_now(kernel: Callable) -> Callable:
    """``numba.njit(cache=True, nogil=True)(kernel)`` now (the on-disk cache
    sits beside the kernel's module), or ``kernel`` itself without numba."""
    numba = _numba()
    return kernel if numba is None else numba.njit(cache=True, nogil=True)(kernel)


def lazy_njit(kernel: Callable) -> Optional[Callable]:
    """``numba.njit(cache=True, nogil=True)(kernel)``, built on the first
    call and kept (the on-disk cache sits beside the kernel's module), or
    None without numba."""
    if kernel not in _COMPILED:
        _COMPILED[kernel] = njit_now(kernel) if have_numba() else None
    return _COMPILED[kernel]
