"""Confident pseudo-labels: per class, keep the most confident predictions.

Rule (per scene, per predicted class ``c``): among the ``n_c`` points
predicted as ``c``, keep the ``k_c = max(1, floor(ratio * n_c))`` with the
highest confidence (the softmax probability of ``c``); every other point
gets the ignore label. So a class with fewer than ``1 / ratio`` predicted
points still keeps its single most confident point, and a class nobody
predicted keeps nothing. Ties are broken by point order (the earlier point
wins), so the result is deterministic.

Files use the ground-truth label format of the scene datasets (Pointcept's
``segment20.npy``: int16, -1 = ignore), one folder per scene below a
separate output root, so ground-truth files are never touched.
"""
from __future__ import annotations

import math
import os.path as osp
from typing import Mapping, Optional

import numpy as np

from d3l.utils import fileio

IGNORE_INDEX = 255
#: value written for "no pseudo-label" (Pointcept's ignore value in segment20.npy)
FILE_IGNORE = -1
FILE_DTYPE = np.int16


def num_kept(count: int, ratio: float) -> int:
    """Points kept out of ``count`` predicted ones: ``max(1, floor(ratio * count))``
    (0 when ``count`` is 0). The small epsilon keeps ``0.29 * 100`` at 29
    despite floating point."""
    if count <= 0:
        return 0
    return max(1, int(math.floor(ratio * count + 1e-9)))


def select_confident(pred: np.ndarray, confidence: np.ndarray, ratio: float = 0.2,
                     num_classes: Optional[int] = None,
                     ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Per-class top-``ratio`` pseudo-labels of one scene.

    Args:
        pred: (N,) predicted class per point.
        confidence: (N,) confidence of that prediction (e.g. max softmax).
        ratio: fraction of each class's predicted points to keep, in (0, 1].
        num_classes: if given, a prediction outside ``[0, num_classes)`` is
            an error.
        ignore_index: label of the points that are not kept. Points whose
            prediction already equals it are never kept.

    Returns:
        (N,) int64: ``pred`` where kept, ``ignore_index`` elsewhere.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    confidence = np.asarray(confidence, dtype=np.float64).reshape(-1)
    if pred.shape != confidence.shape:
        raise ValueError(f'select_confident: {pred.size} predictions but {confidence.size} '
                         'confidences')
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f'select_confident: ratio must be in (0, 1], got {ratio}')
    if np.isnan(confidence).any():
        raise ValueError('select_confident: confidence has NaN values')
    valid = pred != ignore_index
    if num_classes is not None and valid.any():
        bad = valid & ((pred < 0) | (pred >= num_classes))
        if bad.any():
            raise ValueError(f'select_confident: class {int(pred[bad][0])} is outside '
                             f'[0, {num_classes})')
    out = np.full(pred.shape, ignore_index, np.int64)
    points = np.flatnonzero(valid)
    if points.size == 0:
        return out
    # one stable sort: by class, then confidence descending, then point order
    order = np.lexsort((points, -confidence[points], pred[points]))
    points = points[order]
    classes = pred[points]
    starts = np.flatnonzero(np.r_[True, classes[1:] != classes[:-1]])
    ends = np.r_[starts[1:], classes.size]
    for start, end in zip(starts, ends):
        keep = points[start:start + num_kept(end - start, ratio)]
        out[keep] = classes[start]
    return out


# ----------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------
def sample_key(info: Mapping) -> str:
    """The name of a sample's pseudo-label folder: ``scene_id``, else
    ``shape_id``, else ``sample_<sample_idx>``."""
    for key in ('scene_id', 'shape_id'):
        if info.get(key) is not None:
            return str(info[key])
    if info.get('sample_idx') is not None:
        return f'sample_{int(info["sample_idx"]):06d}'
    raise KeyError('a sample has none of scene_id, shape_id, sample_idx to name its '
                   'pseudo-label file by')


def pseudo_label_path(root: str, key: str, label_name: str = 'segment20.npy') -> str:
    return osp.join(root, key, label_name)


def save_pseudo_labels(path: str, labels: np.ndarray,
                       ignore_index: int = IGNORE_INDEX) -> None:
    """Write labels (``ignore_index`` = none) as int16 with -1 = none,
    atomically (:func:`d3l.utils.fileio.save_npy`)."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    kept = labels[labels != ignore_index]
    if kept.size and (kept.min() < 0 or kept.max() > np.iinfo(FILE_DTYPE).max):
        raise ValueError(f'{path}: class ids {kept.min()}..{kept.max()} do not fit the file '
                         f'format ({np.dtype(FILE_DTYPE).name}, -1 = none)')
    array = np.where(labels == ignore_index, FILE_IGNORE, labels).astype(FILE_DTYPE)
    fileio.save_npy(path, array)


def load_pseudo_labels(path: str, num_points: Optional[int] = None,
                       num_classes: Optional[int] = None,
                       ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Read a pseudo-label file as (N,) int64 with ``ignore_index`` = none.

    Raises a ``ValueError`` naming the file when it is unreadable, when its
    length differs from ``num_points`` or when a class id is out of range.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'pseudo-label file {path} does not exist; run '
                                'tools/make_confident_pseudo_labels.py first')
    try:
        labels = np.load(path)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f'cannot read pseudo-label file {path}: {err}') from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f'pseudo-label file {path} must hold a 1-D integer array, got '
                         f'{labels.dtype} {labels.shape}')
    labels = labels.astype(np.int64)
    labels[labels < 0] = ignore_index
    if num_points is not None and labels.size != num_points:
        raise ValueError(f'pseudo-label file {path} has {labels.size} labels but the scene has '
                         f'{num_points} points (made from another version of the data?)')
    if num_classes is not None:
        bad = (labels >= num_classes) & (labels != ignore_index)
        if bad.any():
            raise ValueError(f'pseudo-label file {path} has class {int(labels[bad][0])} outside '
                             f'[0, {num_classes})')
    return labels
