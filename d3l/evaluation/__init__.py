from .cls_metric import ClsAccuracy
from .functional import confusion_matrix, iou_from_confusion, segmentation_scores
from .seg_metric import SegMetric

__all__ = ['SegMetric', 'ClsAccuracy', 'confusion_matrix', 'iou_from_confusion',
           'segmentation_scores']
