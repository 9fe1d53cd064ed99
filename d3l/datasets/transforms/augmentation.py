"""Point-cloud augmentations of the paper's pre-training (and of the
downstream scenes): random rotation about the up axis with small tilts,
random scaling, random flips, elastic distortion (the colour ones are in
:mod:`.color_augmentation`).

All work on ``points`` (z up) and, where present, ``normals`` and ``colors``
(RGB in [0, 1]); no point is added or removed, so every per-point key
(:data:`~d3l.datasets.transforms.utils.POINT_KEYS`) stays aligned.

Randomness: with ``seed=None`` (training) each call draws from numpy's
global generator, which MMEngine seeds differently in every DataLoader
worker and rank, so workers do not repeat each other. A fixed ``seed`` gives
a private generator (reproducible tests).
"""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from scipy import ndimage

from d3l.geometry import bounding_box, euler_to_matrix
from d3l.geometry.interpolation import displace
from d3l.registry import TRANSFORMS
from d3l.utils.jit import lazy_njit

from .utils import retain_freed_memory

#: set to False for the NumPy expression of RandomScale (tests compare the two)
USE_NUMBA = True


def _scale_kernel(points, center, scale, out):  # pragma: no cover - numba
    """``(points - center) * scale + center`` row by row in float32: the
    operations of the NumPy expression, in its order (numba neither contracts
    nor reorders them without fastmath), so the same bits, without its three
    passes over (N, 3) arrays."""
    for i in range(points.shape[0]):
        for axis in range(3):
            out[i, axis] = (points[i, axis] - center[axis]) * scale[axis] + center[axis]


def _scaled(points: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 ``(points - center) * scale + center`` ((N, 3), (3,), (3,))."""
    kernel = lazy_njit(_scale_kernel) if USE_NUMBA else None
    if kernel is not None and points.ndim == 2 and points.shape[1] == 3:
        out = np.empty(points.shape, np.float32)
        kernel(np.ascontiguousarray(points), center, scale, out)
        return out
    moved = points - center
    moved *= scale
    moved += center
    return moved


class RandomPointTransform(BaseTransform):
    """Base of the random point transforms: ``prob`` and the generator."""

    def __init__(self, prob: float = 1.0, seed: Optional[int] = None):
        if not 0 <= prob <= 1:
            raise ValueError(f'{type(self).__name__}: prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.seed = seed
        self._generator = np.random.default_rng(seed) if seed is not None else None

    def rng(self) -> np.random.Generator:
        if self._generator is not None:
            return self._generator
        return np.random.default_rng(np.random.randint(0, 2 ** 31 - 1, size=4))

    def transform(self, results: dict) -> dict:
        if 'points' not in results:
            raise KeyError(f'{type(self).__name__}: the sample has no "points"')
        retain_freed_memory()
        rng = self.rng()
        if self.prob < 1 and rng.random() >= self.prob:
            return results
        return self.apply(results, rng)

    def apply(self, results: dict, rng: np.random.Generator) -> dict:
        raise NotImplementedError


def _center(points: np.ndarray, mode: str) -> np.ndarray:
    """float64 centre of ``points``; the box from per-column reductions
    (``bounding_box``: ~25x faster than ``points.min(0)``, same values)."""
    if mode == 'origin':
        return np.zeros(3)
    if mode == 'bbox':
        lo, hi = bounding_box(points)
        return (lo.astype(np.float64) + hi) / 2.0
    if mode == 'mean':
        return points.mean(0, dtype=np.float64)
    raise ValueError(f"center must be 'origin', 'bbox' or 'mean', got {mode!r}")


@TRANSFORMS.register_module()
class RandomRotate(RandomPointTransform):
    """Rotate about the up (z) axis by an angle in ``angle_range`` and tilt
    about x and y by angles in ``tilt_range`` (radians), around the cloud's
    bounding-box centre (``center``). Normals rotate with the points. The
    rotation applied is stored in ``rotation`` (3x3, composed with earlier
    ones).

    The defaults follow the paper's pre-training: any angle about z, tilts
    of at most pi/64.
    """

    def __init__(self, angle_range: Tuple[float, float] = (-np.pi, np.pi),
                 tilt_range: Tuple[float, float] = (-np.pi / 64, np.pi / 64),
                 center: str = 'bbox', prob: float = 1.0, seed: Optional[int] = None):
        super().__init__(prob, seed)
        _center(np.zeros((1, 3)), center)
        self.angle_range = tuple(angle_range)
        self.tilt_range = tuple(tilt_range)
        self.center = center

    def apply(self, results, rng):
        angles = (rng.uniform(*self.tilt_range), rng.uniform(*self.tilt_range),
                  rng.uniform(*self.angle_range))
        rotation = euler_to_matrix(angles, 'xyz')
        points = np.asarray(results['points'], np.float32)
        if len(points):
            # float32 products (4x faster than float64 round trips): within ~1e-7 of
            # the coordinates' size of the float64 result, as float32 points are anyway
            center = _center(points, self.center).astype(np.float32)
            rotation_t = np.ascontiguousarray(rotation.T, np.float32)
            moved = (points - center) @ rotation_t
            moved += center
            results['points'] = moved
        if results.get('normals') is not None:
            results['normals'] = np.asarray(results['normals'], np.float32) @ np.asarray(
                rotation.T, np.float32)
        previous = results.get('rotation')
        results['rotation'] = rotation if previous is None else rotation @ previous
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(angle_range={self.angle_range}, '
                f'tilt_range={self.tilt_range}, center={self.center!r}, prob={self.prob})')


@TRANSFORMS.register_module()
class RandomScale(RandomPointTransform):
    """Scale the cloud about its bounding-box centre by a factor in
    ``scale_range`` (one factor, or one per axis with ``anisotropic``).
    Normals follow the inverse-transpose rule and stay unit length."""

    def __init__(self, scale_range: Tuple[float, float] = (0.9, 1.1),
                 anisotropic: bool = False, center: str = 'bbox', prob: float = 1.0,
                 seed: Optional[int] = None):
        super().__init__(prob, seed)
        if scale_range[0] <= 0 or scale_range[1] < scale_range[0]:
            raise ValueError(f'RandomScale: invalid scale_range {scale_range}')
        _center(np.zeros((1, 3)), center)
        self.scale_range = tuple(scale_range)
        self.anisotropic = anisotropic
        self.center = center

    def apply(self, results, rng):
        scale = rng.uniform(*self.scale_range, size=3 if self.anisotropic else 1)
        scale = np.broadcast_to(scale, (3,))
        points = np.asarray(results['points'], np.float32)
        if len(points):  # float32, as RandomRotate
            center = _center(points, self.center).astype(np.float32)
            results['points'] = _scaled(points, center, scale.astype(np.float32))
        if self.anisotropic and results.get('normals') is not None:
            normals = np.asarray(results['normals'], np.float64) / scale
            norm = np.linalg.norm(normals, axis=1, keepdims=True)
            results['normals'] = (normals / np.maximum(norm, 1e-12)).astype(np.float32)
        results['scale_factor'] = np.asarray(scale, np.float32)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(scale_range={self.scale_range}, '
                f'anisotropic={self.anisotropic}, prob={self.prob})')


@TRANSFORMS.register_module()
class RandomFlip(RandomPointTransform):
    """Mirror the cloud about its bounding-box centre along each axis of
    ``axes`` independently with probability ``flip_prob`` (normals too)."""

    def __init__(self, axes: Sequence[str] = ('x', 'y'), flip_prob: float = 0.5,
                 prob: float = 1.0, seed: Optional[int] = None):
        super().__init__(prob, seed)
        unknown = set(axes) - {'x', 'y', 'z'}
        if unknown:
            raise ValueError(f'RandomFlip: unknown axes {sorted(unknown)}')
        self.axes = tuple(axes)
        self.flip_prob = flip_prob

    def apply(self, results, rng):
        points = np.asarray(results['points'], np.float32).copy()
        normals = results.get('normals')
        normals = None if normals is None else np.asarray(normals, np.float32).copy()
        if len(points):
            lo, hi = bounding_box(points)
            center = (lo + hi) / 2.0  # float32, as ever
        for axis in self.axes:
            if rng.random() < self.flip_prob:
                i = 'xyz'.index(axis)
                points[:, i] = 2 * center[i] - points[:, i]
                if normals is not None:
                    normals[:, i] = -normals[:, i]
        results['points'] = points
        if normals is not None:
            results['normals'] = normals
        return results


@TRANSFORMS.register_module()
class ElasticDistortion(RandomPointTransform):
    """Elastic distortion: for each ``(granularity, magnitude)`` pair
    (metres), a lattice of Gaussian noise vectors with spacing
    ``granularity`` is smoothed (``smoothing_passes`` passes of a 3-cell box
    filter per axis) and interpolated trilinearly at each point, and the
    points move by ``noise * magnitude``. Defaults are the usual indoor-scene
    values (Pointcept, MinkowskiEngine: three passes). The paper's code
    smooths twice and applies the same numbers to coordinates divided by
    5.12, i.e. ``((1.024, 2.048), (4.096, 8.192))`` metres with
    ``smoothing_passes=2``. Normals are left unchanged (the displacement field
    is smooth)."""

    def __init__(self, params: Sequence[Tuple[float, float]] = ((0.2, 0.4), (0.8, 1.6)),
                 prob: float = 0.95, seed: Optional[int] = None, smoothing_passes: int = 3):
        super().__init__(prob, seed)
        for granularity, magnitude in params:
            if granularity <= 0 or magnitude < 0:
                raise ValueError(f'ElasticDistortion: invalid (granularity, magnitude) = '
                                 f'({granularity}, {magnitude})')
        if smoothing_passes < 0:
            raise ValueError(f'ElasticDistortion: smoothing_passes must be >= 0, got '
                             f'{smoothing_passes}')
        self.params = tuple(tuple(p) for p in params)
        self.smoothing_passes = int(smoothing_passes)

    @staticmethod
    def distort(points: np.ndarray, granularity: float, magnitude: float,
                rng: np.random.Generator, smoothing_passes: int = 3,
                dtype=np.float64) -> np.ndarray:
        """``points`` moved by one smoothed noise lattice, computed in float64
        and returned as ``dtype``."""
        # the box in float64: float32 points give the same values as their float64 copy
        lo, hi = (bound.astype(np.float64) for bound in bounding_box(points))
        shape = ((hi - lo) // granularity).astype(np.int64) + 3
        noise = rng.standard_normal((*shape, 3))
        for _ in range(smoothing_passes):  # separable smoothing of the lattice
            for axis in range(3):
                noise = ndimage.uniform_filter1d(noise, 3, axis=axis, mode='constant')
        # lattice node i sits at lo + (i - 1) * granularity
        return displace(noise, points, lo, granularity, magnitude, dtype)

    def apply(self, results, rng):
        points = np.asarray(results['points'])
        if len(points) == 0:
            return results
        # float64 throughout (the input converted once), float32 out; one pass per
        # lattice with numba (displace), the same bits as the (N, 3) float64 expressions
        for step, (granularity, magnitude) in enumerate(self.params, 1):
            dtype = np.float32 if step == len(self.params) else np.float64
            points = self.distort(points, granularity, magnitude, rng, self.smoothing_passes,
                                  dtype)
        results['points'] = np.asarray(points, np.float32)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(params={self.params}, prob={self.prob}, '
                f'smoothing_passes={self.smoothing_passes})')


def _window_start(values: np.ndarray, size: float, lo: float, hi: float,
                  rng: np.random.Generator) -> float:
    """Start of a ``size`` window on ``[lo, hi]`` holding every one of
    ``values`` when they span at most ``size`` (uniform among such starts),
    else as many of them as possible."""
    top = hi - size
    if values.max() - values.min() <= size:
        low, high = max(lo, values.max() - size), min(top, values.min())
        return float(rng.uniform(low, high)) if high > low else float(np.clip(low, lo, top))
    ordered = np.sort(values)
    counts = np.searchsorted(ordered, ordered + size, side='right') - np.arange(len(ordered))
    return float(np.clip(ordered[int(np.argmax(counts))], lo, top))


@TRANSFORMS.register_module()
class FitToCube(RandomPointTransform):
    """Keep the points inside an axis-aligned box of ``size`` metres when the
    cloud is larger along some axis (unchanged otherwise): the O-CNN
    octree holds a fixed cube (10.24 m for the scene configs) and refuses
    clouds that exceed it; a turned, scaled and distorted room can. The
    authors' code dropped the points outside its cube likewise.

    The box is placed at random along each axis that needs it. With
    ``keep_labeled=True`` (sparse annotations, ScanNet LA) it is placed to
    hold every annotated point (``label_key`` != ``ignore_index``) whenever
    they span at most ``size`` along that axis, else as many as possible;
    the annotated points it cuts off are added to ``num_labeled_dropped``
    and tallied in the log, as the crops of
    :mod:`~d3l.datasets.transforms.cropping`.
    """

    def __init__(self, size: float = 10.0, keep_labeled: bool = False,
                 label_key: str = 'labels', ignore_index: int = 255,
                 seed: Optional[int] = None):
        super().__init__(1.0, seed)
        if size <= 0:
            raise ValueError(f'FitToCube: size must be > 0, got {size}')
        from .cropping import LabeledDropTally  # cropping imports this module
        self.size = float(size)
        self.keep_labeled = bool(keep_labeled)
        self.label_key = label_key
        self.ignore_index = ignore_index
        self.tally = LabeledDropTally(type(self).__name__)

    def apply(self, results, rng):
        from .cropping import _refuse_inverse
        from .sampling import labeled_mask
        from .utils import select_points
        points = np.asarray(results['points'])
        if len(points) == 0:
            return results
        lo, hi = (b.astype(np.float64) for b in bounding_box(points))
        if np.all(hi - lo <= self.size):
            return results
        _refuse_inverse(type(self).__name__, results)
        labeled = (labeled_mask(results, self.label_key, self.ignore_index)
                   if self.keep_labeled else None)
        origin = lo.copy()
        for axis in np.flatnonzero(hi - lo > self.size):
            if labeled is not None:
                origin[axis] = _window_start(points[labeled, axis], self.size, lo[axis],
                                             hi[axis], rng)
            else:
                origin[axis] = rng.uniform(lo[axis], hi[axis] - self.size)
        eps = 1e-6  # a point on the box's face stays (the cube has 0.24 m to spare)
        inside = np.all((points >= origin - eps) & (points <= origin + self.size + eps), axis=1)
        if labeled is not None:
            self.tally.add(results, int(labeled.sum()), int((labeled & ~inside).sum()))
        return select_points(results, np.flatnonzero(inside))

    def __repr__(self):
        return (f'{type(self).__name__}(size={self.size}, keep_labeled={self.keep_labeled})')
