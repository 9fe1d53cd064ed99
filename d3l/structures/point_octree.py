"""An ocnn octree built from a :class:`PointBatch` and the leaf -> point map."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor

from d3l.utils.errors import D3LError

from .point_batch import PointBatch

#: ways of fitting a cloud into the octree's [-1, 1] cube
NORMALIZE_MODES = ('scene', 'bbox', 'none')


class ExtentError(D3LError, ValueError):
    """A cloud does not fit in the octree's cube. Clamping its points onto
    the border would give them wrong neighbourhoods (and labels), so it is
    an error: crop training clouds to the cube and slide windows over larger
    scenes at test time (``Segmentor`` ``test_cfg``, :mod:`d3l.apis`).

    Attributes:
        cloud: index of the first offending cloud in its batch.
        extent: (3,) bounding-box size of that cloud, in its own units.
        limit: the largest size that fits (``2 * scale`` for ``'scene'``).
    """

    def __init__(self, message: str, cloud: int, extent: Tuple[float, float, float],
                 limit: float):
        super().__init__(message)
        self.cloud = cloud
        self.extent = extent
        self.limit = limit


def _bounds(coord: Tensor, batch: Tensor, batch_size: int) -> Tuple[Tensor, Tensor]:
    """(B, 3) per-cloud minimum and maximum corners."""
    index = batch[:, None].expand(-1, 3)
    low = coord.new_full((batch_size, 3), float('inf')).scatter_reduce(
        0, index, coord, reduce='amin', include_self=True)
    high = coord.new_full((batch_size, 3), float('-inf')).scatter_reduce(
        0, index, coord, reduce='amax', include_self=True)
    return low, high


def _check_inside(normalized: Tensor, coord: Tensor, batch: Tensor, batch_size: int,
                  mode: str, scale: float) -> None:
    outside = (normalized.abs() > 1).any(dim=1)
    if not bool(outside.any()):
        return
    cloud = int(batch[outside][0])
    low, high = _bounds(coord, batch, batch_size)
    extent = tuple(round(float(v), 3) for v in (high[cloud] - low[cloud]))
    count = int((outside & (batch == cloud)).sum())
    if mode == 'scene':
        limit = 2 * scale
        message = (f'cloud {cloud} of the batch spans {extent[0]:g} x {extent[1]:g} x '
                   f'{extent[2]:g} m, larger than the octree cube of {limit:g} m '
                   f'(2 x scale={scale:g}); {count} points would fall outside. Crop training '
                   'clouds to the cube (FitToCube, RandomChunkCrop) and use sliding windows at '
                   "test time (model test_cfg mode='slide')")
    else:
        limit = 2.0
        message = (f'cloud {cloud} of the batch has {count} points outside [-1, 1] '
                   f"(bounding box {extent}) with normalize='none'; use normalize='bbox' or "
                   "'scene' for coordinates that are not normalised")
    raise ExtentError(message, cloud, extent, limit)


def normalize_to_unit_cube(coord: Tensor, batch: Tensor, batch_size: int, mode: str,
                           scale: float = 5.12, margin: float = 0.01) -> Tensor:
    """Map each cloud into the cube [-1, 1]^3 that an ocnn octree spans.

    Args:
        coord: (N, 3) coordinates.
        batch: (N,) cloud index of each point.
        batch_size: number of clouds.
        mode: ``'scene'``: subtract the centre of each cloud's bounding box
            and divide by ``scale`` (metres per unit), so that every scene
            gets the same metric leaf size ``2 * scale / 2 ** depth``
            (5.12 m at depth 9: 2 cm leaves in a 10.24 m cube).
            ``'bbox'``: fit each cloud's bounding box into
            ``[-(1 - margin), 1 - margin]`` (shapes). ``'none'``: the
            coordinates already lie in [-1, 1].
        scale: metres per unit of the cube (``'scene'``).
        margin: free border left by ``'bbox'``.

    Returns:
        (N, 3) coordinates in [-1, 1].

    Raises:
        ExtentError: a cloud does not fit (``'scene'``: larger than
            ``2 * scale`` along an axis; ``'none'``: outside [-1, 1]). No
            point is ever clamped onto the border.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f'normalize must be one of {NORMALIZE_MODES}, got {mode!r}')
    coord = coord.detach().float()
    if not bool(torch.isfinite(coord).all()):
        raise ValueError('PointBatch.coord holds NaN or infinite coordinates')
    if mode == 'none':
        normalized = coord
    else:
        low, high = _bounds(coord, batch, batch_size)
        center = (low + high) / 2
        if mode == 'scene':
            if not scale > 0:
                raise ValueError(f'scale must be > 0, got {scale}')
            normalized = (coord - center[batch]) / scale
        else:
            if not 0 <= margin < 1:
                raise ValueError(f'margin must be in [0, 1), got {margin}')
            half = ((high - low).max(dim=1).values / 2).clamp(min=1e-6)
            normalized = (coord - center[batch]) / half[batch, None] * (1 - margin)
    _check_inside(normalized, coord, batch, batch_size, mode, scale)
    return normalized


@dataclass
class PointOctree:
    """An ocnn octree over a batch of clouds and where each point fell.

    Attributes:
        octree: ``ocnn.octree.Octree`` with ``batch_size`` clouds and all
            neighbourhoods constructed.
        point2leaf: (N,) int64 index of each input point's leaf among the
            **non-empty** nodes at ``depth``.
        query: (N, 4) float32 ``(x, y, z, batch)`` of each point in octree
            units ``[0, 2 ** depth)``, as ``ocnn.nn.octree_*_pts`` expect.
        counts: (L,) int64 points per non-empty leaf.
    """

    octree: object
    point2leaf: Tensor
    query: Tensor
    counts: Tensor

    @property
    def depth(self) -> int:
        return self.octree.depth

    @property
    def num_leaves(self) -> int:
        return self.counts.shape[0]

    @classmethod
    def from_batch(cls, batch: PointBatch, depth: int, full_depth: int = 2,
                   normalize: str = 'scene', scale: float = 5.12,
                   margin: float = 0.01) -> PointOctree:
        """Normalise the clouds (see :func:`normalize_to_unit_cube`) and build
        one batched octree of ``depth`` levels (leaf resolution ``2 ** depth``).
        A cloud that does not fit raises :class:`ExtentError`."""
        from ocnn.octree import Octree, Points

        if not 1 <= full_depth <= depth <= 16:
            raise ValueError(f'need 1 <= full_depth <= depth <= 16, got full_depth={full_depth}, '
                             f'depth={depth}')
        unit = normalize_to_unit_cube(batch.coord, batch.batch, batch.batch_size,
                                      normalize, scale, margin)
        resolution = 2 ** depth
        # [-1, 1] -> [0, 2^depth); the clamp only keeps points lying exactly on
        # the upper faces inside the last cell instead of one past the end
        scaled = ((unit + 1) * (resolution / 2)).clamp(0, resolution * (1 - 1e-6))
        points = Points(scaled, batch_id=batch.batch, batch_size=batch.batch_size)
        octree = Octree(depth, full_depth, batch_size=batch.batch_size, device=batch.device)
        point2leaf = octree.build_octree(points, bbmin=0.0, bbmax=float(resolution))
        octree.construct_all_neigh()
        counts = torch.bincount(point2leaf, minlength=int(octree.nnum_nempty[depth]))
        query = torch.cat([scaled, batch.batch[:, None].float()], dim=1)
        return cls(octree=octree, point2leaf=point2leaf.long(), query=query, counts=counts)

    def pool(self, values: Tensor) -> Tensor:
        """Average per-point values (N, C) over each non-empty leaf -> (L, C)."""
        if values.shape[0] != self.point2leaf.shape[0]:
            raise ValueError(f'expected {self.point2leaf.shape[0]} rows to pool, '
                             f'got {values.shape[0]}')
        summed = values.new_zeros((self.num_leaves, values.shape[1]))
        summed.index_add_(0, self.point2leaf, values)
        return summed / self.counts.to(values.dtype)[:, None]

    def leaf_points(self) -> Tensor:
        """(L, 3) mean position of the points of each leaf, octree units."""
        return self.octree.points[self.depth]
