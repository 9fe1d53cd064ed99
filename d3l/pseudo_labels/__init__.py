"""Deprecated alias, kept for one release (until d3l 0.2): the 2D teacher's
soft-label store is :mod:`d3l.soft_labels`. ``import d3l.pseudo_labels.X``
still gives the module ``d3l.soft_labels.X`` itself (same objects)."""
import importlib
import pkgutil
import sys
import warnings

import d3l.soft_labels as _moved
from d3l.soft_labels import *  # noqa: F401,F403
from d3l.soft_labels import __all__  # noqa: F401

warnings.warn('d3l.pseudo_labels is deprecated and will be removed in the next release: the '
              'soft-label store is d3l.soft_labels', DeprecationWarning, stacklevel=2)

# every submodule under its old name too: the modules are small and
# numpy-only, and one object per module keeps isinstance checks working
for _info in pkgutil.iter_modules(_moved.__path__):
    sys.modules[f'{__name__}.{_info.name}'] = importlib.import_module(
        f'{_moved.__name__}.{_info.name}')
