"""The scaffolding shared by the pre-training datasets that pair the samples
of a wrapped dataset with teacher labels read from a store:
:class:`~d3l.datasets.PretrainRGBDDataset` (RGB-D frames + soft-label store)
and :class:`~d3l.datasets.FusedSceneDataset` (scenes + fused store)."""
from __future__ import annotations

import logging
from typing import List, Sequence

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from d3l.registry import DATASETS

MISSING_MODES = ('skip', 'error')


class StoredLabelsDataset(BaseDataset):
    """A wrapped dataset plus a label store, both opened on first use.

    They are opened lazily (``_open``, from ``full_init`` or
    ``load_data_list``) rather than in ``__init__`` so that building the
    dataset in the main process stays cheap and each data-loader worker
    opens its own memory maps. The store's class names become
    ``metainfo['classes']`` unless the config sets them.

    Subclasses give ``_open_store()`` and ``load_data_list()`` (which may
    report wrapped samples without labels through ``_report_missing``).

    Args:
        wrapped_cfg: config of the wrapped dataset.
        label_dir: the store's directory.
        pipeline: run on the merged sample.
        missing: wrapped samples without labels: ``'skip'`` (logged) or
            ``'error'``.
        allow_incomplete: use a store whose generation has not finished.
        verify_labels: check rows against their CRC-32 when read.
        **kwargs: MMEngine ``BaseDataset`` arguments (``indices``,
            ``test_mode``, ``lazy_init``, ``max_refetch``, ``metainfo``).
    """

    def __init__(self, wrapped_cfg: dict, label_dir: str, pipeline: Sequence = (),
                 missing: str = 'skip', allow_incomplete: bool = False,
                 verify_labels: bool = True, **kwargs):
        if missing not in MISSING_MODES:
            raise ValueError(f"{type(self).__name__}: missing must be 'skip' or 'error', got "
                             f'{missing!r}')
        self.wrapped_cfg = wrapped_cfg
        self.label_dir = label_dir
        self.missing = missing
        self.allow_incomplete = allow_incomplete
        self.verify_labels = verify_labels
        self.wrapped = None
        self.store = None
        self.num_missing = 0
        # samples are built from the wrapped dataset, so there is no data
        # list worth serialising
        super().__init__(pipeline=list(pipeline), serialize_data=False, **kwargs)

    def _open_store(self):
        raise NotImplementedError

    def _open(self) -> None:
        if self.store is None:
            self.store = self._open_store()
        if self.wrapped is None:
            self.wrapped = DATASETS.build(self.wrapped_cfg)
            if hasattr(self.wrapped, 'full_init'):
                self.wrapped.full_init()

    def full_init(self):
        if self._fully_initialized:
            return
        self._open()
        # the teacher's classes are the dataset's, unless metainfo says otherwise
        if self._metainfo.get('classes') is None:
            self._metainfo['classes'] = tuple(self.store.class_names)
        super().full_init()

    def _report_missing(self, missing: List[str], message: str,
                        error: type = ValueError) -> None:
        """Count the wrapped samples without labels; with any, raise
        ``error(message)`` (``missing='error'``) or log that they are skipped."""
        self.num_missing = len(missing)
        if not missing:
            return
        if self.missing == 'error':
            raise error(message)
        print_log(message + '; they are skipped', logger='current', level=logging.WARNING)
