"""Lifting of perspective and equirectangular depth images."""
from functools import partial

import numpy as np
import pytest
import torch
from rgbd_data import K_SMALL, equirect_room, perspective_room

from d3l.geometry import lift_equirect, lift_perspective, project_equirect, project_perspective


def test_perspective_matches_the_formula_pixel_by_pixel():
    rng = np.random.default_rng(0)
    K = np.array([[500.0, 2.0, 320.2], [0.0, 480.0, 241.7], [0.0, 0.0, 1.0]])  # with skew
    depth = rng.uniform(0.5, 6.0, (12, 16)).astype(np.float32)
    points, index = lift_perspective(depth, K)
    assert points.dtype == np.float32 and index.dtype == np.int64
    assert np.array_equal(index, np.arange(12 * 16))  # all valid, row-major
    K_inv = np.linalg.inv(K)
    for i in rng.choice(len(index), 20, replace=False):
        row, col = divmod(int(index[i]), 16)
        expected = depth[row, col] * K_inv @ np.array([col, row, 1.0])
        np.testing.assert_allclose(points[i], expected, rtol=1e-6, atol=1e-6)


def test_perspective_recovers_the_analytic_room():
    depth, hits, _ = perspective_room()  # camera axes = world axes, origin offset
    points, index = lift_perspective(depth, K_SMALL)
    origin = np.array([0.3, -0.2, 0.1])
    np.testing.assert_allclose(points, hits.reshape(-1, 3)[index] - origin, atol=1e-5)


def test_projection_round_trip():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.3, 9.0, (30, 40)).astype(np.float32)
    points, index = lift_perspective(depth, K_SMALL)
    uv, z = project_perspective(points, K_SMALL)
    rows, cols = np.divmod(index, 40)
    np.testing.assert_allclose(uv[:, 0], cols, atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], rows, atol=1e-3)
    np.testing.assert_allclose(z, depth.reshape(-1)[index], rtol=1e-6)
    behind, _ = project_perspective(np.array([[0.0, 0.0, -1.0]]), K_SMALL)
    assert np.isnan(behind).all()


@pytest.mark.parametrize('bad', [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_invalid_depth_yields_no_point(bad):
    depth = np.full((4, 5), 2.0, np.float32)
    depth[1, 2] = bad
    depth[3, 4] = bad
    points, index = lift_perspective(depth, K_SMALL)
    assert len(points) == 18
    assert 1 * 5 + 2 not in index and 3 * 5 + 4 not in index
    assert np.isfinite(points).all()


def test_mask_and_max_depth():
    depth = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
    mask = np.array([[True, False, True], [True, True, True]])
    _, index = lift_perspective(depth, K_SMALL, mask=mask, max_depth=4.5)
    assert index.tolist() == [0, 2, 3]
    _, index = lift_equirect(np.ones((2, 4), np.float32), mask=np.eye(2, 4, dtype=bool))
    assert index.tolist() == [0, 5]


def test_torch_and_numpy_agree():
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 5, (20, 30)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = 0
    p_np, i_np = lift_perspective(depth, K_SMALL)
    p_t, i_t = lift_perspective(torch.from_numpy(depth), torch.from_numpy(K_SMALL))
    assert isinstance(p_t, torch.Tensor) and p_t.dtype == torch.float32
    assert i_t.dtype == torch.int64
    np.testing.assert_array_equal(i_t.numpy(), i_np)
    np.testing.assert_allclose(p_t.numpy(), p_np, rtol=1e-6, atol=1e-6)
    dist = rng.uniform(0.5, 5, (16, 32)).astype(np.float32)
    dist[0, 0] = np.nan
    e_np, j_np = lift_equirect(dist)
    e_t, j_t = lift_equirect(torch.from_numpy(dist))
    np.testing.assert_array_equal(j_t.numpy(), j_np)
    np.testing.assert_allclose(e_t.numpy(), e_np, rtol=1e-6, atol=1e-6)


def test_equirect_formula_and_axes():
    height, width = 8, 16
    distance = np.full((height, width), 2.0, np.float32)
    points, index = lift_equirect(distance)
    rows, cols = np.divmod(index, width)
    u = ((cols + 0.5) / width * 2 - 1) * np.pi
    v = ((rows + 0.5) / height * 2 - 1) * np.pi / 2
    expected = 2.0 * np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), -np.sin(v)], 1)
    np.testing.assert_allclose(points, expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 2.0, rtol=1e-6)
    assert (points[rows < height // 2, 2] > 0).all()  # top half of the image: up
    assert (points[rows >= height // 2, 2] < 0).all()
    centre = (rows == height // 2) & (cols == width // 2)  # u = +half a pixel, looks along +x
    assert points[centre][0, 0] > 1.9


def test_equirect_room_and_round_trip():
    distance, hits, _ = equirect_room()
    points, index = lift_equirect(distance)
    np.testing.assert_allclose(points, hits.reshape(-1, 3)[index], atol=1e-5)
    pix, dist = project_equirect(points, *distance.shape)
    rows, cols = np.divmod(index, distance.shape[1])
    np.testing.assert_allclose(pix[:, 0], cols, atol=1e-3)
    np.testing.assert_allclose(pix[:, 1], rows, atol=1e-3)
    np.testing.assert_allclose(dist, distance.reshape(-1), rtol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match='3x3'):
        lift_perspective(np.ones((2, 2)), np.eye(4))
    with pytest.raises(ValueError, match='singular'):
        lift_perspective(np.ones((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r'\(H, W\)'):
        lift_equirect(np.ones((2, 2, 1)))
    with pytest.raises(ValueError, match=r'lift_equirect: .*twice as wide as high.* got 6x2'):
        lift_equirect(np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match='got 4x4'):
        lift_equirect(torch.ones(4, 4))
    with pytest.raises(ValueError, match='mask shape'):
        lift_perspective(np.ones((2, 2)), K_SMALL, mask=np.ones((3, 3), bool))


def _real_rgbd(projection):
    from conftest import realdata_path
    from PIL import Image
    if projection == 'perspective':
        depth = realdata_path('open3d_rgbd', 'depth', '00000.png')
        color = realdata_path('open3d_rgbd', 'color', '00000.jpg')
    else:
        depth = realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')
        color = realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.png')
    depth = np.asarray(Image.open(depth), np.uint16).astype(np.float32) / 1000
    return depth, np.asarray(Image.open(color).convert('RGB'))


@pytest.mark.parametrize('projection', ['perspective', 'equirect'])
def test_lift_rgbd_is_lifting_plus_the_colour_gather(projection, monkeypatch):
    """The compiled pass and the NumPy path give the arrays of lift_* and the
    colour gather bit for bit, on the real frames with bad pixels, a mask and
    a range limit."""
    from d3l.geometry import lift_rgbd, lifting
    depth, img = _real_rgbd(projection)
    depth = depth.copy()
    depth[:3, :7] = np.nan
    depth[5, :9] = np.inf
    depth[7, :4] = -1
    rng = np.random.default_rng(0)
    K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])
    lift = (partial(lift_perspective, K=K) if projection == 'perspective' else lift_equirect)
    cases = [dict(), dict(max_depth=2.5), dict(mask=rng.random(depth.shape) < 0.7)]
    for kwargs in cases:
        points, index = lift(depth, **kwargs)
        colors = img.reshape(-1, 3)[index].astype(np.float32) / np.float32(255)
        for use_numba in (True, False):
            monkeypatch.setattr(lifting, 'USE_NUMBA', use_numba)
            out = lift_rgbd(depth, img, K if projection == 'perspective' else None,
                            projection, **kwargs)
            for got, want in zip(out, (points, colors, index)):
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)
        assert len(index) > 0.3 * depth.size
    pytest.importorskip('numba')
    assert lifting._compiled_kernel() is not None  # the compiled pass was the one tested
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 7, np.uint8)], 2)
    np.testing.assert_array_equal(lift_rgbd(depth, rgba, K, projection)[1],
                                  lift_rgbd(depth, img, K, projection)[1])
    with pytest.raises(ValueError, match='image must be'):
        lift_rgbd(depth, img[:-1], K, projection)
    with pytest.raises(ValueError, match='projection'):
        lift_rgbd(depth, img, K, 'fisheye')
