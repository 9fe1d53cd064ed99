"""Scores of a 2D teacher against ground truth (docs/model_zoo.md).

* :func:`score_photos`: mIoU and pixel accuracy on (image, label) pairs, e.g.
  held-out photos of a world seed the teacher never saw
  (:func:`d3l.benchmark.corpus.held_out_photos`);
* :func:`score_rgbd_folder`: the agreement of the teacher's top-1 with the
  ground-truth labels of a synthetic world's pre-training frames
  (``<world>/rgbd/{perspective,panorama}``), each labelled the way the
  pseudo-label generator does (:meth:`BaseTeacher.label_frame`: panoramas
  whole or as stitched crops, as the teacher is configured).

mIoU follows mmseg's ``IoUMetric``: per class intersection over union over
all pixels, classes with an empty union left out; label 255 is ignored.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

IGNORE = 255


def confusion(pred: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = ground truth."""
    pred = np.asarray(pred).ravel().astype(np.int64)
    label = np.asarray(label).ravel().astype(np.int64)
    keep = (label != IGNORE) & (label < num_classes)
    return np.bincount(label[keep] * num_classes + pred[keep],
                       minlength=num_classes ** 2).reshape(num_classes, num_classes)


def scores(matrix: np.ndarray, class_names: Optional[Sequence[str]] = None) -> dict:
    """mIoU (%), pixel accuracy (%), per-class IoU (None: class absent)."""
    matrix = np.asarray(matrix, np.float64)
    inter = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(union > 0, inter / union, np.nan)
    total = matrix.sum()
    names = class_names or [str(i) for i in range(len(matrix))]
    return dict(miou=round(float(np.nanmean(iou)) * 100, 2) if np.isfinite(iou).any() else 0.0,
                pixel_acc=round(float(inter.sum() / total) * 100, 2) if total else 0.0,
                pixels=int(total),
                iou={n: (None if np.isnan(v) else round(float(v) * 100, 2))
                     for n, v in zip(names, iou)})


def predict(teacher, img: np.ndarray) -> np.ndarray:
    """Top-1 class map (H, W) of one (H, W, 3) RGB uint8 perspective image."""
    from d3l.teachers.base import image_to_tensor
    probs = teacher(image_to_tensor(img, teacher.device))[0]
    return probs.argmax(0).cpu().numpy()


def score_photos(teacher, photos: Iterable[Tuple[np.ndarray, np.ndarray]]) -> dict:
    """``photos``: (img, label) pairs."""
    matrix = np.zeros((teacher.num_classes,) * 2, np.int64)
    count = 0
    for img, label in photos:
        matrix += confusion(predict(teacher, img), label, teacher.num_classes)
        count += 1
    return dict(scores(matrix, teacher.class_names), images=count)


def _rgbd_frames(kind_root: str, max_rooms: Optional[int]):
    from PIL import Image
    rooms = sorted(d for d in os.listdir(kind_root) if d.startswith('room'))[:max_rooms]
    for room in rooms:
        folder = osp.join(kind_root, room)
        with open(osp.join(folder, 'camera.json'), encoding='utf-8') as f:
            projection = json.load(f).get('projection', 'perspective')
        for name in sorted(os.listdir(osp.join(folder, 'rgb'))):
            img = np.asarray(Image.open(osp.join(folder, 'rgb', name)).convert('RGB'))
            label = np.asarray(Image.open(osp.join(folder, 'label', name)))
            yield dict(img=img, projection=projection), label


def score_rgbd_folder(teacher, rgbd_root: str, max_rooms: Optional[int] = None) -> Dict[str, dict]:
    """{'perspective': scores, 'panorama': scores} of a world's ``rgbd``
    folder (kinds that are absent are left out)."""
    out = {}
    for kind in ('perspective', 'panorama'):
        kind_root = osp.join(rgbd_root, kind)
        if not osp.isdir(kind_root):
            continue
        matrix = np.zeros((teacher.num_classes,) * 2, np.int64)
        frames = 0
        for sample, label in _rgbd_frames(kind_root, max_rooms):
            top1 = teacher.label_frame(sample).argmax(0).cpu().numpy()
            matrix += confusion(top1, label, teacher.num_classes)
            frames += 1
        out[kind] = dict(scores(matrix, teacher.class_names), frames=frames)
    return out


__all__ = ['confusion', 'scores', 'predict', 'score_photos', 'score_rgbd_folder']
