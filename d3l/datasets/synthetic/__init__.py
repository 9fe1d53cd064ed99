"""Deprecated location (before issue 15) of the synthetic world, kept for one
release: the world is :mod:`d3l.benchmark.world`, the primitive-shape dataset
:mod:`d3l.datasets.synthetic_shapes`. ``d3l.datasets`` does not import this
module."""
import warnings

from d3l.benchmark.world import *  # noqa: F401,F403
from d3l.benchmark.world import __all__ as _world_all
from d3l.datasets.synthetic_shapes import SHAPES, SyntheticShapesDataset, sample_shape

warnings.warn('d3l.datasets.synthetic moved to d3l.benchmark.world (the world) and '
              'd3l.datasets.synthetic_shapes (SyntheticShapesDataset); the old name goes '
              'in the next release', DeprecationWarning, stacklevel=2)

__all__ = [*_world_all, 'SyntheticShapesDataset', 'sample_shape', 'SHAPES']
