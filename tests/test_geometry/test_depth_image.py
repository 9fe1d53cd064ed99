"""Depth discontinuities and rigid transforms (normals: test_normals.py)."""
import numpy as np
import pytest
from rgbd_data import perspective_room

from d3l.geometry import check_rigid, depth_edge_mask, euler_to_matrix, rotation_matrix


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
