"""Which vertices of a scene a posed depth frame sees, and at which pixel.

A vertex ``x`` (scene coordinates, z up) is taken to the camera with the
inverse of the frame's ``cam2world`` and projected with the pinhole ``K``
(OpenCV: pixel ``(row, col)`` has its centre at ``(u, v) = (col, row)``, so
the vertex falls on pixel ``(round(v), round(u))``). It is *visible* when it
lies in front of the camera, inside the image, on a pixel with a depth
reading, and its z-depth agrees with that reading::

    |z - depth[row, col]| <= abs_tolerance + rel_tolerance * depth[row, col]

The tolerance has two parts because the two error sources differ: the
reconstruction and the poses disagree with a frame's depth by a roughly
constant few centimetres (registration, mesh smoothing), and structured-light
depth noise grows with distance (about 1-2 % of the depth for ScanNet's
sensor; its quantisation step grows quadratically). The defaults (5 cm +
2 % of the depth: 9 cm at 2 m) accept every vertex of a surface the camera
sees, and reject a vertex behind a surface that is more than that in front
of it -- a chair leg in front of a wall, a wall behind a door. Thinner
layers (a picture on its wall, a rug on the floor) cannot be told apart by
depth; their vertices take the label the teacher gives the front surface,
which is the one the image shows.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from d3l.utils.errors import D3LError

#: default depth-test tolerance: metres, and fraction of the measured depth
ABS_TOLERANCE = 0.05
REL_TOLERANCE = 0.02


class FusionError(D3LError, ValueError):
    """A scene or frame that cannot be fused (bad camera, wrong sizes)."""


def check_camera(K: np.ndarray, cam2world: np.ndarray, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """``K`` (3, 3) and ``cam2world`` (4, 4) as float64, or :class:`FusionError`."""
    if K is None or cam2world is None:
        raise FusionError(f'{where}: fusion needs the intrinsics and the camera pose '
                          f'(got K={"none" if K is None else "ok"}, '
                          f'cam2world={"none" if cam2world is None else "ok"})')
    K = np.asarray(K, np.float64)
    cam2world = np.asarray(cam2world, np.float64)
    if K.shape != (3, 3) or cam2world.shape != (4, 4):
        raise FusionError(f'{where}: K must be 3x3 and cam2world 4x4, got {K.shape} and '
                          f'{cam2world.shape}')
    if not (np.isfinite(K).all() and np.isfinite(cam2world).all()):
        raise FusionError(f'{where}: non-finite intrinsics or pose')
    if abs(np.linalg.det(cam2world[:3, :3])) < 1e-6:
        raise FusionError(f'{where}: the pose has a singular rotation')
    return K, cam2world


def project(points: np.ndarray, K: np.ndarray, cam2world: np.ndarray, shape: Tuple[int, int]
            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices that project inside an image of ``shape`` (H, W), in front
    of the camera.

    Returns ``(vertex_index, pixel_index, z)``: the vertices' indices (int64),
    their pixels ``row * W + col`` and their z-depths (float32, metres).
    """
    height, width = int(shape[0]), int(shape[1])
    world2cam = np.linalg.inv(cam2world)
    rotation = world2cam[:3, :3].astype(np.float32)
    # one (N, 3) x (3, 3) product in float32: millimetre error at 10 m
    cam = np.asarray(points, np.float32) @ rotation.T + world2cam[:3, 3].astype(np.float32)
    z = cam[:, 2]
    front = np.flatnonzero(z > 1e-3)
    cam, z = cam[front], z[front]
    u = (K[0, 0] * cam[:, 0] + K[0, 1] * cam[:, 1]) / z + K[0, 2]
    v = K[1, 1] * cam[:, 1] / z + K[1, 2]
    col = np.rint(u)
    row = np.rint(v)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    pixel = row[inside].astype(np.int64) * width + col[inside].astype(np.int64)
    return front[inside], pixel, z[inside]


def visible_vertices(points: np.ndarray, depth: np.ndarray, K: np.ndarray,
                     cam2world: np.ndarray, abs_tolerance: float = ABS_TOLERANCE,
                     rel_tolerance: float = REL_TOLERANCE) -> Tuple[np.ndarray, np.ndarray]:
    """Vertices the frame sees, by the depth test of the module docstring.

    Args:
        points: (N, 3) scene vertices (the frame's world coordinates).
        depth: (H, W) z-depth in metres, 0 = no reading.
        K / cam2world: the depth camera.

    Returns ``(vertex_index, pixel_index)`` (int64) of the visible vertices.
    """
    if abs_tolerance < 0 or rel_tolerance < 0:
        raise FusionError(f'depth tolerances must be >= 0, got {abs_tolerance}, {rel_tolerance}')
    vertex, pixel, z = project(points, K, cam2world, depth.shape[:2])
    measured = np.asarray(depth, np.float32).reshape(-1)[pixel]
    keep = (measured > 0) & (np.abs(z - measured) <= abs_tolerance + rel_tolerance * measured)
    return vertex[keep], pixel[keep]
