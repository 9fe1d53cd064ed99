"""3D scenes of the synthetic world: labelled surface point clouds.

Like a ScanNet reconstruction, a scene holds the surfaces a scanner can see:
points are drawn area-uniformly on the primitives, then samples hidden
inside another primitive (the underside of a cabinet standing on the
floor, the back of a wardrobe against a wall, the top of a leg under a
table top) are dropped, and -- as most ScanNet scans miss it -- the ceiling
is left out unless asked for. Colours use the same materials, textures and
shading as the RGB-D renders.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .render import shade_hits
from .rooms import Room

# samples closer than this to another primitive (or inside it) are hidden
HIDDEN_EPS = 0.001


def sample_scene(room: Room, rng: np.random.Generator, density: float = 300.0,
                 max_points: Optional[int] = None, include_ceiling: bool = False,
                 color_noise: float = 0.02, position_noise: float = 0.0
                 ) -> Dict[str, np.ndarray]:
    """Sample a labelled surface point cloud of ``room``.

    Args:
        density: expected samples per square metre of surface (before hidden
            samples are dropped).
        max_points: randomly keep at most this many points.
        include_ceiling: keep ceiling points (unlabelled, -1).
        color_noise / position_noise: Gaussian noise (colour in [0, 1] units,
            position in metres along the normal).

    Returns a dict with ``coord`` (N, 3) float32, ``color`` (N, 3) uint8,
    ``normal`` (N, 3) float32, ``segment20`` (N,) int16 (-1 unlabelled),
    ``instance`` (N,) int16 (-1 for walls, floor, ceiling) and ``prim`` (N,)
    int64, the primitive each point was sampled on.
    """
    if density <= 0:
        raise ValueError(f'sample_scene: density must be positive, got {density}')
    areas = room.prims.areas()
    if not include_ceiling:
        areas = np.where(room.is_ceiling, 0.0, areas)
    counts = rng.poisson(areas * density)
    points, normals, prim = room.prims.sample_surface(counts, rng)
    # == min_sdf(points, exclude=prim) > HIDDEN_EPS, for the nearby pairs only
    visible = ~room.prims.near_any(points, HIDDEN_EPS, exclude=prim)
    points, normals, prim = points[visible], normals[visible], prim[visible]
    if max_points is not None and len(points) > max_points:
        keep = np.sort(rng.choice(len(points), max_points, replace=False))
        points, normals, prim = points[keep], normals[keep], prim[keep]
    colors = shade_hits(room, points, prim, normals, color_noise, rng)
    if position_noise > 0:
        points = points + normals * rng.normal(0, position_noise, (len(points), 1))
    instance = room.instance[prim]
    return dict(coord=points.astype(np.float32),
                color=(colors * 255).round().astype(np.uint8),
                normal=normals.astype(np.float32),
                segment20=room.label3d[prim].astype(np.int16),
                instance=np.where(instance > 0, instance, -1).astype(np.int16),
                prim=prim)
