"""Pre-training on reconstructed scenes with fused teacher soft labels.

:class:`FusedSceneDataset` reads scenes (a :class:`ScanNetDataset` config:
vertices, colours, normals) and the per-vertex soft labels that
``tools/fuse_soft_labels.py`` fused onto them from the scenes' own RGB-D
frames (``docs/fusion.md``). The scenes' 3D labels are never read into a
sample: pre-training sees the teacher's labels only.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from d3l.registry import DATASETS
from d3l.soft_labels import LabelStoreError, SoftLabelCodec

from .stored_labels import MISSING_MODES, StoredLabelsDataset

IGNORE_INDEX = 255
#: ground-truth keys of the scenes that must not reach pre-training
GT_KEYS = ('labels', 'instance', 'origin_labels')


@DATASETS.register_module()
class FusedSceneDataset(StoredLabelsDataset):
    """Scenes + fused soft labels, for pre-training.

    Each sample is the scene's ``points`` / ``colors`` / ``normals`` (its
    ground-truth labels dropped) plus ``soft_labels``: the encoded
    ``{'indices', 'probs'}`` (N, k) of every vertex (``decode=False``, the
    default: :class:`~d3l.models.Pretrainer` decodes on the device), or
    dense (N, C) rows with ``decode=True``. Vertices no frame saw (or fewer
    than ``min_views``) are unlabelled (all-zero rows, ignored by the loss)
    and stay in the cloud as input geometry. Put it before the pipeline's
    augmentations: crops and grid sampling index ``soft_labels`` with the
    points.

    Args:
        scenes: dataset config of the scenes (``ScanNetDataset``; its
            pipeline is not run -- this dataset's ``pipeline`` is).
        label_dir: the fused directory (``tools/fuse_soft_labels.py``).
        pipeline: augmentation, sampling, ``PackPointInputs``.
        min_views: vertices seen by fewer frames are unlabelled.
        decode: see above.
        with_hard_labels: set ``labels`` to the fused top-1 class (255
            unlabelled), e.g. to validate with ``SegMetric`` over the
            teacher's classes.
        missing: scenes without fused labels: ``'skip'`` (logged) or ``'error'``.
        allow_incomplete / verify_labels: as :class:`PretrainRGBDDataset`.
        **kwargs: MMEngine ``BaseDataset`` arguments (``indices``,
            ``test_mode``, ``lazy_init``, ``max_refetch``, ``metainfo``).
    """

    def __init__(self, scenes: dict, label_dir: str, pipeline: Sequence = (),
                 min_views: int = 1, decode: bool = False, with_hard_labels: bool = False,
                 missing: str = 'skip', allow_incomplete: bool = False,
                 verify_labels: bool = True, **kwargs):
        if missing not in MISSING_MODES:  # before min_views, as always
            raise ValueError(f"FusedSceneDataset: missing must be 'skip' or 'error', got "
                             f'{missing!r}')
        if int(min_views) < 1:
            raise ValueError(f'FusedSceneDataset: min_views must be >= 1, got {min_views}')
        self.min_views = int(min_views)
        self.decode = decode
        self.with_hard_labels = with_hard_labels
        super().__init__(dict(scenes, pipeline=[]), label_dir, pipeline, missing=missing,
                         allow_incomplete=allow_incomplete, verify_labels=verify_labels,
                         **kwargs)

    @property
    def scenes(self):
        """The wrapped scene dataset (None until opened)."""
        return self.wrapped

    def _open_store(self):
        from d3l.fusion.store import FusedLabelStore
        return FusedLabelStore(self.label_dir, allow_incomplete=self.allow_incomplete,
                               verify=self.verify_labels)

    def load_data_list(self) -> list:
        self._open()
        scene_ids = [str(s) for s in self.scenes.scene_ids]
        data_list = [dict(scene_index=i, scene_id=s) for i, s in enumerate(scene_ids)
                     if s in self.store]
        missing = [s for s in scene_ids if s not in self.store]
        self._report_missing(
            missing, f'FusedSceneDataset: {len(missing)} of {len(scene_ids)} scenes have no '
            f'fused labels in {self.label_dir} (e.g. {missing[:3]})', LabelStoreError)
        if not data_list:
            raise LabelStoreError(f'FusedSceneDataset: no scene of {self.wrapped_cfg.get("type")}'
                                  f' has fused labels in {self.label_dir}')
        return data_list

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        sample = self.scenes.get_data_info(info['scene_index'])
        for key in GT_KEYS:
            sample.pop(key, None)
        scene_id = info['scene_id']
        record = self.store.get(scene_id, num_vertices=len(sample['points']))
        encoded = record.lookup(np.arange(len(sample['points'])))
        if self.min_views > 1:
            few = self.store.num_views(scene_id) < self.min_views
            encoded['probs'] = np.where(few[:, None], np.zeros_like(encoded['probs']),
                                        encoded['probs'])
        if self.with_hard_labels:
            sample['labels'] = SoftLabelCodec.top1(encoded, IGNORE_INDEX).numpy()
        sample['soft_labels'] = (SoftLabelCodec.decode(encoded, record.num_classes).numpy()
                                 if self.decode else encoded)
        sample['num_classes'] = record.num_classes
        sample['sample_idx'] = idx
        return self.pipeline(sample)
