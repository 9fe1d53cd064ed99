"""Semantic-segmentation metric for MMEngine evaluators."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from prettytable import PrettyTable

from d3l.registry import METRICS

from .functional import IGNORE_INDEX, confusion_matrix, segmentation_scores


@METRICS.register_module()
class SegMetric(BaseMetric):
    """Accumulates a confusion matrix over ``pred`` / ``gt`` of each cloud.

    Reports mIoU (classes absent from both prediction and ground truth are
    excluded, as the ScanNet benchmark does), mAcc, aAcc and ``IoU.<class>``
    for every class, and logs a per-class table.

    Args:
        num_classes: defaults to ``len(dataset_meta['classes'])``.
        ignore_index: ground-truth label that is not scored.
    """

    default_prefix = None

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = IGNORE_INDEX,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _classes(self):
        classes = (self.dataset_meta or {}).get('classes')
        num_classes = self.num_classes or (len(classes) if classes else None)
        if num_classes is None:
            raise ValueError('SegMetric needs num_classes or dataset_meta["classes"]')
        names = list(classes) if classes and len(classes) == num_classes else None
        return num_classes, names

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        num_classes, _ = self._classes()
        for sample in data_samples:
            if 'gt' not in sample:
                continue
            self.results.append(confusion_matrix(
                sample['pred'].numpy(), sample['gt'].numpy(), num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> dict:
        num_classes, names = self._classes()
        if not results:
            raise ValueError('SegMetric: no prediction carried ground truth to score')
        confusion = np.sum(results, axis=0)
        scores = segmentation_scores(confusion, names)
        table = PrettyTable(['class', 'IoU'])
        for name in names or range(num_classes):
            value = scores[f'IoU.{name}']
            table.add_row([name, 'absent' if np.isnan(value) else f'{value:.2f}'])
        table.add_row(['mIoU', f'{scores["mIoU"]:.2f}'])
        MMLogger.get_current_instance().info('per-class IoU:\n' + table.get_string())
        return scores
