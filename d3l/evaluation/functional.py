"""Metric formulas, as plain functions on arrays (independent of MMEngine)."""
from typing import Dict, Optional, Sequence

import numpy as np

IGNORE_INDEX = 255


def confusion_matrix(pred, gt, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = ground truth.

    Points whose ground truth is ``ignore_index`` are skipped. A ground-truth
    or predicted id outside ``[0, num_classes)`` (other than the ignore label
    in ground truth) is an error rather than a silently dropped point.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction has {pred.size} points, ground truth {gt.size}')
    valid = gt != ignore_index
    pred, gt = pred[valid], gt[valid]
    for name, values in (('ground truth', gt), ('prediction', pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            bad = values[(values < 0) | (values >= num_classes)][0]
            raise ValueError(f'{name} has class id {bad} outside [0, {num_classes})')
    return np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def iou_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU; NaN for a class absent from both prediction and
    ground truth (the ScanNet benchmark leaves those out of the mean)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def segmentation_scores(confusion: np.ndarray,
                        class_names: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """mIoU, mAcc, aAcc (percent) and ``IoU.<class>`` from a confusion matrix."""
    confusion = np.asarray(confusion, dtype=np.float64)
    iou = iou_from_confusion(confusion)
    gt_count = confusion.sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        acc = np.where(gt_count > 0, np.diag(confusion) / np.maximum(gt_count, 1), np.nan)
    total = confusion.sum()
    scores = {
        'mIoU': float(np.nanmean(iou) * 100) if np.isfinite(iou).any() else 0.0,
        'mAcc': float(np.nanmean(acc) * 100) if np.isfinite(acc).any() else 0.0,
        'aAcc': float(np.diag(confusion).sum() / total * 100) if total > 0 else 0.0,
    }
    names = class_names or [str(i) for i in range(len(iou))]
    for name, value in zip(names, iou):
        scores[f'IoU.{name}'] = float(value * 100) if np.isfinite(value) else float('nan')
    return scores


def restrict_to_parts(probs, parts: Sequence[int]) -> np.ndarray:
    """Per-point prediction restricted to one category's parts: the argmax of
    the class scores over ``parts`` only (the standard ShapeNet protocol,
    where the shape's category is known)."""
    probs = np.asarray(probs)
    parts = np.asarray(parts, np.int64)
    if probs.ndim != 2 or parts.size == 0 or parts.max() >= probs.shape[1]:
        raise ValueError(f'restrict_to_parts: scores of shape {probs.shape} cannot be restricted '
                         f'to parts {parts.tolist()}')
    return parts[np.argmax(probs[:, parts], axis=1)]


def part_iou(pred, gt, parts: Sequence[int], ignore_index: int = IGNORE_INDEX) -> float:
    """Mean IoU of one shape over its category's ``parts``.

    A part absent from both prediction and ground truth counts as IoU 1 (the
    convention of the ShapeNet part benchmark since PointNet). Points whose
    ground truth is ``ignore_index`` are skipped.
    """
    pred = np.asarray(pred).reshape(-1)
    gt = np.asarray(gt).reshape(-1)
    if pred.shape != gt.shape:
        raise ValueError(f'part_iou: prediction has {pred.size} points, ground truth {gt.size}')
    valid = gt != ignore_index
    pred, gt = pred[valid], gt[valid]
    ious = []
    for part in parts:
        union = np.sum((pred == part) | (gt == part))
        ious.append(1.0 if union == 0 else np.sum((pred == part) & (gt == part)) / union)
    return float(np.mean(ious))


def part_miou(records: Sequence[tuple]) -> Dict[str, float]:
    """ShapeNet part scores (percent) from ``(category, shape IoU)`` pairs.

    ``ins_mIoU``: mean over shapes; ``cat_mIoU``: mean over categories of the
    per-category mean; ``IoU.<category>`` for each category present.
    """
    if not records:
        raise ValueError('part_miou: no shapes to score')
    by_category: Dict[str, list] = {}
    for category, iou in records:
        by_category.setdefault(str(category), []).append(float(iou))
    per_category = {name: float(np.mean(values)) for name, values in by_category.items()}
    scores = {'ins_mIoU': float(np.mean([iou for _, iou in records]) * 100),
              'cat_mIoU': float(np.mean(list(per_category.values())) * 100)}
    for name, value in per_category.items():
        scores[f'IoU.{name}'] = value * 100
    return scores
