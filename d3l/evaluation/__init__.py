from .cls_metric import ClsAccuracy
from .export import PredictionCount, PredictionExportHook
from .functional import (
    confusion_matrix,
    iou_from_confusion,
    part_iou,
    part_miou,
    restrict_to_parts,
    segmentation_scores,
)
from .part_metric import PartSegMetric
from .seg_metric import SegMetric
from .voting import VotingModel, merge_votes

__all__ = ['SegMetric', 'ClsAccuracy', 'PartSegMetric', 'confusion_matrix',
           'iou_from_confusion', 'segmentation_scores', 'part_iou', 'part_miou',
           'restrict_to_parts', 'VotingModel', 'merge_votes', 'PredictionExportHook',
           'PredictionCount']
