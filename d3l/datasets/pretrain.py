"""Pre-training data: RGB-D frames + their stored soft pseudo-labels.

:class:`PretrainRGBDDataset` wraps any RGB-D source dataset and a label
directory written by ``tools/generate_pseudo_labels.py``. Each sample is the
source's loaded frame (``img``, ``depth``, camera, ...) plus
``soft_label_record`` (a :class:`~d3l.soft_labels.SoftLabelRecord`). The
pipeline lifts the frame (``LiftPerspective`` / ``LiftEquirect`` /
``LiftRGBD``, which add ``pixel_index``), augments and subsamples it, and
:class:`LoadSoftLabels` then decodes the labels of the surviving points only,
from their ``pixel_index``: decoding whole images every step would spend the
time that generating the labels once saved.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from d3l.registry import DATASETS, TRANSFORMS
from d3l.soft_labels import SoftLabelCodec, SoftLabelStore, check_dataset_source

from .stored_labels import StoredLabelsDataset
from .transforms.utils import select_points

IGNORE_INDEX = 255


@DATASETS.register_module()
class PretrainRGBDDataset(StoredLabelsDataset):
    """RGB-D frames with stored teacher soft labels, for pre-training.

    Args:
        source: config of the RGB-D dataset whose frames were labelled (its
            pipeline should only load the frame, e.g. ``[dict(type='LoadRGBD')]``,
            the default when it has none).
        label_dir: the label directory (``manifest.json`` + shards).
        pipeline: lifting, augmentation, sampling, ``LoadSoftLabels``,
            ``PackPointInputs``.
        missing: what to do with source frames that have no stored labels
            (they failed during generation, or the directory covers another
            split): ``'skip'`` (default; counted and logged) or ``'error'``.
        allow_incomplete: train on a directory whose generation has not
            finished.
        check_source: compare the source with the one the labels were made
            from (manifest ``source``): another dataset type, or frames whose
            files have other sizes, are an error (:class:`LabelStoreError`);
            another root or other mtimes with the same sizes are logged.
        verify_labels: check each frame's label rows against their CRC-32
            when read (a corrupt shard is an error naming it and the frame).
        **kwargs: MMEngine ``BaseDataset`` arguments (``indices``,
            ``test_mode``, ``lazy_init``, ``max_refetch``, ``metainfo``).

    ``metainfo['classes']`` are the teacher's class names (from the
    manifest), so ``SegMetric`` can score predictions over them.
    """

    def __init__(self, source: dict, label_dir: str, pipeline: Sequence = (),
                 missing: str = 'skip', allow_incomplete: bool = False,
                 check_source: bool = True, verify_labels: bool = True, **kwargs):
        source_cfg = dict(source)
        source_cfg.setdefault('pipeline', [dict(type='LoadRGBD')])
        self.check_source = check_source
        super().__init__(source_cfg, label_dir, pipeline, missing=missing,
                         allow_incomplete=allow_incomplete, verify_labels=verify_labels,
                         **kwargs)

    @property
    def source(self):
        """The wrapped RGB-D dataset (None until opened)."""
        return self.wrapped

    def _open_store(self) -> SoftLabelStore:
        return SoftLabelStore(self.label_dir, allow_incomplete=self.allow_incomplete,
                              verify=self.verify_labels)

    def load_data_list(self) -> list:
        self._open()
        if hasattr(self.source, 'frame_ids'):
            frame_ids = list(self.source.frame_ids())
        else:
            frame_ids = [self.source.get_data_info(i)['frame_id'] for i in range(len(self.source))]
        data_list, missing = [], []
        for index, frame_id in enumerate(frame_ids):
            if str(frame_id) in self.store:
                data_list.append({'source_index': index, 'frame_id': str(frame_id)})
            else:
                missing.append(str(frame_id))
        self._report_missing(
            missing, f'PretrainRGBDDataset: {len(missing)} of {len(frame_ids)} source frames '
            f'have no stored labels in {self.label_dir} (e.g. {missing[:3]}; '
            f'{len(self.store.failed)} frames failed during generation)')
        if not data_list:
            raise ValueError(f'PretrainRGBDDataset: no frame of the source has labels in '
                             f'{self.label_dir} (were they generated from this dataset?)')
        if self.check_source:
            frames = [(info['source_index'], info['frame_id']) for info in data_list]
            for note in check_dataset_source(self.store.manifest, self.label_dir, self.source,
                                             type(self.source).__name__, frames):
                print_log(f'PretrainRGBDDataset: {note}', logger='current',
                          level=logging.WARNING)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        info = dict(super().get_data_info(idx))
        info['sample_idx'] = idx
        return info

    def prepare_data(self, idx: int):
        info = self.get_data_info(idx)
        source = self.source
        if hasattr(source, 'try_prepare'):
            sample = source.try_prepare(info['source_index'])
        else:
            sample = source.prepare_data(info['source_index'])
        if sample is None:  # a bad frame the source skips: BaseDataset refetches
            return None
        if str(sample.get('frame_id')) != info['frame_id']:
            raise RuntimeError(f'PretrainRGBDDataset: source index {info["source_index"]} gave '
                               f'frame {sample.get("frame_id")!r}, expected {info["frame_id"]!r}')
        sample['soft_label_record'] = self.store.get(info['frame_id'])
        sample['sample_idx'] = idx
        return self.pipeline(sample)


@TRANSFORMS.register_module()
class LoadSoftLabels(BaseTransform):
    """Per-point soft labels from ``soft_label_record`` and ``pixel_index``.

    Put it after lifting and after every transform that drops points (grid
    sampling, crops), so only kept points are decoded.

    Adds ``soft_labels``: (N, C) float32 rows summing to 1 (all zero for
    points whose pixel has no label), or with ``decode=False`` the encoded
    ``{'indices': (N, k), 'probs': (N, k)}`` per point, which
    :class:`~d3l.models.Pretrainer` / ``SoftCrossEntropyLoss`` decode on the
    device (k * 3 bytes per point through the data loader instead of 4 C).

    Args:
        decode: see above.
        with_hard_labels: also set ``labels`` to the teacher's top-1 class
            (255 where unlabelled), e.g. to validate pre-training with
            ``SegMetric`` over the teacher's classes. It replaces ground-truth
            ``labels`` lifted from ``pixel_labels``.
        drop_unlabelled: remove points without a label.
    """

    def __init__(self, decode: bool = True, with_hard_labels: bool = False,
                 drop_unlabelled: bool = False, ignore_index: int = IGNORE_INDEX):
        self.decode = decode
        self.with_hard_labels = with_hard_labels
        self.drop_unlabelled = drop_unlabelled
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        record = results.pop('soft_label_record', None)
        if record is None:
            raise KeyError('LoadSoftLabels: the sample has no "soft_label_record" (use it with '
                           'PretrainRGBDDataset)')
        if 'pixel_index' not in results:
            raise KeyError('LoadSoftLabels: the sample has no "pixel_index"; put it after '
                           'LiftPerspective / LiftEquirect / LiftRGBD')
        image_shape = results.get('img_shape')
        if image_shape is None and results.get('img') is not None:
            image_shape = np.shape(results['img'])[:2]
        encoded = record.lookup(results['pixel_index'], image_shape)  # checks the rows
        # the top-1 only where it is used: 2.5-4 ms of a panorama's 120k points
        top1 = (SoftLabelCodec.top1(encoded, self.ignore_index).numpy()
                if self.drop_unlabelled or self.with_hard_labels else None)
        if self.drop_unlabelled:
            keep = np.flatnonzero(top1 != self.ignore_index)
            if len(keep) < len(top1):
                select_points(results, keep)
                encoded = {k: v[keep] for k, v in encoded.items()}
                top1 = top1[keep]
        if self.decode:
            results['soft_labels'] = SoftLabelCodec.decode(encoded, record.num_classes).numpy()
        else:
            results['soft_labels'] = encoded
        if self.with_hard_labels:
            results['labels'] = top1.astype(np.int64)
        results['num_classes'] = record.num_classes
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(decode={self.decode}, '
                f'with_hard_labels={self.with_hard_labels}, '
                f'drop_unlabelled={self.drop_unlabelled})')
