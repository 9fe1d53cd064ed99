"""How well a ScanNet-layout world covers its 20 classes: labelled points per
class in a Limited Annotations setting, and rooms per class in a split.

A class with no labelled point can never be predicted, and a class that
occurs in one or two validation rooms has an IoU that is noise; the embedded
benchmark reports both (``tools/demo.py``'s ``results.json``).
"""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from d3l.utils.errors import D3LError

from .classes import CLASSES_3D


class CoverageError(D3LError, ValueError):
    """A scene or split file that cannot be read."""


def _scene_ids(scannet_root: str, split: str) -> List[str]:
    path = osp.join(scannet_root, 'meta', f'scannetv2_{split}.txt')
    try:
        with open(path, encoding='utf-8') as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as err:
        raise CoverageError(f'{path}: cannot read the scene list ({err})') from None


def _labels(scannet_root: str, split: str, scene_id: str) -> np.ndarray:
    path = osp.join(scannet_root, split, scene_id, 'segment20.npy')
    try:
        return np.load(path).reshape(-1)
    except (OSError, ValueError) as err:
        raise CoverageError(f'{path}: cannot read the labels ({err})') from None


def _named(counts: np.ndarray, digits: Optional[int] = None) -> Dict[str, float]:
    if digits is None:
        return {name: int(c) for name, c in zip(CLASSES_3D, counts)}
    return {name: round(float(c), digits) for name, c in zip(CLASSES_3D, counts)}


def expected_la_counts(scannet_root: str, points: int, split: str = 'train') -> Dict[str, float]:
    """Expected labelled points per class when ``points`` labelled points of
    every scene are drawn uniformly without replacement (what
    ``tools/make_data_efficient_splits.py scannet-la`` does): per scene,
    ``min(points, n) * n_c / n`` for its ``n`` labelled points, ``n_c`` of
    class ``c``."""
    total = np.zeros(len(CLASSES_3D), np.float64)
    for scene_id in _scene_ids(scannet_root, split):
        labels = _labels(scannet_root, split, scene_id)
        labels = labels[(labels >= 0) & (labels < len(CLASSES_3D))]
        if len(labels):
            total += min(points, len(labels)) * np.bincount(
                labels, minlength=len(CLASSES_3D)) / len(labels)
    return _named(total, 1)


def la_file_counts(scannet_root: str, la_file: str, split: str = 'train') -> Dict[str, int]:
    """Labelled points per class in a Limited Annotations file (a
    ``torch.save`` dict scene id -> indices of the annotated points)."""
    import torch
    try:
        table = torch.load(la_file, map_location='cpu', weights_only=False)
    except (OSError, RuntimeError, ValueError) as err:
        raise CoverageError(f'{la_file}: cannot read the LA file ({err})') from None
    if not isinstance(table, dict):
        raise CoverageError(f'{la_file}: expected a dict scene id -> point indices, got '
                            f'{type(table).__name__}')
    total = np.zeros(len(CLASSES_3D), np.int64)
    for scene_id, indices in table.items():
        labels = _labels(scannet_root, split, scene_id)[np.asarray(indices, np.int64)]
        labels = labels[(labels >= 0) & (labels < len(CLASSES_3D))]
        total += np.bincount(labels, minlength=len(CLASSES_3D))
    return _named(total)


def scene_list_counts(scannet_root: str, scene_ids: Sequence[str],
                      split: str = 'train') -> Dict[str, int]:
    """Labelled points per class over whole scenes (a Limited
    Reconstructions list, or every training scene)."""
    total = np.zeros(len(CLASSES_3D), np.int64)
    for scene_id in scene_ids:
        labels = _labels(scannet_root, split, scene_id)
        labels = labels[(labels >= 0) & (labels < len(CLASSES_3D))]
        total += np.bincount(labels, minlength=len(CLASSES_3D))
    return _named(total)


def rooms_per_class(scannet_root: str, split: str = 'val',
                    scene_ids: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """In how many scenes of ``split`` (or of ``scene_ids``) each class occurs."""
    rooms = np.zeros(len(CLASSES_3D), np.int64)
    for scene_id in scene_ids if scene_ids is not None else _scene_ids(scannet_root, split):
        labels = _labels(scannet_root, split, scene_id)
        labels = labels[(labels >= 0) & (labels < len(CLASSES_3D))]
        rooms += np.bincount(labels, minlength=len(CLASSES_3D)) > 0
    return _named(rooms)
