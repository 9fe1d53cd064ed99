"""Logs how many bad RGB-D frames were skipped in each epoch."""
import logging
from typing import Iterator, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from d3l.registry import HOOKS

from .base import BaseRGBDDataset


def iter_rgbd_datasets(dataset) -> Iterator[BaseRGBDDataset]:
    """The :class:`BaseRGBDDataset` instances inside ``dataset`` (unwrapping
    MMEngine's Concat/Repeat/ClassBalanced wrappers and datasets that keep an
    RGB-D dataset as ``source``)."""
    if isinstance(dataset, BaseRGBDDataset):
        yield dataset
        return
    for child in getattr(dataset, 'datasets', None) or ():
        yield from iter_rgbd_datasets(child)
    for name in ('dataset', 'source'):  # MMEngine wrappers; datasets wrapping a source
        child = getattr(dataset, name, None)
        if child is not None and child is not dataset:
            yield from iter_rgbd_datasets(child)


@HOOKS.register_module()
class SkippedFramesHook(Hook):
    """At the end of each train / val / test epoch, log the number of bad
    frames that RGB-D datasets with ``skip_bad_frames=True`` skipped (all
    DataLoader workers included) and store it in the message hub as
    ``{mode}/skipped_frames``. A warning when any frame was skipped.

    Add it with ``custom_hooks = [dict(type='SkippedFramesHook')]``.
    """

    priority = 'VERY_LOW'

    def _report(self, runner, mode: str, loader) -> Optional[int]:
        if loader is None:
            return None
        dataset = getattr(loader, 'dataset', None)
        datasets = list(iter_rgbd_datasets(dataset)) if dataset is not None else []
        if not datasets:
            return None
        skipped = sum(ds.pop_epoch_skips() for ds in datasets)
        total = sum(ds.num_skipped for ds in datasets)
        runner.message_hub.update_info(f'{mode}/skipped_frames', skipped)
        level = logging.WARNING if skipped else logging.INFO
        print_log(f'{mode} epoch: skipped {skipped} bad RGB-D frames ({total} since start)',
                  logger='current', level=level)
        return skipped

    @staticmethod
    def _loader(runner, mode: str):
        # these hooks run inside the loop of ``mode``, so the loop is built
        loop = getattr(runner, f'_{mode}_loop', None)
        return getattr(loop, 'dataloader', None)

    def after_train_epoch(self, runner) -> None:
        self._report(runner, 'train', self._loader(runner, 'train'))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report(runner, 'val', self._loader(runner, 'val'))

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report(runner, 'test', self._loader(runner, 'test'))
