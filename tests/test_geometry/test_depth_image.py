"""Depth discontinuities and rigid transforms (normals: test_normals.py)."""
import numpy as np
import pytest
from conftest import realdata_path
from PIL import Image
from rgbd_data import perspective_room

from d3l.geometry import check_rigid, depth_edge_mask, euler_to_matrix, rotation_matrix


def _reference_edges(depth, rel, abs_, wrap, invalid_is_edge):
    """The definition, neighbour by neighbour on a padded copy (the
    implementation before issue 16)."""
    valid = np.isfinite(depth) & (depth > 0)
    clean = np.where(valid, depth, 0.0).astype(np.float64)
    padded = np.pad(clean, 1)
    padded_valid = np.pad(valid, 1)
    if wrap:
        padded[1:-1, 0], padded[1:-1, -1] = clean[:, -1], clean[:, 0]
        padded_valid[1:-1, 0], padded_valid[1:-1, -1] = valid[:, -1], valid[:, 0]
    height, width = depth.shape
    threshold = np.maximum(rel * clean, abs_)
    edge = np.zeros_like(valid)
    for d_row in (-1, 0, 1):
        for d_col in (-1, 0, 1):
            if d_row or d_col:
                window = (slice(1 + d_row, 1 + d_row + height), slice(1 + d_col, 1 + d_col + width))
                jump = padded_valid[window] & (np.abs(padded[window] - clean) > threshold)
                edge |= jump | (~padded_valid[window] if invalid_is_edge else False)
    return edge & valid


def test_depth_edges_match_the_definition_on_real_frames():
    rng = np.random.default_rng(0)
    noisy = rng.uniform(0.5, 5, (37, 53)).astype(np.float32)
    noisy[rng.random(noisy.shape) < 0.2] = 0
    noisy[0, 0], noisy[3, 3] = np.nan, np.inf
    frames = [noisy]
    for parts in (('sunrgbd_rgbd', 'depth_mm_derived', '000001.png'),
                  ('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')):
        mm = np.asarray(Image.open(realdata_path(*parts)), np.uint16)
        frames.append(mm[::2, ::2].astype(np.float32) / 1000)
    for depth in frames:
        for wrap in (False, True):
            for invalid_is_edge in (False, True):
                for rel, abs_ in ((0.05, 0.0), (0.05, 0.05), (0.2, 0.01)):
                    np.testing.assert_array_equal(
                        depth_edge_mask(depth, rel, abs_, wrap, invalid_is_edge),
                        _reference_edges(depth, rel, abs_, wrap, invalid_is_edge))


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
