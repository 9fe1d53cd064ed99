"""Transforms that keep a spatial subset of a cloud: chunk crops of large
scenes and a cap on the points per sample. Every per-point key
(:data:`~d3l.datasets.transforms.utils.POINT_KEYS`, ``pixel_index``
included) is indexed alongside, so the mapping back to pixels survives.

With ``keep_labeled=True`` (sparse annotations, ScanNet LA) a crop always
keeps at least one annotated point (``label_key`` != ``ignore_index``): it is
placed around an annotated point drawn at random. The annotated points it
still cuts off are added to the sample's ``num_labeled_dropped`` and tallied
in the log. Samples without annotated points are cropped as without it."""
import os
from typing import Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log

from d3l.geometry import bounding_box
from d3l.registry import TRANSFORMS
from d3l.utils.jit import lazy_njit

from .augmentation import RandomPointTransform
from .sampling import labeled_mask
from .utils import select_points

#: set to False for LimitPoints' NumPy distances (tests compare the two)
USE_NUMBA = True


def _squared_distances_kernel(points, center, out):  # pragma: no cover - numba
    """float64 ``(x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2`` per point,
    summed left to right as the NumPy columns are (numba neither contracts
    nor reorders without fastmath): the same bits, in one pass."""
    cx, cy, cz = center[0], center[1], center[2]
    for i in range(points.shape[0]):
        dx = np.float64(points[i, 0]) - cx
        dy = np.float64(points[i, 1]) - cy
        dz = np.float64(points[i, 2]) - cz
        out[i] = dx * dx + dy * dy + dz * dz


def squared_distances(points: np.ndarray, center: np.ndarray) -> np.ndarray:
    """(N,) float64 squared distances of (N, 3) points to ``center``."""
    kernel = lazy_njit(_squared_distances_kernel) if USE_NUMBA else None
    points = np.asarray(points)
    if kernel is not None and points.ndim == 2 and points.shape[1] == 3:
        out = np.empty(len(points), np.float64)
        kernel(np.ascontiguousarray(points), np.asarray(center, np.float64), out)
        return out
    # per column, summed in np.sum's order: same distances, 3x faster than
    # the (N, 3) temporaries
    dist = (points[:, 0].astype(np.float64) - center[0]) ** 2
    for axis in (1, 2):
        dist += (points[:, axis].astype(np.float64) - center[axis]) ** 2
    return dist


class LabeledDropTally:
    """Per-process count of the annotated points a crop transform cut off,
    logged at the first loss and then every ``log_every`` crops that lost
    some (dataloader workers each keep their own tally)."""

    def __init__(self, owner: str, log_every: int = 100):
        self.owner = owner
        self.log_every = log_every
        self.samples = self.lossy_samples = self.labeled = self.dropped = 0

    def add(self, results: dict, num_labeled: int, num_dropped: int) -> None:
        results['num_labeled_dropped'] = int(results.get('num_labeled_dropped', 0)) + num_dropped
        self.samples += 1
        self.labeled += num_labeled
        self.dropped += num_dropped
        if num_dropped == 0:
            return
        self.lossy_samples += 1
        if self.lossy_samples == 1 or self.lossy_samples % self.log_every == 0:
            print_log(f'{self.owner}(keep_labeled=True): crops so far cut off {self.dropped} of '
                      f'{self.labeled} annotated points ({self.lossy_samples} of {self.samples} '
                      f'cropped samples lost some; process {os.getpid()})',
                      logger='current', level=30)


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
        keep_labeled: only chunks holding an annotated point are acceptable
            (``mode='random'`` places the chunk around a random annotated
            point); the annotated points left out are counted (module doc).
        label_key / ignore_index: what marks an annotated point.
    """

    def __init__(self, chunk_size: Union[float, Sequence[float]] = 10.0,
                 stride: Union[float, Sequence[float]] = 5.0, min_points: int = 3000,
                 mode: str = 'grid', prob: float = 1.0, seed: Optional[int] = None,
                 keep_labeled: bool = False, label_key: str = 'labels',
                 ignore_index: int = 255):
        super().__init__(prob, seed)
        self.keep_labeled = bool(keep_labeled)
        self.label_key = label_key
        self.ignore_index = ignore_index
        self.tally = LabeledDropTally(type(self).__name__)
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
        lo, hi = (b.astype(np.float64) for b in bounding_box(points))
        if np.all(hi - lo <= self.chunk_size):
            return results
        _refuse_inverse(type(self).__name__, results)
        labeled = (labeled_mask(results, self.label_key, self.ignore_index)
                   if self.keep_labeled else None)
        if self.mode == 'grid':
            origins = chunk_origins(lo, hi, self.chunk_size, self.stride)
            origins = origins[rng.permutation(len(origins))]
        elif labeled is None:
            span = np.maximum(hi - lo - self.chunk_size, 0)
            origins = lo + rng.random((16, 3)) * span
        else:
            origins = self._origins_around(points[rng.choice(np.flatnonzero(labeled), 16)],
                                           lo, hi, rng)
        best, origin = self._pick(points, origins, labeled)
        if best is None:  # no chunk holds an annotated point (rounding at a chunk's edge)
            best, origin = self._pick(points, origins, None)
        results['chunk_origin'] = origin.astype(np.float32)
        if labeled is not None:
            self.tally.add(results, int(labeled.sum()), int(labeled[~best].sum()))
        return select_points(results, np.flatnonzero(best))

    def _pick(self, points: np.ndarray, origins: np.ndarray, labeled: Optional[np.ndarray]):
        """The first chunk with ``min_points`` (else the fullest) among those
        holding an annotated point when ``labeled`` is given: (mask, origin)."""
        best, best_origin, best_count = None, None, -1
        for origin in origins:
            inside = self._inside(points, origin)
            if labeled is not None and not labeled[inside].any():
                continue
            count = int(inside.sum())
            if count >= self.min_points:
                return inside, origin
            if count > best_count:
                best, best_origin, best_count = inside, origin, count
        return best, best_origin

    def _origins_around(self, anchors: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        """Chunk corners uniform among the chunks inside the scene's box
        that contain each anchor point."""
        corners = anchors - rng.random(anchors.shape) * self.chunk_size
        return np.clip(corners, lo, np.maximum(lo, hi - self.chunk_size))

    def __repr__(self):
        return (f'{type(self).__name__}(chunk_size={self.chunk_size.tolist()}, '
                f'stride={self.stride.tolist()}, min_points={self.min_points}, '
                f'mode={self.mode!r}, keep_labeled={self.keep_labeled})')


@TRANSFORMS.register_module()
class LimitPoints(RandomPointTransform):
    """Cap the number of points of a sample at ``max_points``.

    ``mode='sphere'`` keeps the ``max_points`` points nearest to a random
    point of the cloud (a spatially coherent crop, the usual choice for
    segmentation); ``'center'`` those nearest to the bounding-box centre
    (deterministic, for evaluation); ``'random'`` a uniform random subset.
    Kept points stay in their original order.

    With ``keep_labeled=True`` the sphere is centred on a random annotated
    point, ``'center'`` moves to the annotated point nearest the box centre
    when none would be kept, and ``'random'`` keeps every annotated point
    (up to ``max_points``); the annotated points cut off are counted (module
    doc).
    """

    def __init__(self, max_points: int = 120000, mode: str = 'sphere',
                 seed: Optional[int] = None, keep_labeled: bool = False,
                 label_key: str = 'labels', ignore_index: int = 255):
        super().__init__(1.0, seed)
        self.keep_labeled = bool(keep_labeled)
        self.label_key = label_key
        self.ignore_index = ignore_index
        self.tally = LabeledDropTally(type(self).__name__)
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
        labeled = (labeled_mask(results, self.label_key, self.ignore_index)
                   if self.keep_labeled else None)
        if self.mode == 'random':
            keep = (rng.choice(len(points), self.max_points, replace=False) if labeled is None
                    else self._random_with_labeled(labeled, rng))
        else:
            if self.mode == 'sphere':
                if labeled is None:  # the draw of pool[...] with pool = arange(N), without it
                    center = points[rng.integers(len(points))].astype(np.float64)
                else:
                    pool = np.flatnonzero(labeled)
                    center = points[pool[rng.integers(len(pool))]].astype(np.float64)
            else:
                lo, hi = bounding_box(points)
                center = (lo.astype(np.float64) + hi) / 2
            keep = self._nearest(points, center)
            if labeled is not None and not labeled[keep].any():
                annotated = np.flatnonzero(labeled)
                dist = np.sum((points[annotated] - center) ** 2, axis=1)
                keep = self._nearest(points, points[annotated[np.argmin(dist)]].astype(np.float64))
        if labeled is not None:
            self.tally.add(results, int(labeled.sum()),
                           int(labeled.sum() - labeled[keep].sum()))
        # _nearest's indices are sorted already
        return select_points(results, np.sort(keep) if self.mode == 'random' else keep)

    def _nearest(self, points: np.ndarray, center: np.ndarray) -> np.ndarray:
        """Sorted indices of the ``max_points`` points nearest to ``center``."""
        dist = squared_distances(points, center)
        count = self.max_points
        # the k-th distance by a partition of the values, then the points within
        # it in index order: 3x faster than argpartition + sort, and the same
        # points when no other point ties the k-th distance (the set is unique)
        within = dist <= np.partition(dist, count - 1)[count - 1]
        if np.count_nonzero(within) == count:
            return np.flatnonzero(within)
        # ties at the k-th distance (or NaN): argpartition's choice, as before
        return np.sort(np.argpartition(dist, count - 1)[:count])

    def _random_with_labeled(self, labeled: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        annotated, others = np.flatnonzero(labeled), np.flatnonzero(~labeled)
        if len(annotated) >= self.max_points:
            return rng.choice(annotated, self.max_points, replace=False)
        fill = rng.choice(others, self.max_points - len(annotated), replace=False)
        return np.concatenate([annotated, fill])

    def __repr__(self):
        return (f'{type(self).__name__}(max_points={self.max_points}, mode={self.mode!r}, '
                f'keep_labeled={self.keep_labeled})')
