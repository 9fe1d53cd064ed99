"""Fusion of a 2D teacher's per-frame soft labels onto reconstructed scenes
(``tools/fuse_soft_labels.py``, ``docs/fusion.md``)."""
from .accumulate import ViewAccumulator
from .fuser import SoftLabelFuser
from .projection import (
    ABS_TOLERANCE,
    REL_TOLERANCE,
    FusionError,
    check_camera,
    project,
    visible_vertices,
)
from .run import fusion_manifest, run_fusion
from .store import FusedLabelStore, FusedShardWriter, scene_grid

__all__ = ['ViewAccumulator', 'SoftLabelFuser', 'ABS_TOLERANCE', 'REL_TOLERANCE', 'FusionError',
           'check_camera', 'project', 'visible_vertices', 'fusion_manifest', 'run_fusion',
           'FusedLabelStore', 'FusedShardWriter', 'scene_grid']
