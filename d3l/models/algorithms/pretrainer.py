"""Pre-training a 3D network on a 2D teacher's soft labels (section 3.1)."""
from typing import Dict, List, Optional

import torch
from torch import Tensor

from d3l.registry import MODELS
from d3l.soft_labels.codec import SoftLabelCodec
from d3l.structures import PointBatch

from .segmentor import Segmentor


@MODELS.register_module()
class Pretrainer(Segmentor):
    """Backbone + pre-training :class:`SegHead` over the teacher's C classes,
    trained with :class:`SoftCrossEntropyLoss` on per-point ``soft_labels``.

    The structure is a :class:`Segmentor`'s, so the ``backbone.*`` weights
    transfer by name to fine-tuning configs (``tools/export_backbone.py``
    drops the pre-training head). ``predict`` gives argmax predictions over
    the teacher classes, so pre-training can be validated, e.g. with
    ``SegMetric`` against the teacher's own top-1 labels (``labels`` added by
    ``LoadSoftLabels(with_hard_labels=True)``) on held-out frames.

    Data samples carry ``soft_labels`` as dense (N, C) float rows (all zero =
    no label) or encoded ``{'indices', 'probs'}`` per point, decoded on the
    model's device.

    Args:
        backbone / decode_head: as for :class:`Segmentor`; ``decode_head``
            must have ``num_classes`` = the teacher's classes.
        loss: defaults to ``SoftCrossEntropyLoss``.
    """

    def __init__(self, backbone: dict, decode_head: dict, loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, return_probs: bool = False,
                 test_cfg: Optional[dict] = None, init_cfg=None):
        super().__init__(backbone, decode_head, loss=loss or dict(type='SoftCrossEntropyLoss'),
                         data_preprocessor=data_preprocessor, return_probs=return_probs,
                         test_cfg=test_cfg, init_cfg=init_cfg)

    def soft_targets(self, data_samples: List[dict], device) -> Tensor:
        """Concatenated dense (N, C) targets of a batch."""
        parts = []
        for i, sample in enumerate(data_samples):
            target = sample.get('soft_labels')
            if target is None:
                raise KeyError(f'Pretrainer: data sample {i} carries no "soft_labels" (add '
                               'LoadSoftLabels to the pipeline after lifting and sampling)')
            if isinstance(target, dict):
                target = SoftLabelCodec.decode(
                    {k: torch.as_tensor(target[k]).to(device) for k in ('indices', 'probs')},
                    self.num_classes)
            target = torch.as_tensor(target).to(device=device, dtype=torch.float32)
            if target.dim() != 2 or target.shape[1] != self.num_classes:
                raise ValueError(
                    f'Pretrainer: soft_labels of sample {i} are {tuple(target.shape)} but the '
                    f'pre-training head has {self.num_classes} classes (set '
                    'decode_head.num_classes to the teacher\'s class count)')
            parts.append(target)
        return torch.cat(parts)

    def loss(self, inputs: PointBatch, data_samples: List[dict]) -> Dict[str, Tensor]:
        logits = self._forward(inputs)
        target = self.soft_targets(data_samples, logits.device)
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f'Pretrainer: {target.shape[0]} soft-label rows for '
                             f'{logits.shape[0]} points')
        losses = {'loss_soft': self.loss_decode(logits, target)}
        with torch.no_grad():
            labelled = target.sum(1) > 0
            agree = (logits.argmax(1) == target.argmax(1)) & labelled
            # agreement with the teacher's top-1 on labelled points, in %
            losses['acc_teacher'] = agree.sum().float() / labelled.sum().clamp(min=1) * 100
            losses['labelled_ratio'] = labelled.float().mean()
        return losses
