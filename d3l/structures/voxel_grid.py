"""Sparse voxelisation of a :class:`PointBatch` and the voxel -> point map."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch
from torch import Tensor

from .point_batch import PointBatch


@dataclass
class VoxelGrid:
    """The occupied voxels of a batch of clouds and where each point fell.

    Voxel coordinates are integer cells of ``voxel_size`` metres, shifted per
    cloud so that its lowest occupied cell is 0 on every axis. That shift
    makes the grid (and any network on it, strided layers included) invariant
    to translating a cloud by a multiple of the voxel size.

    Attributes:
        coords: (M, 4) int32 ``(batch, x, y, z)`` per occupied voxel (the
            layout ``spconv`` expects), sorted by cloud, then x, y, z. The
            order depends only on the geometry, never on the point order.
        point2voxel: (N,) int64 voxel of each input point.
        counts: (M,) int64 number of points in each voxel.
        spatial_shape: grid extent ``[X, Y, Z]`` (a multiple of
            ``shape_multiple`` so that strided layers keep every voxel).
        voxel_size: edge of a voxel in metres.
        batch_size: number of clouds.
    """

    coords: Tensor
    point2voxel: Tensor
    counts: Tensor
    spatial_shape: List[int]
    voxel_size: float
    batch_size: int

    @property
    def num_voxels(self) -> int:
        return self.coords.shape[0]

    @property
    def batch(self) -> Tensor:
        """(M,) int64 cloud of each voxel."""
        return self.coords[:, 0].long()

    @classmethod
    def from_batch(cls, batch: PointBatch, voxel_size: float,
                   shape_multiple: int = 1) -> VoxelGrid:
        """Voxelise ``batch.coord`` (metres) at ``voxel_size``.

        Args:
            batch: the clouds.
            voxel_size: voxel edge in the units of ``batch.coord``.
            shape_multiple: round ``spatial_shape`` up to a multiple of this
                (``2 ** num_strided_layers`` for a U-Net).
        """
        if not voxel_size > 0:
            raise ValueError(f'voxel_size must be > 0, got {voxel_size}')
        if shape_multiple < 1:
            raise ValueError(f'shape_multiple must be >= 1, got {shape_multiple}')
        coord = batch.coord.detach()
        if not torch.isfinite(coord).all():
            raise ValueError('PointBatch.coord holds NaN or infinite coordinates')
        # float64: flooring x / voxel_size must not depend on float32 rounding
        # of large coordinates, or translated copies of a cloud would differ
        cell = torch.floor(coord.double() / voxel_size).long()
        index = batch.batch[:, None].expand(-1, 3)
        lowest = cell.new_full((batch.batch_size, 3), torch.iinfo(torch.int64).max)
        lowest = lowest.scatter_reduce(0, index, cell, reduce='amin', include_self=True)
        cell = cell - lowest[batch.batch]
        extent = (cell.max(0).values + 1).tolist()
        shape = [-(-size // shape_multiple) * shape_multiple for size in extent]
        total = batch.batch_size * shape[0] * shape[1] * shape[2]
        if total >= 2 ** 62:
            raise ValueError(
                f'voxel grid of {shape} cells x {batch.batch_size} clouds is too large for '
                f'int64 keys: is voxel_size={voxel_size} in the units of the coordinates?')
        key = ((batch.batch * shape[0] + cell[:, 0]) * shape[1] + cell[:, 1]) * shape[2] \
            + cell[:, 2]
        unique, inverse, counts = torch.unique(
            key, sorted=True, return_inverse=True, return_counts=True)
        z = unique % shape[2]
        rest = unique // shape[2]
        y = rest % shape[1]
        rest = rest // shape[1]
        x = rest % shape[0]
        b = rest // shape[0]
        coords = torch.stack([b, x, y, z], dim=1).int()
        return cls(coords=coords, point2voxel=inverse, counts=counts, spatial_shape=shape,
                   voxel_size=float(voxel_size), batch_size=batch.batch_size)

    def pool(self, values: Tensor) -> Tensor:
        """Average per-point values (N, C) over each voxel -> (M, C)."""
        if values.shape[0] != self.point2voxel.shape[0]:
            raise ValueError(f'expected {self.point2voxel.shape[0]} rows to pool, '
                             f'got {values.shape[0]}')
        summed = values.new_zeros((self.num_voxels,) + values.shape[1:])
        summed.index_add_(0, self.point2voxel, values)
        return summed / self.counts.to(values.dtype).view(-1, *([1] * (values.dim() - 1)))

    def to_points(self, voxel_values: Tensor) -> Tensor:
        """Per-voxel values (M, C) -> per input point (N, C), in input order."""
        if voxel_values.shape[0] != self.num_voxels:
            raise ValueError(f'expected {self.num_voxels} voxel rows, got '
                             f'{voxel_values.shape[0]}')
        return voxel_values[self.point2voxel]
