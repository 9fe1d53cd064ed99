from .depth_image import depth_edge_mask, point_grid, valid_depth
from .lifting import (
                      check_intrinsics,
                      equirect_angles,
                      equirect_rays,
                      lift_equirect,
                      lift_perspective,
                      lift_rgbd,
                      perspective_rays,
                      project_equirect,
                      project_perspective,
)
from .normals import depth_normals
from .transforms import apply_rigid, bounding_box, check_rigid, euler_to_matrix, rotation_matrix
from .voxel import grid_sample_indices, voxel_keys

__all__ = ['lift_perspective', 'lift_equirect', 'lift_rgbd', 'equirect_angles',
           'grid_sample_indices', 'voxel_keys', 'perspective_rays', 'equirect_rays',
           'project_perspective',
           'project_equirect', 'check_intrinsics', 'depth_normals', 'depth_edge_mask',
           'point_grid', 'valid_depth', 'rotation_matrix', 'euler_to_matrix', 'check_rigid',
           'apply_rigid', 'bounding_box']
