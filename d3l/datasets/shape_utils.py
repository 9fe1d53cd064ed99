"""Helpers shared by the shape datasets (ModelNet40, ShapeNet part)."""
from typing import Tuple

import numpy as np


def normalize_shape(points: np.ndarray, mode: str = 'bbox_sphere',
                    scale: float = 0.8) -> Tuple[np.ndarray, np.ndarray, float]:
    """Centre and scale a shape as O-CNN does.

    ``'bbox_sphere'``: centre at the bounding-box centre and divide by half
    the box diagonal (the box's circumscribed sphere becomes radius
    ``scale``), as ``ocnn.octree.Points.normalize(bbmin, bbmax, scale)``;
    ``'sphere'``: centre at the box centre, farthest point at ``scale``;
    ``'none'``: unchanged. Returns (points, centre, factor) with
    ``points = (input - centre) * factor``.
    """
    points = np.asarray(points, np.float64)
    if mode == 'none':
        return points.astype(np.float32), np.zeros(3), 1.0
    if mode not in ('bbox_sphere', 'sphere'):
        raise ValueError(f"normalize must be 'bbox_sphere', 'sphere' or 'none', got {mode!r}")
    bbmin, bbmax = points.min(0), points.max(0)
    centre = (bbmin + bbmax) / 2
    if mode == 'bbox_sphere':
        radius = np.linalg.norm(bbmax - bbmin) / 2
    else:
        radius = np.linalg.norm(points - centre, axis=1).max()
    factor = scale / radius if radius > 0 else 1.0
    return ((points - centre) * factor).astype(np.float32), centre, float(factor)


#: rotations taking a dataset's up axis to +z (proper rotations, +90 deg about x / -90 about y)
UP_TO_Z = {
    'z': np.eye(3),
    'y': np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64),
    'x': np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]], np.float64),
}


def to_z_up(points: np.ndarray, normals: np.ndarray, up_axis: str):
    """Rotate a shape (and its normals) so that ``up_axis`` becomes +z,
    the convention of d3l's scenes and pre-training clouds."""
    if up_axis not in UP_TO_Z:
        raise ValueError(f"up_axis must be 'x', 'y' or 'z', got {up_axis!r}")
    rotation = UP_TO_Z[up_axis]
    return ((points @ rotation.T).astype(np.float32),
            (normals @ rotation.T).astype(np.float32))


def unit_normals(normals: np.ndarray) -> np.ndarray:
    normals = np.asarray(normals, np.float32)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 0, normals / np.maximum(length, 1e-12), 0.0).astype(np.float32)


def read_text_cloud(path: str, min_columns: int, delimiter=None) -> np.ndarray:
    """(N, C) float32 of a text point file; an error names the file."""
    try:
        data = np.loadtxt(path, delimiter=delimiter, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as err:
        raise ValueError(f'cannot read point file {path}: {err}') from None
    if data.shape[0] == 0 or data.shape[1] < min_columns:
        raise ValueError(f'point file {path} must have >= {min_columns} columns and one row per '
                         f'point, got shape {data.shape}')
    return data
