from .point_batch import PointBatch, concat_targets

__all__ = ['PointBatch', 'concat_targets']
