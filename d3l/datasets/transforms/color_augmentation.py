"""Colour augmentations of the paper's pre-training (and of the downstream
scenes): chromatic auto-contrast and colour jitter, on ``colors`` (RGB in
[0, 1]); points and every other key are left as they are. Randomness as in
:mod:`.augmentation`."""
from typing import Optional

import numpy as np

from d3l.geometry import bounding_box
from d3l.registry import TRANSFORMS
from d3l.utils.jit import lazy_njit

from .augmentation import RandomPointTransform

#: set to False for the NumPy expression of ChromaticJitter (tests compare the two)
USE_NUMBA = True


def _jitter_kernel(colors, noise, std, out):  # pragma: no cover - numba
    """``clip(colors + float32(noise) * std, 0, 1)`` in float32, clipped as
    NumPy's ``clip`` (NaN kept, ``x > lo ? x : lo`` then ``x < hi ? x : hi``)."""
    flat_colors, flat_noise, flat_out = colors.reshape(-1), noise.reshape(-1), out.reshape(-1)
    zero, one = np.float32(0), np.float32(1)
    for i in range(flat_colors.shape[0]):
        v = flat_colors[i] + np.float32(flat_noise[i]) * std
        if not np.isnan(v):
            v = v if v > zero else zero
            v = v if v < one else one
        flat_out[i] = v


@TRANSFORMS.register_module()
class ChromaticAutoContrast(RandomPointTransform):
    """Stretch each colour channel to the full [0, 1] range of the cloud and
    blend with the original colour (``blend_factor``; random in [0, 1] when
    None)."""

    def __init__(self, prob: float = 0.2, blend_factor: Optional[float] = None,
                 seed: Optional[int] = None):
        super().__init__(prob, seed)
        self.blend_factor = blend_factor

    def apply(self, results, rng):
        colors = results.get('colors')
        if colors is None or len(colors) == 0:
            return results
        colors = np.asarray(colors, np.float32)
        lo, hi = bounding_box(colors)
        span = hi - lo
        scale = np.where(span > 1e-6, 1.0 / np.maximum(span, 1e-6), 1.0)
        contrast = np.where(span > 1e-6, (colors - lo) * scale, colors)
        blend = rng.random() if self.blend_factor is None else self.blend_factor
        results['colors'] = np.clip((1 - blend) * colors + blend * contrast, 0, 1
                                    ).astype(np.float32)
        return results

    def __repr__(self):
        return (f'{type(self).__name__}(prob={self.prob}, '
                f'blend_factor={self.blend_factor})')


@TRANSFORMS.register_module()
class ChromaticJitter(RandomPointTransform):
    """Add per-point Gaussian noise of standard deviation ``std`` (colour
    units, [0, 1]) to ``colors`` and clip to [0, 1]."""

    def __init__(self, std: float = 0.005, prob: float = 0.95, seed: Optional[int] = None):
        super().__init__(prob, seed)
        if std < 0:
            raise ValueError(f'ChromaticJitter: std must be >= 0, got {std}')
        self.std = std

    def apply(self, results, rng):
        colors = results.get('colors')
        if colors is None:
            return results
        colors = np.asarray(colors, np.float32)
        noise = rng.standard_normal(colors.shape)
        # (a NumPy float64 std would make NumPy's sum float64: that path then)
        kernel = lazy_njit(_jitter_kernel) if USE_NUMBA and type(self.std) in (int, float) \
            else None
        if kernel is not None:  # one pass instead of five, the same bits
            out = np.empty(colors.shape, np.float32)
            kernel(np.ascontiguousarray(colors), noise, np.float32(self.std), out)
            results['colors'] = out
            return results
        noise = noise.astype(np.float32) * self.std
        results['colors'] = np.clip(colors + noise, 0, 1).astype(np.float32)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(std={self.std}, prob={self.prob})'
