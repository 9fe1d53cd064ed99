"""Sliding-window inference: per-point class probabilities for scenes of any
size from a network that only sees a bounded extent (the O-CNN cube).

A cloud whose bounding box fits in one window runs in a single pass, exactly
as without windows: windows are placed only where they are needed, so a
scene that fits costs nothing extra. A larger cloud is cut into
axis-aligned windows of ``window_size`` (the authors: 10 m at a 5 m stride
for O-CNN at 512^3 over 10.24 m). Along an axis where the cloud is longer
than a window, ``ceil((extent - size) / stride) + 1`` windows are spread
evenly from its lowest to its highest coordinate (spacing <= ``stride``, the
first and last flush with the cloud), so every point lies in at least one
window; along an axis where it fits there is one window, centred. Every
window holding a point predicts it, and the softmax probabilities are merged
with a weight per (point, window):

    w = prod over axes of max(1 - |p - c| / (size / 2), floor)

where ``c`` is the window's centre. Why this weighting: a point near a
window's border is predicted without the context beyond the border, so that
prediction is the least reliable; the linear "tent" gives the window where
the point is most central the largest say, and at the default half-overlap
(stride = size / 2) neighbouring tents sum to a constant along an axis, so
the blend has no seams. The ``floor`` keeps points on the scene's outer
border (seen only near window edges) defined. The merged probabilities are
``sum_k w_k p_k / sum_k w_k``; along axes with a single window the factor is
the same for every window and cancels.

Used by ``Segmentor.predict`` (``test_cfg=dict(mode='slide', ...)``, hence
``tools/test.py``) and by :func:`d3l.apis.inference_segmentor`; any other
predict path (e.g. a pre-training validation) calls
:func:`sliding_window_probs` with its own logits function.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from d3l.structures import PointBatch
from d3l.structures.point_octree import ExtentError

#: the authors' windows for O-CNN at 512^3 leaves of 2 cm (a 10.24 m cube)
DEFAULT_WINDOW_SIZE = 10.0
DEFAULT_STRIDE = 5.0
#: smallest merge weight of a point inside a window (at the window's faces)
WEIGHT_FLOOR = 1e-3

Size = Union[float, Sequence[float]]


def _per_axis(value: Size, name: str) -> np.ndarray:
    array = np.broadcast_to(np.asarray(value, np.float64), (3,)).copy()
    if not np.all(np.isfinite(array)) or (array <= 0).any():
        raise ValueError(f'sliding windows: {name} must be > 0, got {value}')
    return array


def check_window(window_size: Size, stride: Size) -> None:
    """Validate a window size / stride pair (stride <= size, or windows
    would leave gaps between them)."""
    size, step = _per_axis(window_size, 'window_size'), _per_axis(stride, 'stride')
    if (step > size).any():
        raise ValueError(f'sliding windows: stride {stride} is larger than window_size '
                         f'{window_size}; points between windows would get no prediction')


def window_origins(low: np.ndarray, high: np.ndarray, window_size: Size,
                   stride: Size) -> np.ndarray:
    """(M, 3) minimum corners of the windows covering the box ``[low, high]``
    (see the module docstring for the layout)."""
    size, step = _per_axis(window_size, 'window_size'), _per_axis(stride, 'stride')
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    extent = high - low
    axes = []
    for a in range(3):
        if extent[a] <= size[a]:
            axes.append(np.array([(low[a] + high[a] - size[a]) / 2]))
        else:
            count = int(np.ceil((extent[a] - size[a]) / step[a] - 1e-9)) + 1
            axes.append(np.linspace(low[a], high[a] - size[a], count))
    grids = np.meshgrid(*axes, indexing='ij')
    return np.stack([g.reshape(-1) for g in grids], 1)


def window_weights(coord: Tensor, origin: Tensor, size: Tensor,
                   floor: float = WEIGHT_FLOOR) -> Tensor:
    """(n,) merge weight of points (n, 3) inside the window at ``origin``."""
    half = size / 2
    offset = (coord - (origin + half)).abs() / half
    return (1 - offset).clamp(min=floor).prod(dim=1)


def fits_in_window(coord: Tensor, window_size: Size) -> bool:
    size = torch.as_tensor(_per_axis(window_size, 'window_size'), dtype=coord.dtype)
    extent = coord.max(0).values - coord.min(0).values
    return bool((extent <= size.to(coord.device)).all())


def _cloud_name(names: Optional[Sequence[str]], index: int) -> str:
    if names and index < len(names) and names[index]:
        return str(names[index])
    return f'cloud {index} of the batch'


def _check_extent(window_size: Size, extent: Optional[float], name: str,
                  span: Sequence[float], index: int) -> None:
    size = _per_axis(window_size, 'window_size')
    if extent is not None and (size > extent + 1e-9).any():
        raise ExtentError(
            f'{name} spans {span[0]:.2f} x {span[1]:.2f} x {span[2]:.2f} m, so it needs '
            f'sliding windows, but window_size {window_size} is larger than the network\'s '
            f'extent of {extent:g} m; set model.test_cfg.window_size <= {extent:g}',
            cloud=index, extent=tuple(float(v) for v in span), limit=float(extent))


def slide_cloud(predict_probs: Callable[[PointBatch], Tensor], coord: Tensor, feat: Tensor,
                window_size: Size, stride: Size, extent: Optional[float] = None,
                name: str = 'the cloud', index: int = 0) -> Tensor:
    """(n, C) merged probabilities of one cloud cut into windows.

    Args:
        predict_probs: maps a one-cloud :class:`PointBatch` to (n, C)
            probabilities of its points.
        coord / feat: the cloud's (n, 3) coordinates and (n, F) features.
        window_size / stride: window edge and spacing (scalar or per axis).
        extent: the network's largest cloud size (None: unbounded); a window
            larger than it is an error naming ``name``.
        index: the cloud's index in its batch (for the error).
    """
    check_window(window_size, stride)
    low, high = coord.min(0).values, coord.max(0).values
    span = (high - low).tolist()
    _check_extent(window_size, extent, name, span, index)
    origins = torch.as_tensor(
        window_origins(low.double().cpu().numpy(), high.double().cpu().numpy(),
                       window_size, stride), dtype=torch.float64, device=coord.device)
    size = torch.as_tensor(_per_axis(window_size, 'window_size'), dtype=torch.float64,
                           device=coord.device)
    coord64 = coord.double()
    merged, total = None, coord64.new_zeros(coord.shape[0])
    for origin in origins:
        inside = ((coord64 >= origin) & (coord64 <= origin + size)).all(dim=1)
        index = inside.nonzero(as_tuple=True)[0]
        if index.numel() == 0:
            continue
        chunk = PointBatch(coord[index], feat[index],
                           torch.zeros(index.numel(), dtype=torch.long, device=coord.device), 1)
        probs = predict_probs(chunk).double()
        if merged is None:
            merged = coord64.new_zeros((coord.shape[0], probs.shape[1]))
        weight = window_weights(coord64[index], origin, size)
        merged.index_add_(0, index, probs * weight[:, None])
        total.index_add_(0, index, weight)
    if merged is None or bool((total <= 0).any()):
        raise RuntimeError(f'sliding windows left points of {name} without a prediction '
                           f'(windows {window_size}, stride {stride})')
    return (merged / total[:, None]).float()


def sliding_window_probs(predict_probs: Callable[[PointBatch], Tensor], batch: PointBatch,
                         window_size: Size = DEFAULT_WINDOW_SIZE,
                         stride: Size = DEFAULT_STRIDE, extent: Optional[float] = None,
                         names: Optional[Sequence[str]] = None) -> Tensor:
    """(N, C) class probabilities of every point of ``batch``.

    The clouds that fit in one window run together in one pass of
    ``predict_probs`` (the same result as without windows); every larger
    cloud is cut into windows by :func:`slide_cloud`.

    Args:
        predict_probs: maps a :class:`PointBatch` to (n, C) probabilities
            (e.g. ``lambda b: model._forward(b).softmax(1)``).
        batch: the clouds.
        window_size / stride: window edge and spacing, in the units of the
            coordinates (metres for scenes).
        extent: the network's largest cloud size (``backbone.extent``), to
            refuse windows that would not fit in it.
        names: one name per cloud for error messages (scene ids).
    """
    check_window(window_size, stride)
    coords, feats = batch.split(batch.coord), batch.split(batch.feat)
    fits = [fits_in_window(c, window_size) for c in coords]
    if all(fits):
        return predict_probs(batch)
    parts: list = [None] * batch.batch_size
    small = [i for i, ok in enumerate(fits) if ok]
    if small:
        sub = PointBatch.from_list([coords[i] for i in small], [feats[i] for i in small])
        try:
            sub_probs = predict_probs(sub)
        except ExtentError as err:  # name the cloud by its index in ``batch``
            raise ExtentError(str(err).replace(f'cloud {err.cloud} ', f'cloud {small[err.cloud]} ',
                                               1), small[err.cloud], err.extent,
                              err.limit) from None
        for i, probs in zip(small, sub.split(sub_probs)):
            parts[i] = probs
    for i, ok in enumerate(fits):
        if not ok:
            parts[i] = slide_cloud(predict_probs, coords[i], feats[i], window_size, stride,
                                   extent, _cloud_name(names, i), i)
    return torch.cat(parts)


__all__ = ['DEFAULT_WINDOW_SIZE', 'DEFAULT_STRIDE', 'WEIGHT_FLOOR', 'check_window',
           'window_origins', 'window_weights', 'fits_in_window', 'slide_cloud',
           'sliding_window_probs']
