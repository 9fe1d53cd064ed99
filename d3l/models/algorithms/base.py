"""What Segmentor and Classifier share: a backbone, a head, a loss, the
MMEngine ``forward(inputs, data_samples, mode)`` dispatch and the
weight-transfer guard."""
from typing import Dict, List, Optional, Union

from mmengine.model import BaseModel
from torch import Tensor

from d3l.models.utils.weight_transfer import install_transfer_guard
from d3l.registry import MODELS
from d3l.structures import PointBatch
from d3l.structures.point_batch import BadPointInputError, check_point_batch, sample_name

#: what torch's BatchNorm says when a training batch has one value per channel
_BATCHNORM_SINGLE_VALUE = 'Expected more than 1 value per channel when training'


class PointAlgorithm(BaseModel):
    """Builds ``backbone``, the head under the attribute named by
    ``head_attr`` (its ``in_channels`` defaults to the backbone's
    ``out_channels``) and the loss under ``loss_attr``.

    Subclasses implement ``_forward`` (logits), ``loss`` and ``predict``
    and name their head in ``transfer_head_names`` (its checkpoint tensors
    are dropped when their shape differs, see
    ``d3l.models.utils.weight_transfer``; other mismatches are errors).
    """

    transfer_head_names = ()

    def __init__(self, backbone: dict, head: dict, head_attr: str, loss: Optional[dict],
                 loss_attr: str, data_preprocessor: Optional[dict] = None, init_cfg=None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='PointDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        head = dict(head)
        head.setdefault('in_channels', self.backbone.out_channels)
        setattr(self, head_attr, MODELS.build(head))
        setattr(self, loss_attr, MODELS.build(loss or dict(type='CrossEntropyLoss')))
        install_transfer_guard(self)

    def _forward(self, inputs: PointBatch, data_samples=None) -> Tensor:
        raise NotImplementedError

    def forward(self, inputs: PointBatch, data_samples: Optional[List[dict]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[dict], Tensor]:
        """MMEngine's dispatch, after :func:`check_point_batch` refused what
        the backbone would silently get wrong (NaN / inf points, a feature
        width other than the backbone's ``in_channels``, a 1-point training
        batch), naming the scenes."""
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f'{type(self).__name__}.forward: invalid mode {mode!r}')
        if isinstance(inputs, PointBatch):
            check_point_batch(inputs, data_samples,
                              in_channels=getattr(self.backbone, 'in_channels', None),
                              min_points=2 if self.training else 1)
        try:
            if mode == 'loss':
                return self.loss(inputs, data_samples)
            if mode == 'predict':
                return self.predict(inputs, data_samples)
            return self._forward(inputs, data_samples)
        except ValueError as err:
            if _BATCHNORM_SINGLE_VALUE not in str(err):
                raise
            names = ', '.join(sample_name(data_samples, i) for i in range(inputs.batch_size))
            raise BadPointInputError(
                f'{names}: a training batch of {inputs.num_points} points collapses to one '
                f'voxel / octant at a coarse level of {type(self.backbone).__name__} '
                '(BatchNorm needs 2 values); use larger crops, more points per sample or a '
                'larger batch') from None
