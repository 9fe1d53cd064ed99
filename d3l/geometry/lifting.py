"""Lift depth images to 3D points (vectorised; numpy or torch in, float32 out).

Perspective (z-depth, OpenCV camera frame: x right, y down, z forward)::

    p = d * K^-1 [u, v, 1]^T          (u, v) = (column, row) of the pixel

Pixel ``(row, col)`` has its centre at ``(u, v) = (col, row)`` (OpenCV
convention; datasets whose intrinsics use another convention, e.g. SUN RGB-D's
1-based MATLAB pixels, convert ``K`` when they load it).

Equirectangular panorama (distance along the ray, z up)::

    u = ((col + 0.5) / W * 2 - 1) * pi        in [-pi, pi], left to right
    v = ((row + 0.5) / H * 2 - 1) * pi / 2    in [-pi/2, pi/2], top to bottom
    x = d cos v cos u,  y = d cos v sin u,  z = -d sin v

Both return ``(points (N, 3) float32, pixel_index (N,) int64)`` where
``pixel_index = row * W + col`` of each point's pixel, in row-major order.
Invalid depth (0, negative, NaN, inf, beyond ``max_depth``) or a False
``mask`` pixel yields no point. The output library matches the input's.

The per-pixel ray grids are cached (a few recent image sizes / intrinsics), so
lifting a frame is one gather and one multiply per coordinate.
"""
from functools import lru_cache
from typing import Optional, Tuple, Union

import numpy as np
import torch

from d3l.utils.jit import lazy_njit

Array = Union[np.ndarray, torch.Tensor]


def _valid_mask(depth: Array, mask: Optional[Array], max_depth: Optional[float]):
    if isinstance(depth, torch.Tensor):
        valid = torch.isfinite(depth) & (depth > 0)
        if max_depth is not None:
            valid &= depth <= max_depth
        if mask is not None:
            valid &= torch.as_tensor(mask, device=depth.device).bool()
        return valid
    with np.errstate(invalid='ignore'):
        valid = depth > 0  # False for NaN
        if max_depth is not None:
            valid &= depth <= max_depth
        else:
            valid &= depth < np.inf
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    return valid


def _check_image(name: str, depth: Array, mask: Optional[Array]):
    if depth.ndim != 2:
        raise ValueError(f'{name}: depth must be (H, W), got shape {tuple(depth.shape)}')
    if mask is not None and tuple(mask.shape) != tuple(depth.shape):
        raise ValueError(f'{name}: mask shape {tuple(mask.shape)} differs from depth shape '
                         f'{tuple(depth.shape)}')


def check_intrinsics(K: Array, name: str = 'intrinsics') -> np.ndarray:
    """``K`` as a (3, 3) float64 numpy array; raises on a wrong shape, a
    non-finite entry or a singular matrix."""
    K_np = (K.detach().cpu().numpy() if isinstance(K, torch.Tensor) else np.asarray(K))
    K_np = K_np.astype(np.float64)
    if K_np.shape != (3, 3):
        raise ValueError(f'{name}: K must be 3x3, got shape {K_np.shape}')
    if not np.isfinite(K_np).all():
        raise ValueError(f'{name}: K has non-finite entries:\n{K_np}')
    if abs(np.linalg.det(K_np)) < 1e-12:
        raise ValueError(f'{name}: K is singular:\n{K_np}')
    return K_np


@lru_cache(maxsize=8)
def _perspective_rays_cached(height: int, width: int, k_bytes: bytes) -> np.ndarray:
    K_inv = np.linalg.inv(np.frombuffer(k_bytes, np.float64).reshape(3, 3))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    pixels = np.stack([cols, rows, np.ones_like(cols)], -1)
    rays = pixels @ K_inv.T
    rays = rays / rays[..., 2:3]  # K with a non-unit last row still gives z = d
    rays.flags.writeable = False
    return rays


def perspective_rays(height: int, width: int, K: Array) -> np.ndarray:
    """(H, W, 3) float64 rays ``K^-1 [u, v, 1]`` scaled to unit z, so that
    ``depth[..., None] * rays`` is the camera-frame point of every pixel.
    Read-only and cached."""
    K_np = check_intrinsics(K, 'perspective_rays')
    return _perspective_rays_cached(int(height), int(width), K_np.tobytes())


@lru_cache(maxsize=4)
def _equirect_rays_cached(height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = equirect_angles(height, width, rows, cols)
    rays = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), -np.sin(v)], -1)
    rays.flags.writeable = False
    return rays


def equirect_rays(height: int, width: int) -> np.ndarray:
    """(H, W, 3) float64 unit rays of an equirectangular image's pixel
    centres (z up). Read-only and cached."""
    return _equirect_rays_cached(int(height), int(width))


def _lift_with_rays(depth: Array, rays: np.ndarray, valid: Array) -> Tuple[Array, Array]:
    if isinstance(depth, torch.Tensor):
        index = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)
        d = depth.reshape(-1)[index].double()
        rays_t = torch.as_tensor(rays.reshape(-1, 3), device=depth.device)
        points = rays_t[index] * d[:, None]
        return points.float(), index.long()
    index = np.flatnonzero(valid)
    depth = np.asarray(depth)
    if depth.dtype != np.float32:
        depth = depth.astype(np.float32)
    d = np.take(depth.reshape(-1), index)  # np.take: ~10x faster than fancy indexing
    points = np.empty((len(index), 3), np.float32)
    for axis, channel in enumerate(ray_channels(rays)):
        points[:, axis] = d if channel is None else d * np.take(channel, index)
    return points, index.astype(np.int64, copy=False)


_RAY_CHANNELS: dict = {}


def ray_channels(rays: np.ndarray):
    """Flat float32 copies of the three components of a cached ray grid (None
    for a component that is identically 1, the z of perspective rays);
    float32 keeps sub-micrometre accuracy at tens of metres."""
    key = id(rays)
    cached = _RAY_CHANNELS.get(key)
    if cached is None or cached[0] is not rays:
        if len(_RAY_CHANNELS) >= 4:
            _RAY_CHANNELS.clear()
        channels = []
        for axis in range(3):
            component = rays[..., axis].reshape(-1)
            channels.append(None if np.all(component == 1)
                            else np.ascontiguousarray(component, np.float32))
        cached = (rays, tuple(channels))
        _RAY_CHANNELS[key] = cached
    return cached[1]


def lift_perspective(depth: Array, K: Array, mask: Optional[Array] = None,
                     max_depth: Optional[float] = None) -> Tuple[Array, Array]:
    """Back-project a z-depth image with the 3x3 intrinsics ``K``.

    Args:
        depth: (H, W) z-depth in metres (numpy or torch).
        K: 3x3 pinhole intrinsics of the depth image.
        mask: optional (H, W) boolean; False pixels yield no point.
        max_depth: optional range limit in metres; farther pixels yield no point.

    Returns:
        ``(points, pixel_index)``: (N, 3) float32 camera-frame points (x right,
        y down, z forward) and (N,) int64 row-major pixel indices.
    """
    _check_image('lift_perspective', depth, mask)
    height, width = depth.shape
    valid = _valid_mask(depth, mask, max_depth)
    return _lift_with_rays(depth, perspective_rays(height, width, K), valid)


def equirect_angles(height: int, width: int, rows: Array, cols: Array):
    """Longitude ``u`` and latitude ``v`` (radians) of pixel centres."""
    lib = torch if isinstance(rows, torch.Tensor) else np
    u = ((cols + 0.5) / width * 2 - 1) * lib.pi
    v = ((rows + 0.5) / height * 2 - 1) * (lib.pi / 2)
    return u, v


def lift_equirect(distance: Array, mask: Optional[Array] = None,
                  max_depth: Optional[float] = None) -> Tuple[Array, Array]:
    """Lift an equirectangular distance image to z-up points.

    Args:
        distance: (H, W) distance along each pixel's ray in metres.
        mask: optional (H, W) boolean; False pixels yield no point.
        max_depth: optional range limit in metres.

    Raises ``ValueError`` unless ``W == 2 H`` (360 x 180 degrees).

    Returns:
        ``(points, pixel_index)`` as :func:`lift_perspective`, in the panorama
        frame (x towards the image centre column, z up).
    """
    _check_image('lift_equirect', distance, mask)
    height, width = distance.shape
    if width != 2 * height:
        raise ValueError(f'lift_equirect: an equirectangular image is twice as wide as high '
                         f'(360 x 180 degrees), got {width}x{height} (W x H)')
    rays = equirect_rays(height, width)
    return _lift_with_rays(distance, rays, _valid_mask(distance, mask, max_depth))


# ------------------------------------------------------- lifting with colours
#: set to False to force the NumPy path (tests compare the two)
USE_NUMBA = True


def _lift_kernel(depth, rx, ry, rz, mask, img, upper, points, colors, index):  # pragma: no cover
    """Write the point, colour and pixel of every valid pixel; returns the
    count. Same arithmetic as the NumPy path: float32 ``d * ray``, colour
    ``float32(c) / 255``."""
    count = 0
    scale = np.float32(255)
    for i in range(depth.size):
        d = depth[i]
        if d > 0 and d <= upper and (mask.size == 0 or mask[i]):
            points[count, 0] = d * rx[i]
            points[count, 1] = d * ry[i]
            points[count, 2] = d if rz.size == 0 else d * rz[i]
            for c in range(3):
                colors[count, c] = np.float32(img[i, c]) / scale
            index[count] = i
            count += 1
    return count


def _compiled_kernel():
    """The numba build of ``_lift_kernel``, or None without numba (the NumPy
    path gives the same arrays)."""
    return lazy_njit(_lift_kernel)


def lift_rgbd(depth: np.ndarray, img: np.ndarray, K: Optional[np.ndarray] = None,
              projection: str = 'perspective', mask: Optional[np.ndarray] = None,
              max_depth: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, colours and pixel indices of an RGB-D frame in one pass.

    ``(points (N, 3) float32, colors (N, 3) float32 in [0, 1], pixel_index
    (N,) int64)``: the points and indices of :func:`lift_perspective` /
    :func:`lift_equirect` and the first three channels of ``img`` (H, W, C)
    at those pixels divided by 255, bit for bit (depth is taken as float32,
    as ``LiftRGBD`` passes it). With numba (the dev
    install) one compiled loop over the pixels does it, 3x faster than the
    NumPy gathers (``np.take`` copies 3-byte colour rows byte by byte);
    without, the NumPy path (numpy arrays only)."""
    depth = np.asarray(depth)
    name = 'lift_rgbd'
    _check_image(name, depth, mask)
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[:2] != depth.shape or img.shape[2] < 3:
        raise ValueError(f'{name}: image must be (H, W, >= 3) of the depth\'s size '
                         f'{depth.shape}, got shape {img.shape}')
    height, width = depth.shape
    if projection == 'perspective':
        rays = perspective_rays(height, width, K)
    elif projection == 'equirect':
        if width != 2 * height:
            raise ValueError(f'{name}: an equirectangular image is twice as wide as high, '
                             f'got {width}x{height} (W x H)')
        rays = equirect_rays(height, width)
    else:
        raise ValueError(f"{name}: projection must be 'perspective' or 'equirect', got "
                         f'{projection!r}')
    depth = depth.astype(np.float32, copy=False)
    kernel = _compiled_kernel() if USE_NUMBA and img.dtype == np.uint8 else None
    if kernel is None:
        points, index = _lift_with_rays(depth, rays, _valid_mask(depth, mask, max_depth))
        colors = np.take(img.reshape(-1, img.shape[2])[:, :3], index, axis=0)
        return points, np.divide(colors, np.float32(255), dtype=np.float32), index
    rx, ry, rz = (np.zeros(0, np.float32) if c is None else c for c in ray_channels(rays))
    flat_mask = (np.zeros(0, bool) if mask is None
                 else np.ascontiguousarray(mask, bool).reshape(-1))
    # max_depth compared in float32, as NumPy compares the float32 depth; None: finite
    upper = np.float32(np.finfo(np.float32).max if max_depth is None else max_depth)
    size = depth.size
    points, colors = np.empty((size, 3), np.float32), np.empty((size, 3), np.float32)
    index = np.empty(size, np.int64)
    count = kernel(np.ascontiguousarray(depth).reshape(-1), rx, ry, rz, flat_mask,
                         np.ascontiguousarray(img).reshape(size, img.shape[2]), upper,
                         points, colors, index)
    return points[:count], colors[:count], index[:count]


def project_perspective(points: np.ndarray, K: Array, eps: float = 1e-9
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Project camera-frame points with ``K``: returns ``(uv (N, 2) float64,
    z (N,))``; ``uv`` is NaN for points at or behind the camera (``z <= eps``).
    The inverse of :func:`lift_perspective` for ``z > 0``."""
    K_np = check_intrinsics(K, 'project_perspective')
    points = np.asarray(points, np.float64)
    z = points[:, 2]
    proj = points @ K_np.T
    with np.errstate(divide='ignore', invalid='ignore'):
        uv = proj[:, :2] / proj[:, 2:3]
    uv[z <= eps] = np.nan
    return uv, z


def project_equirect(points: np.ndarray, height: int, width: int
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates ``(col, row)`` (N, 2) and distance (N,) of
    z-up points in an equirectangular image; pixel centres map back to
    integer ``(col, row)``. The inverse of :func:`lift_equirect`."""
    points = np.asarray(points, np.float64)
    distance = np.linalg.norm(points, axis=1)
    u = np.arctan2(points[:, 1], points[:, 0])
    with np.errstate(divide='ignore', invalid='ignore'):
        v = np.arcsin(np.clip(-points[:, 2] / distance, -1, 1))
    col = (u / np.pi + 1) / 2 * width - 0.5
    row = (v / (np.pi / 2) + 1) / 2 * height - 0.5
    return np.stack([col, row], 1), distance
