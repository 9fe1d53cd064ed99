"""Feed equirectangular panoramas to perspective teachers: crop, label, stitch.

2D scene parsers are trained on perspective photos; the strong distortion
near a panorama's poles hurts them. :class:`PanoramaCrops` renders
perspective crops around the sphere, the teacher labels each crop, and the
crop probabilities are stitched back onto the panorama grid, blending
overlapping crops with a weight that falls to zero at each crop's border
(no seams).

Frames follow :func:`d3l.geometry.lift_equirect` (z up): the pixel at
(row, col) of an H x W panorama looks along
``(cos v cos u, cos v sin u, -sin v)`` with
``u = ((col + 0.5) / W * 2 - 1) pi`` and ``v = ((row + 0.5) / H * 2 - 1) pi / 2``.
A crop with ``yaw`` (longitude of its centre, degrees, = ``u``) and
``pitch`` (degrees, positive up) uses the corner-aligned pixel grid of
py360convert's ``e2p`` (``e2p(pano, fov, u_deg=yaw, v_deg=pitch, out_hw)``
renders the same crop), so the two can be swapped.
"""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor


def equirect_directions(height: int, width: int, rows: Tensor, cols: Tensor) -> Tensor:
    """Unit view directions (..., 3) of (fractional) panorama pixel centres."""
    u = ((cols + 0.5) / width * 2 - 1) * math.pi
    v = ((rows + 0.5) / height * 2 - 1) * (math.pi / 2)
    return torch.stack([torch.cos(v) * torch.cos(u), torch.cos(v) * torch.sin(u),
                        -torch.sin(v)], -1)


def crop_axes(yaw_deg: float, pitch_deg: float, dtype=torch.float64) -> Tensor:
    """(3, 3) rows = right, down, forward axes of a crop camera in the
    panorama frame (OpenCV convention: x right, y down, z forward)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = torch.tensor([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                            math.sin(pitch)], dtype=dtype)
    # increasing longitude is to the right in the panorama image
    right = torch.tensor([-math.sin(yaw), math.cos(yaw), 0.0], dtype=dtype)
    down = torch.linalg.cross(right, forward)
    return torch.stack([right, down, forward])


def crop_rays(fov_deg: Tuple[float, float], yaw_deg: float, pitch_deg: float,
              size_hw: Tuple[int, int]) -> Tensor:
    """(h, w, 3) unit directions, in the panorama frame, of a crop's pixels
    (corner-aligned grid: the first/last pixel centres lie on the field of
    view's edges, as in py360convert)."""
    height, width = size_hw
    tan_x = math.tan(math.radians(fov_deg[0]) / 2)
    tan_y = math.tan(math.radians(fov_deg[1]) / 2)
    xs = torch.linspace(-tan_x, tan_x, width, dtype=torch.float64)
    ys = torch.linspace(-tan_y, tan_y, height, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    cam = torch.stack([xx, yy, torch.ones_like(xx)], -1)
    rays = cam @ crop_axes(yaw_deg, pitch_deg)
    return rays / rays.norm(dim=-1, keepdim=True)


def sample_equirect(pano: Tensor, rays: Tensor, mode: str = 'bilinear') -> Tensor:
    """Sample a (B, C, H, W) panorama along (h, w, 3) directions ->
    (B, C, h, w), wrapping around horizontally."""
    height, width = pano.shape[-2:]
    rays = rays.to(torch.float64)
    u = torch.atan2(rays[..., 1], rays[..., 0])
    v = -torch.asin(rays[..., 2].clamp(-1, 1))
    cols = (u / math.pi + 1) / 2 * width - 0.5
    rows = (v / (math.pi / 2) + 1) / 2 * height - 0.5
    # one wrapped column each side so that bilinear sampling crosses the seam
    padded = torch.cat([pano[..., -1:], pano, pano[..., :1]], dim=-1)
    gx = (cols + 1.5) / (width + 2) * 2 - 1
    gy = (rows + 0.5) / height * 2 - 1
    grid = torch.stack([gx, gy], -1).to(pano.dtype)[None].expand(pano.shape[0], -1, -1, -1)
    return F.grid_sample(padded, grid.to(pano.device), mode=mode, padding_mode='border',
                         align_corners=False)


class PanoramaCrops:
    """Layout of perspective crops covering a panorama, and the stitching.

    Args:
        fov: horizontal (and vertical) field of view of a crop in degrees,
            or an (h_fov, v_fov) pair.
        yaws: number of crops around each ring (evenly spaced, the first
            centred on the panorama's middle column), or explicit yaws.
        pitches: the rings' pitches in degrees (positive up). The default
            90 deg crops at 8 yaws x pitches (-60, 0, 60) cover the sphere.
        crop_size: (h, w) of a crop in pixels; None keeps the panorama's
            angular resolution (``W * fov / 360``).
    """

    def __init__(self, fov=90.0, yaws=8, pitches: Sequence[float] = (-60.0, 0.0, 60.0),
                 crop_size: Optional[Sequence[int]] = None):
        fov_pair = tuple(float(f) for f in (fov if isinstance(fov, (list, tuple)) else (fov, fov)))
        if len(fov_pair) != 2 or not all(0 < f < 180 for f in fov_pair):
            raise ValueError(f'PanoramaCrops: fov must be in (0, 180) degrees, got {fov!r}')
        self.fov = fov_pair
        if isinstance(yaws, int):
            if yaws < 1:
                raise ValueError(f'PanoramaCrops: yaws must be >= 1, got {yaws}')
            yaws = [360.0 * i / yaws for i in range(yaws)]
        self.yaws = [float(y) for y in yaws]
        self.pitches = [float(p) for p in pitches]
        if not self.yaws or not self.pitches:
            raise ValueError('PanoramaCrops: needs at least one yaw and one pitch')
        if any(abs(p) > 90 for p in self.pitches):
            raise ValueError(f'PanoramaCrops: pitches must be in [-90, 90], got {self.pitches}')
        self.crop_size = None if crop_size is None else tuple(int(s) for s in crop_size)

    @property
    def views(self) -> List[Tuple[float, float]]:
        """(yaw, pitch) of every crop."""
        return [(yaw, pitch) for pitch in self.pitches for yaw in self.yaws]

    def size_for(self, pano_hw: Sequence[int]) -> Tuple[int, int]:
        if self.crop_size is not None:
            return self.crop_size
        width = int(pano_hw[1])
        return (max(8, round(width * self.fov[1] / 360.0)),
                max(8, round(width * self.fov[0] / 360.0)))

    def config(self) -> dict:
        return {'mode': 'crops', 'fov': list(self.fov), 'yaws': self.yaws,
                'pitches': self.pitches,
                'crop_size': None if self.crop_size is None else list(self.crop_size)}

    # ------------------------------------------------------------------
    def crop(self, pano: Tensor, view: int) -> Tensor:
        """(C, h, w) perspective crop number ``view`` of a (C, H, W) panorama."""
        yaw, pitch = self.views[view]
        rays = crop_rays(self.fov, yaw, pitch, self.size_for(pano.shape[-2:]))
        return sample_equirect(pano[None], rays.to(pano.device))[0]

    def crops(self, pano: Tensor) -> Tensor:
        """(V, C, h, w) perspective crops of a (C, H, W) panorama."""
        return torch.stack([self.crop(pano, view) for view in range(len(self.views))])

    def stitch(self, crop_values: Union[Tensor, Iterable[Tensor]], pano_hw: Sequence[int],
               out_hw: Optional[Sequence[int]] = None) -> Tensor:
        """Blend per-crop values back onto the panorama.

        ``crop_values`` is a (V, C, h, w) tensor or an iterable yielding the
        (C, h, w) values of each view in :attr:`views` order (so that only
        one crop's values live in memory at a time). ``out_hw`` is the output
        grid (e.g. a label grid with a stride); its cells sample the panorama
        at their centres. Returns (C, Ho, Wo). Raises ``ValueError`` when
        some cell is seen by no crop.
        """
        height, width = int(pano_hw[0]), int(pano_hw[1])
        out_h, out_w = (height, width) if out_hw is None else (int(out_hw[0]), int(out_hw[1]))
        tan_x = math.tan(math.radians(self.fov[0]) / 2)
        tan_y = math.tan(math.radians(self.fov[1]) / 2)
        out = weight_sum = rays = None
        num_seen = 0
        for view, values in enumerate(crop_values):
            if view >= len(self.views):
                raise ValueError(f'PanoramaCrops.stitch: more crops than the {len(self.views)} '
                                 'views')
            num_seen += 1
            device = values.device
            if out is None:
                out = values.new_zeros((values.shape[0], out_h, out_w))
                weight_sum = values.new_zeros((out_h, out_w))
                rows = (torch.arange(out_h, device=device, dtype=torch.float64) + 0.5) \
                    * height / out_h - 0.5
                cols = (torch.arange(out_w, device=device, dtype=torch.float64) + 0.5) \
                    * width / out_w - 0.5
                rr, cc = torch.meshgrid(rows, cols, indexing='ij')
                rays = equirect_directions(height, width, rr, cc)
            cam = rays @ crop_axes(*self.views[view]).to(device).T
            z = cam[..., 2]
            front = z > 1e-9
            safe_z = torch.where(front, z, torch.ones_like(z))
            x = cam[..., 0] / safe_z / tan_x
            y = cam[..., 1] / safe_z / tan_y
            inside = front & (x.abs() <= 1) & (y.abs() <= 1)
            if not bool(inside.any()):
                continue
            # feathering: full weight at the crop centre, ~0 at its border
            weight = ((1 - x.abs()) * (1 - y.abs())).clamp(min=0) + 1e-4
            weight = torch.where(inside, weight, torch.zeros_like(weight)).to(out.dtype)
            grid = torch.stack([x.clamp(-1, 1), y.clamp(-1, 1)], -1).to(values.dtype)[None]
            sampled = F.grid_sample(values[None], grid, mode='bilinear', padding_mode='border',
                                    align_corners=True)[0]
            out += sampled * weight
            weight_sum += weight
        if num_seen != len(self.views):
            raise ValueError(f'PanoramaCrops.stitch: {num_seen} crops for {len(self.views)} views')
        if bool((weight_sum <= 0).any()):
            raise ValueError(
                f'PanoramaCrops: the crops (fov {self.fov}, pitches {self.pitches}, '
                f'{len(self.yaws)} yaws) leave part of the panorama uncovered; widen fov or '
                'add pitches')
        return out / weight_sum


def build_panorama(panorama) -> Optional[PanoramaCrops]:
    """``None`` / ``'whole'`` / ``dict(mode='whole')``: feed panoramas
    whole; ``'crops'`` or ``dict(mode='crops', fov=..., ...)``: crops."""
    if panorama is None or panorama == 'whole':
        return None
    if panorama == 'crops':
        return PanoramaCrops()
    if isinstance(panorama, PanoramaCrops):
        return panorama
    if isinstance(panorama, dict):
        options = dict(panorama)
        mode = options.pop('mode', 'crops')
        if mode == 'whole':
            if options:
                raise ValueError(f'panorama mode "whole" takes no options, got {sorted(options)}')
            return None
        if mode != 'crops':
            raise ValueError(f"panorama mode must be 'whole' or 'crops', got {mode!r}")
        return PanoramaCrops(**options)
    raise TypeError(f'panorama must be None, "whole", "crops" or a dict, got {panorama!r}')
