"""Transforms that keep a spatial subset of a cloud: chunk crops of large
scenes and a cap on the points per sample. Every per-point key
(:data:`~d3l.datasets.transforms.utils.POINT_KEYS`, ``pixel_index``
included) is indexed alongside, so the mapping back to pixels survives."""
from typing import Optional, Sequence, Union

import numpy as np

from d3l.registry import TRANSFORMS

from .augmentation import RandomPointTransform
from .utils import select_points


def _refuse_inverse(name: str, results: dict) -> None:
    if results.get('inverse') is not None:
        raise ValueError(
            f'{name}: the sample has "inverse" (GridSample(return_inverse=True)); cropping '
            'would break the mapping to the original points. Crop before GridSample, or use '
            'the crop in training pipelines only')


def chunk_origins(lo: np.ndarray, hi: np.ndarray, size: np.ndarray,
                  stride: np.ndarray) -> np.ndarray:
    """(M, 3) minimum corners of the chunk grid covering ``[lo, hi]``: along
    each axis ``ceil(max(extent - size, 0) / stride) + 1`` chunks, starting at
    ``lo`` every ``stride``."""
    extent = hi - lo
    counts = np.ceil(np.maximum(extent - size, 0) / stride).astype(np.int64) + 1
    grids = np.meshgrid(*[np.arange(c) for c in counts], indexing='ij')
    steps = np.stack([g.reshape(-1) for g in grids], 1)
    return lo + steps * stride


@TRANSFORMS.register_module()
class RandomChunkCrop(RandomPointTransform):
    """Keep one chunk (an axis-aligned box of ``chunk_size`` metres) of a
    large scene.

    Clouds that fit in one chunk are left unchanged. Otherwise, with
    ``mode='grid'`` the chunk is drawn among the grid of chunks with
    ``stride`` spacing that hold at least ``min_points`` points (the
    reference implementation cut panorama scenes into 10 m chunks with a 5 m
    stride and dropped chunks under 3000 points); with ``mode='random'`` the
    chunk corner is uniform over the scene. When no chunk has
    ``min_points``, the fullest one is kept. The chunk's minimum corner is
    stored in ``chunk_origin``.

    Args:
        chunk_size: edge length(s) in metres (scalar or per axis); use a
            large z size to crop in x/y only.
        stride: grid spacing for ``mode='grid'``.
        min_points: fewest points of an acceptable chunk.
    """

    def __init__(self, chunk_size: Union[float, Sequence[float]] = 10.0,
                 stride: Union[float, Sequence[float]] = 5.0, min_points: int = 3000,
                 mode: str = 'grid', prob: float = 1.0, seed: Optional[int] = None):
        super().__init__(prob, seed)
        if mode not in ('grid', 'random'):
            raise ValueError(f"RandomChunkCrop: mode must be 'grid' or 'random', got {mode!r}")
        self.chunk_size = np.broadcast_to(np.asarray(chunk_size, np.float64), (3,)).copy()
        self.stride = np.broadcast_to(np.asarray(stride, np.float64), (3,)).copy()
        if (self.chunk_size <= 0).any() or (self.stride <= 0).any():
            raise ValueError('RandomChunkCrop: chunk_size and stride must be > 0')
        self.min_points = int(min_points)
        self.mode = mode

    def _inside(self, points, origin):
        return np.all((points >= origin) & (points <= origin + self.chunk_size), axis=1)

    def apply(self, results, rng):
        points = np.asarray(results['points'])
        if len(points) == 0:
            return results
        lo, hi = points.min(0).astype(np.float64), points.max(0).astype(np.float64)
        if np.all(hi - lo <= self.chunk_size):
            return results
        _refuse_inverse(type(self).__name__, results)
        if self.mode == 'grid':
            origins = chunk_origins(lo, hi, self.chunk_size, self.stride)
            origins = origins[rng.permutation(len(origins))]
        else:
            span = np.maximum(hi - lo - self.chunk_size, 0)
            origins = lo + rng.random((16, 3)) * span
        best, best_count = None, -1
        for origin in origins:
            inside = self._inside(points, origin)
            count = int(inside.sum())
            if count >= self.min_points:
                best = inside
                results['chunk_origin'] = origin.astype(np.float32)
                break
            if count > best_count:
                best, best_count = inside, count
                results['chunk_origin'] = origin.astype(np.float32)
        return select_points(results, np.flatnonzero(best))

    def __repr__(self):
        return (f'{type(self).__name__}(chunk_size={self.chunk_size.tolist()}, '
                f'stride={self.stride.tolist()}, min_points={self.min_points}, '
                f'mode={self.mode!r})')


@TRANSFORMS.register_module()
class LimitPoints(RandomPointTransform):
    """Cap the number of points of a sample at ``max_points``.

    ``mode='sphere'`` keeps the ``max_points`` points nearest to a random
    point of the cloud (a spatially coherent crop, the usual choice for
    segmentation); ``'center'`` those nearest to the bounding-box centre
    (deterministic, for evaluation); ``'random'`` a uniform random subset.
    Kept points stay in their original order.
    """

    def __init__(self, max_points: int = 120000, mode: str = 'sphere',
                 seed: Optional[int] = None):
        super().__init__(1.0, seed)
        if max_points <= 0:
            raise ValueError(f'LimitPoints: max_points must be > 0, got {max_points}')
        if mode not in ('sphere', 'center', 'random'):
            raise ValueError(f"LimitPoints: mode must be 'sphere', 'center' or 'random', got "
                             f'{mode!r}')
        self.max_points = int(max_points)
        self.mode = mode

    def apply(self, results, rng):
        points = np.asarray(results['points'])
        if len(points) <= self.max_points:
            return results
        _refuse_inverse(type(self).__name__, results)
        if self.mode == 'random':
            keep = rng.choice(len(points), self.max_points, replace=False)
        else:
            if self.mode == 'sphere':
                center = points[rng.integers(len(points))].astype(np.float64)
            else:
                center = (points.min(0).astype(np.float64) + points.max(0)) / 2
            dist = np.sum((points - center) ** 2, axis=1)
            keep = np.argpartition(dist, self.max_points - 1)[:self.max_points]
        return select_points(results, np.sort(keep))

    def __repr__(self):
        return f'{type(self).__name__}(max_points={self.max_points}, mode={self.mode!r})'
