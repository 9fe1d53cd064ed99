"""Registered datasets, samplers, collate functions (and, via .transforms,
the transforms)."""
from . import transforms  # noqa: F401
from .collate import point_collate
from .fused_scene import FusedSceneDataset  # noqa: F401
from .modelnet import ModelNet40Dataset  # noqa: F401
from .pretrain import LoadSoftLabels, PretrainRGBDDataset  # noqa: F401
from .rgbd import *  # noqa: F401,F403
from .scannet import ScanNetDataset  # noqa: F401
from .semi import PseudoLabelDataset, SemiDataset, SemiSampler  # noqa: F401
from .shapenet_part import ShapeNetPartDataset  # noqa: F401
from .synthetic import SyntheticShapesDataset
from .synthetic import build_world as build_synthetic_world  # noqa: F401

__all__ = ['point_collate', 'SyntheticShapesDataset']
