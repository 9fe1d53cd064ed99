"""Voxel-grid sampling: the fast 1D-key path equals np.unique over rows."""
import numpy as np
import pytest

from d3l.geometry import grid_sample_indices, voxel_keys


def _reference(points, grid_size):
    keys = voxel_keys(points, grid_size)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind='stable')
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order[starts], inverse


@pytest.mark.parametrize('scale', [5.0, 1e15])  # 1e15 m / 2 cm overflows 63-bit keys
def test_grid_sample_matches_row_unique(scale):
    rng = np.random.default_rng(0)
    points = rng.random((3000, 3)) * scale - scale / 3
    points[1000:1100] = points[:100]  # duplicates share voxels
    keep, inverse = grid_sample_indices(points, 0.02, 'test')
    ref_keep, ref_inverse = _reference(points, 0.02)
    np.testing.assert_array_equal(keep, ref_keep)
    np.testing.assert_array_equal(inverse, ref_inverse)
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
