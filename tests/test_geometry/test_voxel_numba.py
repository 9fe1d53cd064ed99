"""Grid sampling's numba path (keys, runs of consecutive points in one voxel,
LSD radix sort of the runs: O(N) passes) gives
the indices of the NumPy path and of the row-unique reference (the
implementation before issue 16), on the real frames and on edge cases, and
draws the same random numbers."""
import numpy as np
import pytest
from conftest import realdata_path
from PIL import Image
from test_voxel import row_unique_reference as _reference

from d3l.geometry import grid_sample_indices, lift_equirect, lift_perspective, voxel

pytest.importorskip('numba')


def _both_paths(points, grid_size, mode, seed, return_inverse, monkeypatch):
    out = []
    for use_numba in (True, False):
        monkeypatch.setattr(voxel, 'USE_NUMBA', use_numba)
        rng = None if seed is None else np.random.default_rng(seed)
        out.append(grid_sample_indices(points, grid_size, mode, rng, return_inverse))
    monkeypatch.setattr(voxel, 'USE_NUMBA', True)
    return out


def _assert_same(points, grid_size, monkeypatch, reference=True):
    for mode, seed in (('test', None), ('train', 5)):
        for return_inverse in (False, True):  # the inverse of the last one is compared below
            (keep, inverse), (np_keep, np_inverse) = _both_paths(
                points, grid_size, mode, seed, return_inverse, monkeypatch)
            np.testing.assert_array_equal(keep, np_keep)
            assert keep.dtype == np.int64
            if return_inverse:
                np.testing.assert_array_equal(inverse, np_inverse)
            else:
                assert inverse is None and np_inverse is None
        if reference:
            ref_keep, ref_inverse = _reference(
                points, grid_size, None if seed is None else np.random.default_rng(seed))
            np.testing.assert_array_equal(keep, ref_keep)
            np.testing.assert_array_equal(np_inverse, ref_inverse)


def _real_clouds():
    pano = np.asarray(Image.open(realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')),
                      np.uint16).astype(np.float32) / 1000
    prime = np.asarray(Image.open(realdata_path('open3d_rgbd', 'depth', '00000.png')),
                       np.uint16).astype(np.float32) / 1000
    sun = np.asarray(Image.open(realdata_path('sunrgbd_rgbd', 'depth_mm_derived', '000001.png')),
                     np.uint16).astype(np.float32) / 1000
    with open(realdata_path('sunrgbd_rgbd', 'calib', '000001.txt')) as f:
        rtilt, K = (np.array(line.split(), float).reshape(3, 3).T for line in f)
    prime_K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])
    return {'panorama': lift_equirect(pano)[0], 'primesense': lift_perspective(prime, prime_K)[0],
            'sunrgbd': (lift_perspective(sun, K)[0] @ rtilt.T.astype(np.float32))}


def test_real_frames_match_numpy_path_and_reference(monkeypatch):
    for name, points in _real_clouds().items():
        assert points.dtype == np.float32 and len(points) > 100_000, name
        assert voxel._sorted_voxels_numba(points, 0.02, False) is not None
        for grid_size in (0.02, 0.05):
            _assert_same(points, grid_size, monkeypatch)


def test_same_global_random_stream(monkeypatch):
    """Without ``rng`` both paths draw one number per voxel from numpy's
    global generator: the same points, and the stream continues alike."""
    points = np.random.default_rng(0).random((5000, 3)).astype(np.float32)
    after = []
    for use_numba in (True, False):
        monkeypatch.setattr(voxel, 'USE_NUMBA', use_numba)
        np.random.seed(11)
        keep, _ = grid_sample_indices(points, 0.05, 'train', None, False)
        after.append((keep, np.random.random()))
    np.testing.assert_array_equal(after[0][0], after[1][0])
    assert after[0][1] == after[1][1]


@pytest.mark.parametrize('case', ['duplicates', 'negative', 'float64', 'one_point', 'one_voxel',
                                  'on_boundaries', 'wide', 'many_digit_keys', 'long_run',
                                  'capped_runs'])
def test_edge_cases(case, monkeypatch):
    rng = np.random.default_rng(3)
    points = rng.random((4000, 3)).astype(np.float32) * 3
    if case == 'duplicates':
        points[1000:2000] = points[:1000]
        points[2000:3000] = points[2000] + rng.random((1000, 3)).astype(np.float32) * 0.03
    elif case == 'negative':
        points -= 7.5
    elif case == 'float64':
        points = points.astype(np.float64) - 1.0
    elif case == 'one_point':
        points = points[:1]
    elif case == 'one_voxel':
        points = np.full((50, 3), 0.011, np.float32)
    elif case == 'on_boundaries':  # exact multiples of the grid: floor decides
        points = (rng.integers(-50, 50, (4000, 3)) * 0.02).astype(np.float64)
    elif case == 'wide':  # 900 m: 47 key bits, four radix passes
        points = points * 300
    elif case == 'many_digit_keys':  # 49 key bits: four 13-bit digits
        points = np.concatenate([points, [[5000.0, 4000.0, 150.0]]]).astype(np.float32)
    elif case == 'long_run':  # 70k consecutive points in one voxel: runs of 2 ** 16 - 1 at most
        points = np.concatenate([points[:2000], np.full((70000, 3), 0.011, np.float32),
                                 points[2000:]])
    elif case == 'capped_runs':  # 49 key bits + 12 position bits leave 1 bit: runs of 1
        points[500:1500] = points[500]
        points[2000:2600:2] = points[2001:2600:2] = points[2000]
        points = np.concatenate([points, [[5000.0, 4000.0, 150.0]]]).astype(np.float32)
    runs = voxel._sorted_voxels_numba(points, 0.02, False)
    assert runs is not None  # the numba path
    if case == 'capped_runs':
        assert runs.len_bits == 1 and len(runs.packed) == len(points)  # every run 1 point
    if case == 'long_run':  # the 70k-point voxel is split into two runs
        assert runs.len_bits == 16 and runs.counts.max() == 70000
        assert len(runs.packed) < len(points) - 69000
    _assert_same(points, 0.02, monkeypatch)


def test_fallbacks_to_numpy(monkeypatch):
    """Keys too large to pack, non-finite coordinates and integer points go
    to the NumPy path: same answers, no error from the kernel."""
    rng = np.random.default_rng(4)
    huge = rng.random((3000, 3)) * 1e15
    assert voxel._sorted_voxels_numba(huge, 0.02, True) is None
    _assert_same(huge, 0.02, monkeypatch)
    packed_too_wide = rng.random((3000, 3)) * 2e4  # 62-bit budget exceeded with the position
    assert voxel._sorted_voxels_numba(packed_too_wide, 0.02, True) is None
    _assert_same(packed_too_wide, 0.02, monkeypatch)
    nan = rng.random((100, 3)).astype(np.float32)
    nan[5, 1] = np.nan
    assert voxel._sorted_voxels_numba(nan, 0.02, True) is None
    integers = rng.integers(0, 100, (500, 3))
    assert voxel._sorted_voxels_numba(integers, 1.0, True) is None
    _assert_same(integers, 1.0, monkeypatch)
    keep, inverse = grid_sample_indices(np.zeros((0, 3), np.float32), 0.02, 'train')
    assert keep.shape == inverse.shape == (0,)
    with pytest.raises(ValueError, match='grid_size'):
        grid_sample_indices(np.zeros((3, 3), np.float32), 0.0)
