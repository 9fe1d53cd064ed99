"""Shape-classification accuracy (overall and mean-class)."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from prettytable import PrettyTable

from d3l.registry import METRICS


@METRICS.register_module()
class ClsAccuracy(BaseMetric):
    """Overall accuracy (``OA``) and mean per-class accuracy (``mAcc``), in %,
    plus ``Acc.<class>`` for every class present in the ground truth (logged
    as a table). Shapes whose ground truth is ``ignore_index`` (unlabelled
    shapes of a data-efficient split) are not scored."""

    default_prefix = None

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = 255,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'gt_label' in sample and int(sample['gt_label']) != self.ignore_index:
                self.results.append((int(sample['pred_label']), int(sample['gt_label'])))

    def compute_metrics(self, results: list) -> dict:
        if not results:
            raise ValueError('ClsAccuracy: no prediction carried a ground-truth label')
        pred, gt = np.asarray(results).T
        classes = (self.dataset_meta or {}).get('classes')
        num_classes = self.num_classes or (len(classes) if classes else int(gt.max()) + 1)
        per_class = {c: float(np.mean(pred[gt == c] == c)) for c in range(num_classes)
                     if np.any(gt == c)}
        scores = {'OA': float(np.mean(pred == gt) * 100),
                  'mAcc': float(np.mean(list(per_class.values())) * 100)}
        names = list(classes) if classes and len(classes) == num_classes else None
        table = PrettyTable(['class', 'shapes', 'Acc'])
        for c, acc in per_class.items():
            name = names[c] if names else str(c)
            scores[f'Acc.{name}'] = acc * 100
            table.add_row([name, int(np.sum(gt == c)), f'{acc * 100:.2f}'])
        table.add_row(['OA', len(gt), f'{scores["OA"]:.2f}'])
        table.add_row(['mAcc', len(gt), f'{scores["mAcc"]:.2f}'])
        MMLogger.get_current_instance().info('per-class accuracy:\n' + table.get_string())
        return scores
