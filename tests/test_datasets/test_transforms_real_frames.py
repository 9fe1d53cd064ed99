"""The faster stages of the pre-training data path (issue 16) against their
references, on the real samples of ../shared/realdata (SUN RGB-D with its
Rtilt, PrimeSense, the HoHoNet panorama).

Stated tolerances (docs/data_path_speed.md):
- ``DepthNormals`` after ``GridSample``: bit-identical to the normals
  ``LiftRGBD(with_normals=True)`` gives the same points;
- ``RandomRotate`` / ``RandomScale`` in float32: within 1e-6 of the cloud's
  extent of the float64 formula (the previous code);
- ``ElasticDistortion``'s interpolation (torch ``grid_sample``, float64):
  within 1e-12 of ``scipy.ndimage.map_coordinates`` (the previous code);
- the bounding-box centres and crops (``RandomFlip``, ``FitToCube``,
  ``LimitPoints``, ``ChromaticAutoContrast``): identical to ``min(0)`` /
  ``max(0)`` and the (N, 3) distance sums of the previous code.
"""
import os
import resource

import numpy as np
import pytest
from conftest import realdata_path
from PIL import Image
from scipy import ndimage

from d3l.datasets.rgbd.sunrgbd import sunrgbd_cam2world
from d3l.datasets.transforms import (
    ChromaticAutoContrast,
    DepthNormals,
    FilterDepthEdges,
    GridSample,
    LiftRGBD,
    LimitPoints,
    RandomFlip,
    RandomRotate,
    RandomScale,
)
from d3l.datasets.transforms.augmentation import FitToCube
from d3l.datasets.transforms.utils import retain_freed_memory
from d3l.geometry import interpolation

FRAMES = ['sunrgbd', 'primesense', 'panorama']


def _frame(name):
    """A real frame as LoadRGBD leaves it (depth in metres, uint8 colour)."""
    if name == 'sunrgbd':
        depth = realdata_path('sunrgbd_rgbd', 'depth_mm_derived', '000001.png')
        color = realdata_path('sunrgbd_rgbd', 'image', '000001.jpg')
        with open(realdata_path('sunrgbd_rgbd', 'calib', '000001.txt')) as f:
            rtilt, K = (np.array(line.split(), float).reshape(3, 3).T for line in f)
        K[:2, 2] -= 1  # MATLAB's 1-based pixel centres
        extra = dict(intrinsics=K, cam2world=sunrgbd_cam2world(rtilt))
    elif name == 'primesense':
        depth = realdata_path('open3d_rgbd', 'depth', '00000.png')
        color = realdata_path('open3d_rgbd', 'color', '00000.jpg')
        extra = dict(intrinsics=np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]]))
    else:
        depth = realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')
        color = realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.png')
        extra = dict(projection='equirect')
    results = dict(depth=np.asarray(Image.open(depth), np.uint16).astype(np.float32) / 1000,
                   img=np.asarray(Image.open(color).convert('RGB')), frame_id=name, **extra)
    results.setdefault('projection', 'perspective')
    return FilterDepthEdges()(results)


def _lifted(name, **kwargs):
    return LiftRGBD(max_depth=10.0, **kwargs)(_frame(name))


@pytest.mark.parametrize('name', FRAMES)
@pytest.mark.parametrize('method', ['pca', 'cross'])
def test_normals_after_grid_sampling_are_those_of_lifting(name, method):
    reference = GridSample(0.02, mode='train', seed=4)(_lifted(name, normal_method=method))
    fast = GridSample(0.02, mode='train', seed=4)(_lifted(name, with_normals=False))
    assert 'normals' not in fast and len(fast['points']) < 0.5 * len(_lifted(name)['points'])
    fast = DepthNormals(normal_method=method)(fast)
    np.testing.assert_array_equal(fast['pixel_index'], reference['pixel_index'])
    np.testing.assert_array_equal(fast['points'], reference['points'])
    np.testing.assert_array_equal(fast['normals'], reference['normals'])
    assert fast['normals'].dtype == np.float32


def test_depth_normals_refuses_augmented_or_unlifted_samples():
    lifted = _lifted('primesense', with_normals=False)
    with pytest.raises(KeyError, match='LiftRGBD'):
        DepthNormals()(dict(points=lifted['points'], pixel_index=lifted['pixel_index']))
    turned = RandomRotate(seed=0)(dict(lifted))
    with pytest.raises(ValueError, match='before the augmentations'):
        DepthNormals()(turned)
    lifted['pixel_index'] = lifted['pixel_index'][:-1]
    with pytest.raises(ValueError, match='pixel indices'):
        DepthNormals()(lifted)


@pytest.mark.parametrize('name', FRAMES)
def test_float32_rotation_and_scale_match_the_float64_formula(name):
    sample = _lifted(name)
    points = sample['points']
    extent = float(np.max(points.max(0) - points.min(0)))
    center = (points.min(0).astype(np.float64) + points.max(0)) / 2  # the previous code's
    turned = RandomRotate(seed=1)(dict(sample))
    rotation = turned['rotation']
    expected = (points.astype(np.float64) - center) @ rotation.T + center
    assert turned['points'].dtype == np.float32
    assert np.abs(turned['points'] - expected).max() < 1e-6 * extent
    np.testing.assert_allclose(turned['normals'], sample['normals'] @ rotation.T, atol=1e-6)
    scaled = RandomScale(seed=2, anisotropic=True)(dict(sample))
    factor = scaled['scale_factor'].astype(np.float64)
    expected = (points.astype(np.float64) - center) * factor + center
    assert np.abs(scaled['points'] - expected).max() < 1e-6 * extent
    assert not np.allclose(factor, 1)


@pytest.mark.parametrize('use_numba', [True, False])
def test_elastic_interpolation_matches_map_coordinates(use_numba, monkeypatch):
    monkeypatch.setattr(interpolation, 'USE_NUMBA', use_numba)
    rng = np.random.default_rng(0)
    for shape in ((3, 3, 3, 3), (12, 9, 5, 3), (40, 30, 8, 3), (2, 5, 1, 2)):
        field = ndimage.uniform_filter1d(rng.standard_normal(shape), 3, axis=0)
        coords = rng.uniform(-0.5, np.array(shape[:3]) - 0.5, (5000, 3))  # beyond the edges too
        coords[:8] = np.array(shape[:3]) - 1  # the last node exactly
        coords[8:16] = 0
        expected = np.stack([ndimage.map_coordinates(field[..., c], coords.T, order=1,
                                                     mode='nearest')
                             for c in range(shape[3])], 1)
        np.testing.assert_allclose(interpolation.trilinear(field, coords), expected, rtol=0,
                                   atol=1e-12)
    if use_numba:
        pytest.importorskip('numba')
        assert interpolation._compiled_kernel() is not None


@pytest.mark.parametrize('name', FRAMES)
def test_box_centres_and_crops_match_the_previous_formulas(name):
    sample = _lifted(name)
    points = sample['points']
    lo, hi = points.min(0), points.max(0)
    flipped = RandomFlip(axes=('x', 'y', 'z'), flip_prob=1.0, seed=0)(dict(sample))
    expected = points.copy()
    for i in range(3):
        expected[:, i] = 2 * ((lo + hi) / 2.0)[i] - points[:, i]
    np.testing.assert_array_equal(flipped['points'], expected)
    cropped = FitToCube(size=3.0, seed=5)(dict(sample))
    lo64, hi64 = lo.astype(np.float64), hi.astype(np.float64)
    origin = lo64.copy()
    rng = np.random.default_rng(5)
    for axis in np.flatnonzero(hi64 - lo64 > 3.0):
        origin[axis] = rng.uniform(lo64[axis], hi64[axis] - 3.0)
    inside = np.all((points >= origin - 1e-6) & (points <= origin + 3.0 + 1e-6), axis=1)
    np.testing.assert_array_equal(cropped['points'], points[inside])
    limited = LimitPoints(max_points=len(points) // 3, mode='center')(dict(sample))
    center = (lo.astype(np.float64) + hi) / 2
    dist = np.sum((points - center) ** 2, axis=1)
    keep = np.sort(np.argpartition(dist, len(points) // 3 - 1)[:len(points) // 3])
    np.testing.assert_array_equal(limited['points'], points[keep])
    colors = sample['colors']
    contrast = ChromaticAutoContrast(prob=1.0, blend_factor=0.3)(dict(sample))['colors']
    c_lo, c_hi = colors.min(0), colors.max(0)
    span = c_hi - c_lo
    expected = np.where(span > 1e-6, (colors - c_lo) * np.where(span > 1e-6, 1.0 / span, 1.0),
                        colors)
    np.testing.assert_array_equal(contrast, np.clip(0.7 * colors + 0.3 * expected, 0, 1
                                                    ).astype(np.float32))


def _minor_faults(size):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = np.ones(size, np.uint8)  # touches every page
    del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not os.uname().sysname == 'Linux', reason='glibc tuning')
def test_freed_sample_memory_is_reused_without_page_faults():
    retain_freed_memory()
    retain_freed_memory()  # once per process: a second call changes nothing
    size = 24 << 20  # a 1024x512 frame's (N, 3) float64 array and more
    _minor_faults(size)
    pages = size // 4096
    assert _minor_faults(size) < 0.1 * pages  # kept in the heap, not faulted in again
