"""Point subsampling transforms."""
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from d3l.geometry import grid_sample_indices
from d3l.registry import TRANSFORMS

from .utils import retain_freed_memory, select_points

#: above this fraction of annotated points ``keep_labeled`` is almost no subsampling
SPARSE_LABEL_FRACTION = 0.1


def labeled_mask(results: dict, label_key: str, ignore_index: int) -> Optional[np.ndarray]:
    """(N,) bool mask of the annotated points of a sample (``label_key`` !=
    ``ignore_index``), or None when the sample has no such labels or none is
    annotated (then the ``keep_labeled`` options change nothing)."""
    labels = results.get(label_key)
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(results['points']):
        raise ValueError(f'keep_labeled: sample key {label_key!r} must be (N,) per-point labels, '
                         f'got shape {labels.shape} for {len(results["points"])} points')
    mask = labels != ignore_index
    return mask if mask.any() else None


def keep_every_labeled(keep: np.ndarray, inverse: np.ndarray, labeled: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Grid-sample result that also keeps every annotated point.

    ``(keep, inverse)`` is :func:`~d3l.geometry.grid_sample_indices`' output.
    A voxel holding annotated points is represented by all of them (and none
    of its unannotated points); other voxels keep their drawn point. The
    result stays in voxel order; the new ``inverse`` maps an annotated point
    to itself and any other point to the first kept point of its voxel.
    """
    num_voxels = len(keep)
    voxel_has_label = np.zeros(num_voxels, bool)
    voxel_has_label[inverse[labeled]] = True
    kept = np.concatenate([keep[~voxel_has_label], np.flatnonzero(labeled)])
    voxel = inverse[kept]
    order = np.lexsort((kept, voxel))
    kept, voxel = kept[order], voxel[order]
    first_of_voxel = np.searchsorted(voxel, np.arange(num_voxels), side='left')
    new_inverse = first_of_voxel[inverse]
    position = np.empty(len(inverse), np.int64)
    position[kept] = np.arange(len(kept))
    new_inverse[labeled] = position[labeled]
    return kept.astype(np.int64), new_inverse.astype(np.int64)


@TRANSFORMS.register_module()
class GridSample(BaseTransform):
    """Keep one point per voxel of ``grid_size`` metres.

    Args:
        grid_size: voxel edge in metres (0.02 for ScanNet scenes).
        mode: ``'train'`` keeps a random point per voxel, ``'test'`` the first.
        return_inverse: store ``inverse`` (original point -> kept point) and
            ``origin_labels`` (labels of all original points) so that
            predictions are scored on every original point.
        seed: seed of a private generator for the random choice in train
            mode; None (default) draws from numpy's global generator, which
            MMEngine seeds differently in every dataloader worker (a private
            generator created here would be copied into each forked worker
            and repeat the same choices).
        keep_labeled: for sparse annotations (ScanNet Limited Annotations):
            keep every annotated point (``label_key`` != ``ignore_index``),
            so that each gets a loss as in the authors' O-CNN, which predicts
            every vertex. A voxel with annotated points is represented by
            all of them, other voxels by their drawn point; the backbones
            average the points of a voxel and give each its voxel's output.
            Samples without annotated points (the unlabelled stream) are
            sampled exactly as with ``keep_labeled=False``. With dense labels
            this keeps nearly every point (a warning says so): use it for LA
            only.
        label_key / ignore_index: what marks an annotated point.
    """

    def __init__(self, grid_size: float = 0.02, mode: str = 'train',
                 return_inverse: bool = False, seed: Optional[int] = None,
                 keep_labeled: bool = False, label_key: str = 'labels',
                 ignore_index: int = 255):
        if grid_size <= 0:
            raise ValueError(f'GridSample: grid_size must be > 0, got {grid_size}')
        if mode not in ('train', 'test'):
            raise ValueError(f"GridSample: mode must be 'train' or 'test', got {mode!r}")
        self.grid_size = grid_size
        self.mode = mode
        self.return_inverse = return_inverse
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.keep_labeled = bool(keep_labeled)
        self.label_key = label_key
        self.ignore_index = ignore_index
        self._warned_dense = False

    def transform(self, results: dict) -> dict:
        retain_freed_memory()
        labeled = (labeled_mask(results, self.label_key, self.ignore_index)
                   if self.keep_labeled else None)
        keep, inverse = grid_sample_indices(results['points'], self.grid_size, self.mode,
                                            self.rng, return_inverse=(self.return_inverse
                                                                      or labeled is not None))
        if labeled is not None:
            self._warn_if_dense(results, labeled)
            keep, inverse = keep_every_labeled(keep, inverse, labeled)
        if self.return_inverse:
            if results.get('inverse') is not None:
                # compose with an earlier subsampling: original -> new kept point
                results['inverse'] = inverse[results['inverse']]
            else:
                results['inverse'] = inverse
                if results.get('labels') is not None:
                    results['origin_labels'] = np.asarray(results['labels']).copy()
        return select_points(results, keep)

    def _warn_if_dense(self, results: dict, labeled: np.ndarray) -> None:
        fraction = float(labeled.mean())
        if fraction > SPARSE_LABEL_FRACTION and not self._warned_dense:
            self._warned_dense = True
            source = results.get('scene_id') or results.get('sample_idx')
            print_log(f'GridSample(keep_labeled=True): {fraction:.0%} of the points of sample '
                      f'{source!r} are annotated, so nearly all of them are kept; keep_labeled '
                      'is meant for sparse annotations (Limited Annotations)',
                      logger='current', level=30)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(grid_size={self.grid_size}, mode={self.mode!r}, '
                f'return_inverse={self.return_inverse}, keep_labeled={self.keep_labeled})')
