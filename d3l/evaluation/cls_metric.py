"""Shape-classification accuracy (overall and mean-class)."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from d3l.registry import METRICS


@METRICS.register_module()
class ClsAccuracy(BaseMetric):
    """Overall accuracy (``OA``) and mean per-class accuracy (``mAcc``), in %."""

    default_prefix = None

    def __init__(self, num_classes: Optional[int] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'gt_label' in sample:
                self.results.append((int(sample['pred_label']), int(sample['gt_label'])))

    def compute_metrics(self, results: list) -> dict:
        if not results:
            raise ValueError('ClsAccuracy: no prediction carried a ground-truth label')
        pred, gt = np.asarray(results).T
        classes = (self.dataset_meta or {}).get('classes')
        num_classes = self.num_classes or (len(classes) if classes else int(gt.max()) + 1)
        per_class = [np.mean(pred[gt == c] == c) for c in range(num_classes) if np.any(gt == c)]
        return {'OA': float(np.mean(pred == gt) * 100), 'mAcc': float(np.mean(per_class) * 100)}
