"""Lift depth images to 3D points (vectorised; numpy or torch in, float32 out).

Perspective (z-depth, OpenCV camera frame: x right, y down, z forward)::

    p = d * K^-1 [u, v, 1]^T          (u, v) = (column, row) of the pixel

Equirectangular panorama (distance along the ray, z up)::

    u = ((col + 0.5) / W * 2 - 1) * pi        in [-pi, pi], left to right
    v = ((row + 0.5) / H * 2 - 1) * pi / 2    in [-pi/2, pi/2], top to bottom
    x = d cos v cos u,  y = d cos v sin u,  z = -d sin v

Both return ``(points (N, 3) float32, pixel_index (N,) int64)`` where
``pixel_index = row * W + col`` of each point's pixel, in row-major order.
Invalid depth (0, negative, NaN, inf, beyond ``max_depth``) or a False
``mask`` pixel yields no point. The output library matches the input's.
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]


def _valid_mask(depth: Array, mask: Optional[Array], max_depth: Optional[float]):
    if isinstance(depth, torch.Tensor):
        valid = torch.isfinite(depth) & (depth > 0)
        if max_depth is not None:
            valid &= depth <= max_depth
        if mask is not None:
            valid &= torch.as_tensor(mask, device=depth.device).bool()
        return valid
    valid = np.isfinite(depth) & (depth > 0)
    if max_depth is not None:
        valid &= depth <= max_depth
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    return valid


def _check_image(name: str, depth: Array, mask: Optional[Array]):
    if depth.ndim != 2:
        raise ValueError(f'{name}: depth must be (H, W), got shape {tuple(depth.shape)}')
    if mask is not None and tuple(mask.shape) != tuple(depth.shape):
        raise ValueError(f'{name}: mask shape {tuple(mask.shape)} differs from depth shape '
                         f'{tuple(depth.shape)}')


def lift_perspective(depth: Array, K: Array, mask: Optional[Array] = None,
                     max_depth: Optional[float] = None) -> Tuple[Array, Array]:
    """Back-project a z-depth image with the 3x3 intrinsics ``K``."""
    _check_image('lift_perspective', depth, mask)
    is_torch = isinstance(depth, torch.Tensor)
    K_np = (K.detach().cpu().numpy() if isinstance(K, torch.Tensor) else np.asarray(K)).astype(
        np.float64)
    if K_np.shape != (3, 3):
        raise ValueError(f'lift_perspective: K must be 3x3, got shape {K_np.shape}')
    if abs(np.linalg.det(K_np)) < 1e-12:
        raise ValueError(f'lift_perspective: K is singular:\n{K_np}')
    K_inv = np.linalg.inv(K_np)
    width = depth.shape[1]
    valid = _valid_mask(depth, mask, max_depth)
    if is_torch:
        index = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)
        rows, cols = index // width, index % width
        z = depth.reshape(-1)[index].double()
        K_inv_t = torch.as_tensor(K_inv, device=depth.device)
        pixels = torch.stack([cols.double(), rows.double(), torch.ones_like(z)], 1)
        points = (pixels @ K_inv_t.T) * z[:, None]
        return points.float(), index.long()
    index = np.flatnonzero(valid)
    rows, cols = np.divmod(index, width)
    z = np.asarray(depth, dtype=np.float64).reshape(-1)[index]
    pixels = np.stack([cols, rows, np.ones_like(cols)], 1).astype(np.float64)
    points = (pixels @ K_inv.T) * z[:, None]
    return points.astype(np.float32), index.astype(np.int64)


def equirect_angles(height: int, width: int, rows: Array, cols: Array):
    """Longitude ``u`` and latitude ``v`` (radians) of pixel centres."""
    lib = torch if isinstance(rows, torch.Tensor) else np
    u = ((cols + 0.5) / width * 2 - 1) * lib.pi
    v = ((rows + 0.5) / height * 2 - 1) * (lib.pi / 2)
    return u, v


def lift_equirect(distance: Array, mask: Optional[Array] = None,
                  max_depth: Optional[float] = None) -> Tuple[Array, Array]:
    """Lift an equirectangular distance image to z-up points."""
    _check_image('lift_equirect', distance, mask)
    height, width = distance.shape
    valid = _valid_mask(distance, mask, max_depth)
    if isinstance(distance, torch.Tensor):
        index = torch.nonzero(valid.reshape(-1), as_tuple=False).squeeze(1)
        rows, cols = (index // width).double(), (index % width).double()
        d = distance.reshape(-1)[index].double()
        u, v = equirect_angles(height, width, rows, cols)
        points = torch.stack([d * torch.cos(v) * torch.cos(u), d * torch.cos(v) * torch.sin(u),
                              -d * torch.sin(v)], 1)
        return points.float(), index.long()
    index = np.flatnonzero(valid)
    rows, cols = np.divmod(index, width)
    d = np.asarray(distance, dtype=np.float64).reshape(-1)[index]
    u, v = equirect_angles(height, width, rows.astype(np.float64), cols.astype(np.float64))
    points = np.stack([d * np.cos(v) * np.cos(u), d * np.cos(v) * np.sin(u), -d * np.sin(v)], 1)
    return points.astype(np.float32), index.astype(np.int64)
