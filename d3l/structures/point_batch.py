"""The batch structure that every d3l backbone consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence

import torch
from torch import Tensor

from d3l.utils.errors import D3LError


class BadPointInputError(D3LError, ValueError):
    """Points that must not reach a backbone (NaN / infinite coordinates or
    features, a feature width the backbone was not built for, too few points
    to train on); the message names the scenes / frames."""


@dataclass
class PointBatch:
    """Several point clouds concatenated along the first axis.

    Attributes:
        coord: (N, 3) float32 coordinates in metres (scenes) or in the unit
            cube (shapes), as the dataset's pipeline left them.
        feat: (N, F) float32 input features (colours, normals, ...).
        batch: (N,) int64 index of the cloud each point belongs to,
            non-decreasing, in ``[0, batch_size)``.
        batch_size: number of clouds (a cloud may not be empty).
        cache: per-backbone structures built from this batch
            (:class:`VoxelGrid`, :class:`PointOctree`: the maps from voxels /
            octants back to the points), keyed by the settings they depend
            on, so that two modules reading the same batch build them once.
            They depend on the coordinates only, so :meth:`with_feat` shares
            them. Never serialised.
    """

    coord: Tensor
    feat: Tensor
    batch: Tensor
    batch_size: int
    cache: Dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.coord.dim() != 2 or self.coord.shape[1] != 3:
            raise ValueError(f'PointBatch.coord must be (N, 3), got {tuple(self.coord.shape)}')
        num_points = self.coord.shape[0]
        if self.feat.dim() != 2 or self.feat.shape[0] != num_points:
            raise ValueError(
                f'PointBatch.feat must be (N, F) with N={num_points}, got {tuple(self.feat.shape)}')
        if self.batch.shape != (num_points,):
            raise ValueError(
                f'PointBatch.batch must be (N,) with N={num_points}, got {tuple(self.batch.shape)}')
        if not self.coord.is_floating_point():
            raise TypeError(f'PointBatch.coord must be floating point, got {self.coord.dtype}')
        if self.batch.dtype != torch.int64:
            self.batch = self.batch.long()
        if num_points == 0:
            raise ValueError('PointBatch is empty: every cloud needs at least one point')
        if self.batch_size < 1:
            raise ValueError(f'PointBatch.batch_size must be >= 1, got {self.batch_size}')

    # ------------------------------------------------------------------
    @classmethod
    def from_list(cls, coords: Sequence[Tensor], feats: Sequence[Tensor]) -> PointBatch:
        """Concatenate per-cloud ``(N_i, 3)`` coords and ``(N_i, F)`` feats."""
        if len(coords) == 0 or len(coords) != len(feats):
            raise ValueError(
                f'PointBatch.from_list needs as many feats as coords (>0), got '
                f'{len(coords)} and {len(feats)}')
        for i, coord in enumerate(coords):
            if coord.shape[0] == 0:
                raise ValueError(f'cloud {i} of the batch has no points')
        batch = torch.cat([
            torch.full((c.shape[0],), i, dtype=torch.long, device=c.device)
            for i, c in enumerate(coords)])
        return cls(torch.cat(list(coords)), torch.cat(list(feats)), batch, len(coords))

    @property
    def num_points(self) -> int:
        return self.coord.shape[0]

    @property
    def device(self) -> torch.device:
        return self.coord.device

    @property
    def counts(self) -> Tensor:
        """(B,) number of points of each cloud."""
        return torch.bincount(self.batch, minlength=self.batch_size)

    @property
    def offsets(self) -> Tensor:
        """(B + 1,) start of each cloud in the concatenation, then N."""
        counts = self.counts
        return torch.cat([counts.new_zeros(1), counts.cumsum(0)])

    def split(self, values: Tensor) -> List[Tensor]:
        """Split a per-point tensor (N, ...) into one tensor per cloud."""
        if values.shape[0] != self.num_points:
            raise ValueError(
                f'expected {self.num_points} rows to split, got {values.shape[0]}')
        return list(torch.split(values, self.counts.tolist()))

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """``cache[key]``, built with ``build()`` on first use (voxel grids,
        octrees: several modules reading one batch build them once)."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    def to(self, device) -> PointBatch:
        return PointBatch(self.coord.to(device), self.feat.to(device),
                          self.batch.to(device), self.batch_size)

    def with_feat(self, feat: Tensor) -> PointBatch:
        """The same clouds (and cache) with other features."""
        return PointBatch(self.coord, feat, self.batch, self.batch_size, self.cache)


def sample_name(data_samples: Optional[Sequence[dict]], index: int) -> str:
    """How an error names cloud ``index`` of a batch: its scene / frame /
    shape id or file from the data sample's ``metainfo``."""
    if data_samples and index < len(data_samples):
        meta = (data_samples[index] or {}).get('metainfo') or {}
        for key in ('frame_id', 'scene_id', 'shape_id', 'img_path', 'lidar_path'):
            if meta.get(key) is not None:
                return f'{key.split("_")[0]} {meta[key]}'
        if meta.get('sample_idx') is not None:
            return f'sample {meta["sample_idx"]}'
    return f'cloud {index} of the batch'


def _names(data_samples, indices: Sequence[int], limit: int = 5) -> str:
    names = [sample_name(data_samples, int(i)) for i in indices[:limit]]
    more = len(indices) - limit
    return ', '.join(names) + (f' and {more} more' if more > 0 else '')


def check_point_batch(batch: PointBatch, data_samples: Optional[Sequence[dict]] = None,
                      in_channels: Optional[int] = None, min_points: int = 1) -> None:
    """Refuse a batch a backbone would turn into a silently wrong result:
    NaN / infinite coordinates or features (one NaN vertex makes the octree
    normalisation map the whole scene to one cell), a feature width other
    than ``in_channels``, or fewer than ``min_points`` points (training needs
    2: BatchNorm of a single value). Names the scenes and counts the values.

    Raises:
        BadPointInputError
    """
    if in_channels is not None and batch.feat.shape[1] != in_channels:
        raise BadPointInputError(
            f'{_names(data_samples, range(batch.batch_size))}: the batch has '
            f'{batch.feat.shape[1]} feature channels but the backbone was built with '
            f'in_channels={in_channels} (check the feat_keys of PackPointInputs and the '
            "backbone's in_channels)")
    for what, values in (('coordinates', batch.coord), ('features', batch.feat)):
        if values.is_floating_point():
            bad_rows = ~torch.isfinite(values).all(dim=1)
            if bool(bad_rows.any()):
                per_cloud = torch.bincount(batch.batch[bad_rows], minlength=batch.batch_size)
                clouds = torch.nonzero(per_cloud).flatten().tolist()
                detail = '; '.join(f'{sample_name(data_samples, i)}: {int(per_cloud[i])} of '
                                   f'{int(batch.counts[i])} points' for i in clouds[:5])
                raise BadPointInputError(
                    f'{_names(data_samples, clouds)}: NaN / infinite point {what} ({detail}); '
                    'fix or drop those points in the data')
    if batch.num_points < min_points:
        raise BadPointInputError(
            f'{_names(data_samples, range(batch.batch_size))}: a training batch of '
            f'{batch.num_points} point(s); training needs at least {min_points} (BatchNorm '
            'statistics), check the crop / sampling settings that left so few points')


def concat_targets(data_samples: Sequence[dict], key: str,
                   device: Optional[torch.device] = None) -> Optional[Tensor]:
    """Concatenate a per-point target (e.g. ``labels``) over data samples;
    None when no sample has it."""
    values = [s[key] for s in data_samples if s.get(key) is not None]
    if not values:
        return None
    if len(values) != len(data_samples):
        raise ValueError(f'only {len(values)} of {len(data_samples)} samples have {key!r}')
    out = torch.cat([torch.as_tensor(v) for v in values])
    return out.to(device) if device is not None else out
