"""Registered datasets, samplers, collate functions (and, via .transforms,
the transforms)."""
from . import transforms  # noqa: F401
from .collate import point_collate
from .synthetic import SyntheticShapesDataset

__all__ = ['point_collate', 'SyntheticShapesDataset']
