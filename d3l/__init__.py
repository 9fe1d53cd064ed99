"""d3l: data-efficient 3D learning through knowledge transferred from 2D models."""
from .utils import compat as _compat
from .version import __version__

_compat.apply_all()

__all__ = ['__version__']
