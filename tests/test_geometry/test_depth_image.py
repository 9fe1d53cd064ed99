"""Normals and depth discontinuities of depth images, against the analytic
box room (every pixel's true surface normal is known)."""
import numpy as np
import pytest
from rgbd_data import K_SMALL, equirect_room, perspective_room

from d3l.geometry import (
    check_rigid,
    depth_edge_mask,
    depth_normals,
    euler_to_matrix,
    lift_perspective,
    rotation_matrix,
)
from d3l.geometry.depth_image import _smallest_eigenvectors


def _interior(normals_true: np.ndarray, margin: int, wrap: bool = False) -> np.ndarray:
    """Pixels whose whole (2 margin + 1) window lies on one wall."""
    face = np.argmax(np.abs(normals_true), axis=2) * 2 + (normals_true.sum(2) > 0)
    height, width = face.shape
    same = np.ones_like(face, bool)
    for dr in range(-margin, margin + 1):
        for dc in range(-margin, margin + 1):
            shifted = np.roll(np.roll(face, dr, 0), dc, 1)
            same &= shifted == face
    same[:margin] = same[height - margin:] = False
    if not wrap:
        same[:, :margin] = same[:, width - margin:] = False
    return same


@pytest.mark.parametrize('method', ['pca', 'cross'])
def test_perspective_normals_match_the_room(method):
    depth, _, normals_true = perspective_room()
    normals = depth_normals(depth, K_SMALL, method=method)
    assert normals.shape == depth.shape + (3,) and normals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(normals, axis=2), 1, atol=1e-5)
    inside = _interior(normals_true, 2)
    dots = np.sum(normals[inside] * normals_true[inside], axis=1)
    assert inside.sum() > 2000
    assert dots.min() > 0.999  # right direction and oriented towards the camera


def test_panorama_normals_wrap_around():
    distance, _, normals_true = equirect_room()
    normals = depth_normals(distance, projection='equirect', window=3)
    inside = _interior(normals_true, 1, wrap=True)
    assert inside[:, 0].any()  # the seam is tested
    dots = np.sum(normals[inside] * normals_true[inside], axis=1)
    assert dots.min() > 0.99


def test_normals_at_given_pixels_and_invalid_neighbours():
    depth, _, normals_true = perspective_room()
    depth = depth.copy()
    depth[20:25, 30:35] = 0  # a hole: its neighbours use the remaining pixels
    points, index = lift_perspective(depth, K_SMALL)
    subset = depth_normals(depth, K_SMALL, pixel_index=index)
    full = depth_normals(depth, K_SMALL)
    np.testing.assert_allclose(subset, full.reshape(-1, 3)[index], atol=1e-6)
    around = np.zeros_like(depth, bool)
    around[18:27, 28:37] = True
    around &= depth > 0
    ok = _interior(normals_true, 2) & around
    assert ok.any()
    dots = np.sum(full[ok] * normals_true[ok], axis=1)
    assert dots.min() > 0.999


def test_degenerate_neighbourhood_faces_the_camera():
    depth = np.zeros((9, 9), np.float32)
    depth[4, 4] = 2.0  # an isolated pixel: no plane to fit
    normals = depth_normals(depth, K_SMALL)
    ray = np.linalg.inv(K_SMALL) @ np.array([4.0, 4.0, 1.0])
    np.testing.assert_allclose(normals[4, 4], -ray / np.linalg.norm(ray), atol=1e-6)


def test_closed_form_eigenvectors_match_numpy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(500, 3, 3))
    A = A @ A.transpose(0, 2, 1)
    cov = np.stack([A[:, 0, 0], A[:, 0, 1], A[:, 0, 2], A[:, 1, 1], A[:, 1, 2], A[:, 2, 2]], 1)
    vec, ok = _smallest_eigenvectors(cov)
    _, ref = np.linalg.eigh(A)
    assert ok.all()
    np.testing.assert_allclose(np.abs(np.sum(vec * ref[:, :, 0], axis=1)), 1, atol=1e-6)


def test_depth_edges():
    depth = np.full((10, 12), 2.0, np.float32)
    depth[:, 6:] = 4.0  # a step: columns 5 and 6 are edges
    depth[0, 0] = 0.0
    edges = depth_edge_mask(depth, rel_threshold=0.05)
    assert edges[:, 5].all() and edges[:, 6].all()
    assert edges.sum() == 20
    assert not edges[0, 0]  # invalid pixels are never edges
    assert depth_edge_mask(depth, rel_threshold=0.6).sum() == 10  # only 2 -> 4 jumps > 0.6*2
    assert depth_edge_mask(depth, invalid_is_edge=True)[1, 1]
    wrapped = depth_edge_mask(depth, wrap=True)
    assert wrapped[1:, 0].all() and wrapped[:, -1].all()  # [0, 0] is invalid
    smooth, _, _ = perspective_room()
    assert not depth_edge_mask(smooth, rel_threshold=0.05).any()  # walls are continuous


def test_rotations():
    np.testing.assert_allclose(rotation_matrix('z', np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rotation_matrix('x', np.pi / 2) @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(rotation_matrix('y', np.pi / 2) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    R = euler_to_matrix([0.1, 0.2, 0.3], 'xyz')
    np.testing.assert_allclose(R, rotation_matrix('z', 0.3) @ rotation_matrix('y', 0.2)
                               @ rotation_matrix('x', 0.1))
    check_rigid(np.vstack([np.hstack([R, [[1], [2], [3]]]), [0, 0, 0, 1]]))
    with pytest.raises(ValueError, match='non-finite'):
        check_rigid(np.full((4, 4), -np.inf))
    with pytest.raises(ValueError, match='proper rotation'):
        check_rigid(np.diag([1.0, 1.0, -1.0, 1.0]))
