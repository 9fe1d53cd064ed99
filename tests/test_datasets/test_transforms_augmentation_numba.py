"""The one-pass numba kernels of ElasticDistortion (``displace``) and
RandomScale give the bits of the NumPy expressions they replace (issue 16),
on a real panorama's cloud and on synthetic clouds."""
import numpy as np
import pytest
from conftest import realdata_path
from PIL import Image
from scipy import ndimage

from d3l.datasets.transforms import ElasticDistortion, RandomScale, augmentation, color_augmentation
from d3l.geometry import bounding_box, interpolation, lift_equirect
from d3l.geometry.interpolation import displace, trilinear

pytest.importorskip('numba')

PAPER_PARAMS = ((1.024, 2.048), (4.096, 8.192))  # the pre-training configs'


def _clouds():
    rng = np.random.default_rng(0)
    clouds = {'uniform': (rng.random((20000, 3)) * [8.0, 6.0, 3.0] - 2.0).astype(np.float32),
              'float64': rng.normal(size=(5000, 3)) * 3.0,
              'one_point': np.array([[0.3, -0.2, 1.5]], np.float32)}
    pano = realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')
    depth = np.asarray(Image.open(pano), np.uint16).astype(np.float32) / 1000
    clouds['panorama'] = lift_equirect(depth)[0][::3]
    return clouds


def _previous_elastic(points, params, smoothing_passes, rng):
    """ElasticDistortion.apply before issue 16's kernel: (N, 3) float64
    expressions around ``trilinear``."""
    points = np.asarray(points, np.float64)
    for granularity, magnitude in params:
        lo, hi = bounding_box(points)
        lo = lo.astype(np.float64)
        shape = ((hi - lo) // granularity).astype(np.int64) + 3
        noise = rng.standard_normal((*shape, 3))
        for _ in range(smoothing_passes):
            for axis in range(3):
                noise = ndimage.uniform_filter1d(noise, 3, axis=axis, mode='constant')
        coords = (points - lo) / granularity + 1.0
        points = points + trilinear(noise, coords) * magnitude
    return points.astype(np.float32)


@pytest.mark.parametrize('params,passes', [(PAPER_PARAMS, 2), (((0.2, 0.4), (0.8, 1.6)), 3),
                                           (((0.5, 1.0),), 1)])
def test_elastic_distortion_gives_the_previous_bits(params, passes, monkeypatch):
    for name, points in _clouds().items():
        outs = []
        for fused in (True, False):
            monkeypatch.setattr(interpolation, 'USE_FUSED', fused)
            transform = ElasticDistortion(params=params, smoothing_passes=passes, prob=1.0,
                                          seed=3)
            outs.append(transform(dict(points=points.copy()))['points'])
        reference = _previous_elastic(points, params, passes, np.random.default_rng(3))
        for out in outs:
            assert out.dtype == np.float32, name
            np.testing.assert_array_equal(out, reference, err_msg=name)
        assert np.abs(outs[0] - points).max() > 1e-3, name  # it does move the points


def test_displace_clamps_outside_the_lattice_like_the_expression(monkeypatch):
    """Points beyond the lattice (the clamped border) and both output dtypes."""
    rng = np.random.default_rng(5)
    field = rng.normal(size=(4, 3, 5, 3))
    points = rng.uniform(-3, 6, (3000, 3))
    lo = np.array([0.5, -0.25, 1.0])
    for dtype in (np.float64, np.float32):
        monkeypatch.setattr(interpolation, 'USE_FUSED', True)
        fused = displace(field, points, lo, 0.7, 1.3, dtype)
        monkeypatch.setattr(interpolation, 'USE_FUSED', False)
        expression = displace(field, points, lo, 0.7, 1.3, dtype)
        reference = points + trilinear(field, (points - lo) / 0.7 + 1.0) * 1.3
        assert fused.dtype == dtype
        np.testing.assert_array_equal(fused, expression)
        np.testing.assert_array_equal(fused, reference.astype(dtype))


@pytest.mark.parametrize('anisotropic', [False, True])
def test_random_scale_kernel_gives_the_numpy_bits(anisotropic, monkeypatch):
    for name, points in _clouds().items():
        outs = []
        for use_numba in (True, False):
            monkeypatch.setattr(augmentation, 'USE_NUMBA', use_numba)
            transform = RandomScale(scale_range=(0.8, 1.2), anisotropic=anisotropic, seed=4)
            outs.append(transform(dict(points=points.copy()))['points'])
        # the expression of the code before, as a reference
        scale = np.broadcast_to(np.random.default_rng(4).uniform(
            0.8, 1.2, size=3 if anisotropic else 1), (3,)).astype(np.float32)
        points32 = np.asarray(points, np.float32)
        lo, hi = bounding_box(points32)
        center = ((lo.astype(np.float64) + hi) / 2.0).astype(np.float32)
        reference = (points32 - center) * scale + center
        for out in outs:
            assert out.dtype == np.float32, name
            np.testing.assert_array_equal(out, reference, err_msg=name)


def test_chromatic_jitter_kernel_gives_the_numpy_bits(monkeypatch):
    """Real colours (with black and white pixels: both clips) and a large
    std (most values clipped)."""
    from d3l.datasets.transforms import ChromaticJitter
    image = Image.open(realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.png')).convert('RGB')
    colors = np.asarray(image, np.float32).reshape(-1, 3)[::5] / 255
    colors[:100] = 0.0
    colors[100:200] = 1.0
    for std in (0.05, 0.7, 0):
        outs = []
        for use_numba in (True, False):
            monkeypatch.setattr(color_augmentation, 'USE_NUMBA', use_numba)
            transform = ChromaticJitter(std=std, prob=1.0, seed=6)
            outs.append(transform(dict(points=colors.copy(), colors=colors.copy()))['colors'])
        noise = np.random.default_rng(6).standard_normal(colors.shape).astype(np.float32) * std
        reference = np.clip(colors + noise, 0, 1).astype(np.float32)
        for out in outs:
            assert out.dtype == np.float32
            np.testing.assert_array_equal(out, reference)
        assert std == 0 or (np.any(outs[0] == 0) and np.any(outs[0] == 1))
