"""ShapeNet part segmentation metric (instance and category mIoU)."""
from typing import Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from prettytable import PrettyTable

from d3l.registry import METRICS

from .functional import IGNORE_INDEX, part_iou, part_miou, restrict_to_parts


@METRICS.register_module()
class PartSegMetric(BaseMetric):
    """Part mIoU following the ShapeNet part protocol.

    For each shape, IoU over its own category's parts (a part absent from
    both prediction and ground truth counts as 1). ``ins_mIoU`` averages over
    shapes, ``cat_mIoU`` over categories; ``IoU.<category>`` per category.
    When the prediction carries per-point ``probs`` (``Segmentor(...,
    return_probs=True)``), the predicted part is the argmax over the shape's
    category parts only; otherwise ``pred`` is scored as it is.

    The shape's category comes from ``metainfo['category']`` and its parts
    from ``dataset_meta['category_parts']`` (or ``category_parts=``).
    """

    default_prefix = None

    def __init__(self, category_parts: Optional[dict] = None, ignore_index: int = IGNORE_INDEX,
                 restrict: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._category_parts = category_parts
        self.ignore_index = ignore_index
        self.restrict = restrict

    @property
    def category_parts(self) -> dict:
        parts = self._category_parts or (self.dataset_meta or {}).get('category_parts')
        if not parts:
            raise ValueError('PartSegMetric needs category_parts (from dataset metainfo or the '
                             'metric config)')
        return parts

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        table = self.category_parts
        for sample in data_samples:
            if 'gt' not in sample:
                continue
            meta = sample.get('metainfo', {})
            category = meta.get('category')
            if category not in table:
                raise ValueError(f'PartSegMetric: shape {meta.get("shape_id", "?")} has category '
                                 f'{category!r}, not one of {sorted(table)}')
            parts = table[category]
            gt = np.asarray(sample['gt']).reshape(-1)
            scored = gt[gt != self.ignore_index]
            if scored.size and not np.isin(scored, parts).all():
                bad = scored[~np.isin(scored, parts)][0]
                raise ValueError(f'PartSegMetric: shape {meta.get("shape_id", "?")} of '
                                 f'{category} has ground-truth part {bad}, not in {parts}')
            if self.restrict and sample.get('probs') is not None:
                pred = restrict_to_parts(np.asarray(sample['probs']), parts)
            else:
                pred = np.asarray(sample['pred']).reshape(-1)
            self.results.append((category, part_iou(pred, gt, parts, self.ignore_index)))

    def compute_metrics(self, results: list) -> dict:
        scores = part_miou(results)
        counts = {}
        for category, _ in results:
            counts[category] = counts.get(category, 0) + 1
        table = PrettyTable(['category', 'shapes', 'mIoU'])
        for name in self.category_parts:
            if name in counts:
                table.add_row([name, counts[name], f'{scores[f"IoU.{name}"]:.2f}'])
        table.add_row(['category mIoU', len(results), f'{scores["cat_mIoU"]:.2f}'])
        table.add_row(['instance mIoU', len(results), f'{scores["ins_mIoU"]:.2f}'])
        MMLogger.get_current_instance().info('per-category part mIoU:\n' + table.get_string())
        return scores
