from .point_batch import PointBatch, concat_targets
from .point_octree import NORMALIZE_MODES, PointOctree, normalize_to_unit_cube
from .voxel_grid import VoxelGrid

__all__ = ['PointBatch', 'concat_targets', 'VoxelGrid', 'PointOctree', 'normalize_to_unit_cube',
           'NORMALIZE_MODES']
