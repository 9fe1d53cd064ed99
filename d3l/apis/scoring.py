"""Soft labels scored against ground-truth 2D labels: how often the
teacher's top-1 on the labelled frames agrees with the truth (reporting
only: training never reads the ground truth)."""
from __future__ import annotations

import math
from typing import Union

import numpy as np


def score_soft_labels(labels, source: Union[str, dict, object], *,
                      ignore_index: int = 255) -> dict:
    """mIoU and pixel accuracy of the stored labels' top-1 against the
    frames' ``pixel_labels``, over all frames and per projection.

    Args:
        labels: a label directory or a ``SoftLabelStore``.
        source: the frames with ground truth: a folder (read as
            ``RGBDFolderDataset`` with ``LoadRGBD``), a dataset config dict
            (its pipeline defaults to ``LoadRGBD``) or a built dataset whose
            samples have ``pixel_labels``, ``frame_id`` and ``projection``.
        ignore_index: the ground truth's unlabelled value.

    Frames without ground truth or without stored labels are left out; a
    label grid with stride > 1 is compared at its cells' pixels. Returns {}
    when no frame is left, else ``{'miou', 'pixel_acc', 'iou': {class:
    IoU rounded to 0.01, or None for a class absent from both}, and per
    projection ('perspective', 'equirect') {'miou', 'pixel_acc'}}``.
    """
    from d3l.evaluation import confusion_matrix, segmentation_scores
    from d3l.soft_labels import SoftLabelStore

    store = labels if isinstance(labels, SoftLabelStore) else SoftLabelStore(labels)
    names = list(store.class_names)
    dataset = _frames(source)
    confusion = {}
    for index in range(len(dataset)):
        sample = dataset[index]
        if sample.get('pixel_labels') is None or sample['frame_id'] not in store:
            continue
        top1 = np.asarray(store.get(sample['frame_id']).decode_grid()).argmax(-1)
        truth = sample['pixel_labels']
        if top1.shape != truth.shape:  # a label stride > 1: compare at the cells' pixels
            stride = -(-truth.shape[0] // top1.shape[0])
            truth = truth[::stride, ::stride]
        kind = sample['projection']
        confusion[kind] = confusion.get(kind, 0) + confusion_matrix(
            top1.reshape(-1), truth.reshape(-1), len(names), ignore_index)
    if not confusion:
        return {}
    result = {}
    for kind, matrix in confusion.items():
        scores = segmentation_scores(matrix, names)
        result[kind] = dict(miou=float(scores['mIoU']), pixel_acc=float(scores['aAcc']))
    scores = segmentation_scores(sum(confusion.values()), names)
    result.update(miou=float(scores['mIoU']), pixel_acc=float(scores['aAcc']),
                  iou={n: (None if math.isnan(scores[f'IoU.{n}']) else
                           round(float(scores[f'IoU.{n}']), 2)) for n in names})
    return result


def _frames(source):
    """The frames dataset of ``source`` (see :func:`score_soft_labels`)."""
    if isinstance(source, str):
        from d3l.datasets.rgbd import RGBDFolderDataset
        return RGBDFolderDataset(source, pipeline=[dict(type='LoadRGBD')])
    if isinstance(source, dict):
        from d3l.engine.stage_utils import build_dataset
        cfg = dict(source)
        cfg.setdefault('pipeline', [dict(type='LoadRGBD')])
        return build_dataset(cfg, 'scoring')
    return source


__all__ = ['score_soft_labels']
