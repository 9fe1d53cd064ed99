"""Registered datasets, samplers, collate functions (and, via .transforms,
the transforms). Data loaders only: the synthetic world that the embedded
benchmark generates lives in :mod:`d3l.benchmark.world` and is not imported
here (``build_synthetic_world`` below imports it on first use)."""
from . import transforms  # noqa: F401
from .collate import point_collate
from .fused_scene import FusedSceneDataset  # noqa: F401
from .modelnet import ModelNet40Dataset  # noqa: F401
from .pretrain import LoadSoftLabels, PretrainRGBDDataset  # noqa: F401
from .rgbd import *  # noqa: F401,F403
from .scannet import ScanNetDataset  # noqa: F401
from .semi import PseudoLabelDataset, SemiDataset, SemiSampler  # noqa: F401
from .shapenet_part import ShapeNetPartDataset  # noqa: F401
from .synthetic_shapes import SyntheticShapesDataset

__all__ = ['point_collate', 'SyntheticShapesDataset']


def __getattr__(name):
    # d3l.datasets.build_synthetic_world was public before issue 15; the world
    # generator (2.8k lines) loads only when it is asked for
    if name == 'build_synthetic_world':
        from d3l.benchmark.world import build_world
        return build_world
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
