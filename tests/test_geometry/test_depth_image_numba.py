"""``depth_edge_mask``'s numba loop gives the NumPy path's mask bit for bit
(the definition itself is checked in test_depth_image.py), on the real
frames at full size and on small random images with every kind of invalid
pixel, both projections' borders and both dtypes."""
import numpy as np
import pytest
from conftest import realdata_path
from PIL import Image

from d3l.geometry import depth_edge_mask, depth_image

pytest.importorskip('numba')


def _both(depth, monkeypatch, *args):
    out = []
    for use_numba in (True, False):
        monkeypatch.setattr(depth_image, 'USE_NUMBA', use_numba)
        out.append(depth_edge_mask(depth, *args))
    monkeypatch.setattr(depth_image, 'USE_NUMBA', True)
    return out


def test_real_frames_full_size(monkeypatch):
    for parts in (('sunrgbd_rgbd', 'depth_mm_derived', '000001.png'),
                  ('open3d_rgbd', 'depth', '00000.png'),
                  ('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')):
        depth = np.asarray(Image.open(realdata_path(*parts)), np.uint16).astype(np.float32) / 1000
        for wrap in (False, True):
            for invalid_is_edge in (False, True):
                fast, numpy_path = _both(depth, monkeypatch, 0.05, 0.05, wrap, invalid_is_edge)
                np.testing.assert_array_equal(fast, numpy_path)
                assert fast.dtype == bool and fast.shape == depth.shape
                assert 0 < fast.sum() < depth.size // 4  # edges exist, most pixels are not


def test_random_small_images(monkeypatch):
    rng = np.random.default_rng(0)
    values = np.array([0, 1.0, 1.02, 1.2, 3.0, np.nan, np.inf, -np.inf, -1.0, -0.0])
    for trial in range(150):
        height, width = (int(v) for v in rng.integers(1, 8, 2))  # widths 1 and 2 included
        depth = rng.choice(values, (height, width)).astype(np.float32 if trial % 2 else np.float64)
        for wrap in (False, True):
            for invalid_is_edge in (False, True):
                for rel, absolute in ((0.05, 0.0), (0.05, 0.05), (0.0, 0.1), (0.3, 0.0)):
                    fast, numpy_path = _both(depth, monkeypatch, rel, absolute, wrap,
                                             invalid_is_edge)
                    np.testing.assert_array_equal(fast, numpy_path, err_msg=f'{depth}')


def test_other_inputs_take_the_numpy_path(monkeypatch):
    """Integer depth, empty images: the NumPy path, the same answers."""
    depth = np.array([[1000, 1000, 2000], [1000, 1000, 2000]], np.uint16)
    fast, numpy_path = _both(depth, monkeypatch, 0.05, 0.0)
    np.testing.assert_array_equal(fast, numpy_path)
    assert fast[:, 1:].all() and not fast[:, 0].any()
    assert depth_edge_mask(np.zeros((0, 4), np.float32)).shape == (0, 4)
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        depth_edge_mask(np.zeros((2, 2, 2), np.float32))
