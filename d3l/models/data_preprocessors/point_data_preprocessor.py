"""Move a collated point batch to the model's device as a PointBatch."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from d3l.registry import MODELS
from d3l.structures import PointBatch


@MODELS.register_module()
class PointDataPreprocessor(BaseDataPreprocessor):
    """Builds :class:`PointBatch` from :func:`~d3l.datasets.point_collate` output.

    Args:
        feat_mean / feat_std: optional per-channel normalisation of the input
            features, applied on the device (e.g. colours in [0, 1] to zero
            mean).
    """

    def __init__(self, feat_mean: Optional[Sequence[float]] = None,
                 feat_std: Optional[Sequence[float]] = None):
        super().__init__()
        if (feat_mean is None) != (feat_std is None):
            raise ValueError('give both feat_mean and feat_std, or neither')
        self._normalise = feat_mean is not None
        if self._normalise:
            self.register_buffer('feat_mean', torch.tensor(feat_mean, dtype=torch.float32), False)
            self.register_buffer('feat_std', torch.tensor(feat_std, dtype=torch.float32), False)

    def _to_batch(self, inputs: dict) -> PointBatch:
        feat = inputs['feat']
        if self._normalise:
            if feat.shape[1] != self.feat_mean.numel():
                raise ValueError(f'feat has {feat.shape[1]} channels but feat_mean has '
                                 f'{self.feat_mean.numel()}')
            feat = (feat - self.feat_mean) / self.feat_std
        return PointBatch(inputs['coord'], feat, inputs['batch'], int(inputs['batch_size']))

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if 'views' in inputs:
            batch = [self._to_batch(view) for view in inputs['views']]
        else:
            batch = self._to_batch(inputs)
        return {'inputs': batch, 'data_samples': data.get('data_samples')}
