"""RGB-D rendering of synthetic rooms by exact, vectorised ray casting.

Conventions match :mod:`d3l.geometry.lifting` so that lifting a render
gives back points on the room's surfaces:

* perspective: OpenCV camera frame (x right, y down, z forward), pinhole
  ``K`` with pixel ``(col, row)`` at ``K^-1 [col, row, 1]``; ``depth`` is
  the **z-depth**; ``cam2world`` maps camera-frame points to the room
  (z up);
* equirectangular: z-up camera frame, ``u = ((col + 0.5) / W * 2 - 1) pi``,
  ``v = ((row + 0.5) / H * 2 - 1) pi / 2``, direction
  ``(cos v cos u, cos v sin u, -sin v)``; ``depth`` is the **distance along
  the ray**; ``cam2world`` is a rotation about z plus the camera position.

Each render holds ``img`` (H, W, 3) uint8, ``depth`` (H, W) float32 metres,
``label2d`` (teacher classes) and ``label3d`` (segment20 ids) as (H, W)
uint8 with 255 = none, ``instance`` (H, W) int32 and the camera.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from d3l.geometry.lifting import equirect_angles

from .appearance import surface_colors
from .classes import IGNORE_INDEX
from .rooms import Room


def look_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """3x3 rotation whose columns are the world directions of the OpenCV
    camera axes (right, down, forward) for a camera heading ``yaw`` (about
    +z from +x), tilted up by ``pitch`` and rolled by ``roll`` (radians)."""
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw),
                        np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(forward, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    return np.stack([right, down, forward], 1)


def pose(rotation: np.ndarray, position: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, position
    return out


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole K with square pixels, principal point at the image centre."""
    fx = width / 2 / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[fx, 0, (width - 1) / 2], [0, fx, (height - 1) / 2], [0, 0, 1]])


def shade_hits(room: Room, points: np.ndarray, prim: np.ndarray, normals: np.ndarray,
               noise: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) colours in [0, 1] of surface points hit on primitives ``prim``."""
    return surface_colors(room.rgb[prim], points, normals, room.texture[prim],
                          room.tex_amp[prim], room.tex_phase[prim], noise, rng)


def _render(room: Room, origin: np.ndarray, dirs: np.ndarray, shape: Tuple[int, int],
            noise: float, rng: np.random.Generator):
    t, prim, normal = room.prims.cast(origin[None], dirs)
    hit = prim >= 0
    height, width = shape
    img = np.zeros((height * width, 3))
    points = origin + t[hit, None] * dirs[hit]
    img[hit] = shade_hits(room, points, prim[hit], normal[hit], noise, rng)
    label2d = np.full(height * width, IGNORE_INDEX, np.uint8)
    label3d = np.full(height * width, IGNORE_INDEX, np.uint8)
    instance = np.full(height * width, -1, np.int32)
    label2d[hit] = room.label2d[prim[hit]]
    l3 = room.label3d[prim[hit]]
    label3d[hit] = np.where(l3 < 0, IGNORE_INDEX, l3)
    instance[hit] = room.instance[prim[hit]]
    out = dict(img=(img.reshape(height, width, 3) * 255).round().astype(np.uint8),
               label2d=label2d.reshape(shape), label3d=label3d.reshape(shape),
               instance=instance.reshape(shape), prim=prim.reshape(shape))
    return out, t, hit


def render_perspective(room: Room, K: np.ndarray, cam2world: np.ndarray, width: int,
                       height: int, noise: float = 0.0,
                       rng: Optional[np.random.Generator] = None) -> Dict[str, np.ndarray]:
    """Render a pinhole frame; ``depth`` is z-depth (0 where nothing is hit)."""
    rng = rng or np.random.default_rng(0)
    rows, cols = np.divmod(np.arange(height * width), width)
    pix = np.stack([cols, rows, np.ones_like(cols)], 1).astype(np.float64)
    cam_dirs = pix @ np.linalg.inv(K).T            # z component 1: t is the z-depth
    dirs = cam_dirs @ cam2world[:3, :3].T
    out, t, hit = _render(room, cam2world[:3, 3], dirs, (height, width), noise, rng)
    depth = np.where(hit, t, 0.0).reshape(height, width).astype(np.float32)
    out.update(depth=depth, intrinsics=np.asarray(K, np.float32),
               cam2world=np.asarray(cam2world, np.float32), projection='perspective')
    return out


def render_equirect(room: Room, cam2world: np.ndarray, width: int, height: int,
                    noise: float = 0.0,
                    rng: Optional[np.random.Generator] = None) -> Dict[str, np.ndarray]:
    """Render an equirectangular panorama; ``depth`` is the ray distance."""
    rng = rng or np.random.default_rng(0)
    rows, cols = np.divmod(np.arange(height * width), width)
    u, v = equirect_angles(height, width, rows.astype(np.float64), cols.astype(np.float64))
    cam_dirs = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), -np.sin(v)], 1)
    dirs = cam_dirs @ cam2world[:3, :3].T
    out, t, hit = _render(room, cam2world[:3, 3], dirs, (height, width), noise, rng)
    depth = np.where(hit, t, 0.0).reshape(height, width).astype(np.float32)
    out.update(depth=depth, cam2world=np.asarray(cam2world, np.float32), projection='equirect')
    return out


def sample_viewpoint(room: Room, rng: np.random.Generator, height_range=(1.1, 1.7),
                     clearance: float = 0.35, tries: int = 200) -> np.ndarray:
    """A camera position where a person could stand: inside the room, at
    least ``clearance`` metres from every surface, over free floor."""
    lx, ly, h = room.size
    best, best_clear = None, -np.inf
    for _ in range(tries):
        pos = np.array([rng.uniform(0.3, lx - 0.3), rng.uniform(0.3, ly - 0.3),
                        rng.uniform(*height_range)])
        knee = np.array([pos[0], pos[1], 0.3])
        clear = room.prims.min_sdf(np.stack([pos, knee]))
        score = min(clear[0], clear[1] + clearance - 0.15)
        if score >= clearance:
            return pos
        if score > best_clear:
            best, best_clear = pos, score
    if best_clear <= 0.05:
        raise RuntimeError(f'no free camera position in a {room.room_type} of size {room.size}')
    return best


def sample_perspective_camera(room: Room, rng: np.random.Generator, width: int, height: int,
                              hfov_range=(58.0, 70.0), pitch_range=(-35.0, -5.0),
                              roll_std: float = 2.0, height_range=(1.1, 1.7),
                              candidates: int = 8):
    """(K, cam2world) of a random frame that looks at the room's furniture.

    Each of ``candidates`` viewpoints stands in free space and aims at a
    random object (with some jitter; tilt clipped to ``pitch_range``); a
    coarse ray grid scores it by the fraction of furniture it sees and its
    depth, and one of the better half is drawn -- as a person taking photos
    or scanning a room would frame them, rarely staring at a bare wall.
    """
    K = intrinsics(width, height, rng.uniform(*hfov_range))
    cols, rows = np.meshgrid(np.linspace(0, width - 1, 8), np.linspace(0, height - 1, 6))
    grid = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)], 1) @ np.linalg.inv(K).T
    targets = [np.array([o['position'][0], o['position'][1], o['position'][2] + o['height'] / 2])
               for o in room.objects if o['name'] not in ('door', 'window', 'rug')]
    options = []
    for _ in range(candidates):
        pos = sample_viewpoint(room, rng, height_range)
        if targets and rng.random() < 0.8:
            delta = targets[int(rng.integers(len(targets)))] - pos
            yaw = np.arctan2(delta[1], delta[0]) + rng.normal(0, 0.25)
            pitch = np.degrees(np.arctan2(delta[2], np.hypot(delta[0], delta[1])))
            pitch = np.clip(pitch + rng.normal(0, 8.0), *pitch_range)
        else:
            yaw, pitch = rng.uniform(-np.pi, np.pi), rng.uniform(*pitch_range)
        rot = look_rotation(yaw, np.radians(pitch), np.radians(rng.normal(0, roll_std)))
        t, prim, _ = room.prims.cast(pos[None], grid @ rot.T)
        furniture = np.mean(room.instance[prim[prim >= 0]] > 0) if (prim >= 0).any() else 0.0
        depth = float(np.median(np.where(np.isfinite(t), t, 0)))
        options.append((furniture + 0.1 * min(depth, 3.0), pos, rot))
    options.sort(key=lambda o: -o[0])
    _, pos, rot = options[int(rng.integers(max(1, len(options) // 2)))]
    return K, pose(rot, pos)


def sample_panorama_camera(room: Room, rng: np.random.Generator,
                           height_range=(1.3, 1.7)) -> np.ndarray:
    """cam2world of an upright panorama (random heading)."""
    pos = sample_viewpoint(room, rng, height_range)
    yaw = rng.uniform(-np.pi, np.pi)
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    return pose(rot, pos)
