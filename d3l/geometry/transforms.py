"""Rigid transforms and rotations (numpy, float64 in, caller chooses dtype out)."""
from typing import Sequence, Tuple

import numpy as np


def rotation_matrix(axis: str, angle: float) -> np.ndarray:
    """3x3 right-handed rotation by ``angle`` radians about ``'x'``, ``'y'``
    or ``'z'`` (counter-clockwise looking down the axis)."""
    c, s = np.cos(angle), np.sin(angle)
    if axis == 'x':
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 'y':
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    if axis == 'z':
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    raise ValueError(f"rotation axis must be 'x', 'y' or 'z', got {axis!r}")


def euler_to_matrix(angles: Sequence[float], order: str = 'xyz') -> np.ndarray:
    """Rotation applying the elementary rotations in ``order`` (first letter
    first): ``'xyz'`` gives ``Rz @ Ry @ Rx``."""
    if len(angles) != len(order):
        raise ValueError(f'{len(angles)} angles for rotation order {order!r}')
    matrix = np.eye(3)
    for axis, angle in zip(order, angles):
        matrix = rotation_matrix(axis, angle) @ matrix
    return matrix


def check_rigid(matrix: np.ndarray, name: str = 'transform', atol: float = 1e-3) -> np.ndarray:
    """``matrix`` as a (4, 4) float64 rigid transform; raises when it is not
    4x4 / 3x4, has non-finite entries, or its rotation part is not orthonormal
    with determinant +1 (within ``atol``)."""
    matrix = np.asarray(matrix, np.float64)
    if matrix.shape == (3, 4):
        matrix = np.vstack([matrix, [0, 0, 0, 1]])
    if matrix.shape != (4, 4):
        raise ValueError(f'{name}: expected a 4x4 (or 3x4) matrix, got shape {matrix.shape}')
    if not np.isfinite(matrix).all():
        raise ValueError(f'{name}: matrix has non-finite entries (an invalid pose?):\n{matrix}')
    rotation = matrix[:3, :3]
    if (not np.allclose(rotation @ rotation.T, np.eye(3), atol=atol)
            or abs(np.linalg.det(rotation) - 1) > atol):
        raise ValueError(f'{name}: rotation part is not a proper rotation:\n{rotation}')
    if not np.allclose(matrix[3], [0, 0, 0, 1]):
        raise ValueError(f'{name}: last row must be [0, 0, 0, 1], got {matrix[3]}')
    return matrix


def apply_rigid(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``R p + t`` for (N, 3) points and a 4x4 (or 3x4) matrix, float64."""
    matrix = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def bounding_box(points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-column ``(min, max)`` of an (N, C) array, in its dtype.

    NumPy's ``points.min(0)`` on an (N, 3) array walks it in a slow strided
    loop, ~25x slower than three 1D reductions (15 ms against 0.6 ms for
    450k points): use this wherever the box of a cloud is needed."""
    points = np.asarray(points)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f'bounding_box: points must be a non-empty (N, C) array, got shape '
                         f'{points.shape}')
    columns = [points[:, i] for i in range(points.shape[1])]
    return (np.array([c.min() for c in columns], points.dtype),
            np.array([c.max() for c in columns], points.dtype))
