"""Voxel-grid sampling: the fast 1D-key, one-sort path equals np.unique over
rows followed by a stable argsort (the implementation before issue 16)."""
import numpy as np
import pytest

from d3l.geometry import bounding_box, grid_sample_indices, voxel_keys


def row_unique_reference(points, grid_size, rng=None):
    """np.unique over the key rows and a stable argsort (before issue 16)."""
    keys = voxel_keys(points, grid_size)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind='stable')
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if rng is not None:  # train mode: the same draws, one per voxel in voxel order
        starts = starts + (rng.random(len(counts)) * counts).astype(np.int64)
    return order[starts], inverse


# 5 m: packed sort; 2e4 m: keys too large to pack the position (stable argsort);
# 1e15 m / 2 cm overflows 63-bit keys (row-unique ranks)
@pytest.mark.parametrize('scale', [5.0, 2e4, 1e15])
def test_grid_sample_matches_row_unique(scale):
    rng = np.random.default_rng(0)
    points = rng.random((3000, 3)) * scale - scale / 3
    points[1000:1100] = points[:100]  # duplicates share voxels
    points[2000:2900] = points[2000] + rng.random((900, 3)) * 0.1  # crowded voxels
    keep, inverse = grid_sample_indices(points, 0.02, 'test')
    ref_keep, ref_inverse = row_unique_reference(points, 0.02)
    np.testing.assert_array_equal(keep, ref_keep)
    np.testing.assert_array_equal(inverse, ref_inverse)
    keep, inverse = grid_sample_indices(points, 0.02, 'train', np.random.default_rng(7))
    ref_keep, ref_inverse = row_unique_reference(points, 0.02, np.random.default_rng(7))
    np.testing.assert_array_equal(keep, ref_keep)
    np.testing.assert_array_equal(inverse, ref_inverse)
    assert keep.dtype == inverse.dtype == np.int64
    np.testing.assert_array_equal(voxel_keys(points[keep][inverse], 0.02),
                                  voxel_keys(points, 0.02))


def test_train_mode_keeps_one_random_point_per_voxel():
    points = np.array([[0.001, 0, 0], [0.002, 0, 0], [0.5, 0, 0]])
    seen = set()
    for seed in range(20):
        keep, inverse = grid_sample_indices(points, 0.1, 'train', np.random.default_rng(seed))
        assert len(keep) == 2 and keep[1] == 2 and inverse.tolist() == [0, 0, 1]
        seen.add(int(keep[0]))
    assert seen == {0, 1}


def test_empty_cloud_and_bounding_box():
    keep, inverse = grid_sample_indices(np.zeros((0, 3)), 0.02, 'train')
    assert keep.shape == inverse.shape == (0,)
    rng = np.random.default_rng(1)
    points = rng.normal(size=(1000, 3)).astype(np.float32)
    lo, hi = bounding_box(points)
    np.testing.assert_array_equal(lo, points.min(0))
    np.testing.assert_array_equal(hi, points.max(0))
    assert lo.dtype == np.float32
    with pytest.raises(ValueError, match='non-empty'):
        bounding_box(np.zeros((0, 3)))


@pytest.mark.parametrize('scale', [1.0, 1e7])  # 1e7: the grid outgrows 63 bits (np.unique)
def test_column_keys_and_skipped_inverse_change_nothing(scale):
    from d3l.geometry.voxel import _linear_keys, _point_linear_keys
    rng = np.random.default_rng(5)
    points = (rng.normal(size=(20000, 3)) * scale).astype(np.float32)
    np.testing.assert_array_equal(_point_linear_keys(points, 0.02),
                                  _linear_keys(voxel_keys(points, 0.02)))
    for mode in ('test', 'train'):
        keep, inverse = grid_sample_indices(points, 0.02, mode, np.random.default_rng(1))
        fast, none = grid_sample_indices(points, 0.02, mode, np.random.default_rng(1),
                                         return_inverse=False)
        np.testing.assert_array_equal(fast, keep)
        assert none is None and inverse is not None
