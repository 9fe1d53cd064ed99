from .lifting import equirect_angles, lift_equirect, lift_perspective
from .voxel import grid_sample_indices, voxel_keys

__all__ = ['lift_perspective', 'lift_equirect', 'equirect_angles', 'grid_sample_indices',
           'voxel_keys']
