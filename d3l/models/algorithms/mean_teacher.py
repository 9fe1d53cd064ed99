"""Deprecated names, kept for one release (until d3l 0.2): the wrapper
``SemiSupervised`` is now :class:`~.mean_teacher_entmin.MeanTeacherEntMin`,
a name that says it does both mean teacher and entropy minimisation."""
from __future__ import annotations

import warnings

from d3l.registry import MODELS

from .mean_teacher_entmin import MeanTeacherEntMin, match_views

__all__ = ['SemiSupervised', 'match_views']

_RENAMED = ("'SemiSupervised' is deprecated and will be removed in the next release: the wrapper "
            "is now 'MeanTeacherEntMin' (same arguments, same checkpoints); use "
            "type='MeanTeacherEntMin'")


@MODELS.register_module()
class SemiSupervised(MeanTeacherEntMin):
    """Deprecated alias of :class:`MeanTeacherEntMin`: same arguments, same
    state dict, with a warning."""

    def __init__(self, *args, **kwargs):
        # FutureWarning, not DeprecationWarning: the name is written in users'
        # configs, and Python hides DeprecationWarning outside __main__
        warnings.warn(_RENAMED, FutureWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
