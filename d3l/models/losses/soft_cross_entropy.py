"""Soft cross-entropy against teacher distributions (eq. 1 of the paper)."""
from typing import Dict, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d3l.registry import MODELS
from d3l.soft_labels.codec import SoftLabelCodec


@MODELS.register_module()
class SoftCrossEntropyLoss(nn.Module):
    """``-1/N sum_i sum_c t_i[c] log softmax(y_i)[c]`` over labelled points.

    Points whose target row is all zero have no label (the teacher saw no
    valid pixel for them, or a ground-truth map marked them ignored): they
    contribute nothing and are not counted in ``N``. A batch without any
    labelled point gives a zero loss that keeps the graph.

    Args:
        loss_weight: multiplier.
        num_classes: only needed when targets come encoded (see below) and
            differ from the logits' width; defaults to ``logits.shape[1]``.

    The target is either dense ``(N, C)`` probabilities or the encoded dict
    ``{'indices', 'probs'}`` of :class:`~d3l.soft_labels.SoftLabelCodec`,
    which is decoded on the logits' device (pipelines can then pass 9 bytes
    per point instead of ``4 C``).
    """

    def __init__(self, loss_weight: float = 1.0, num_classes: int = None):
        super().__init__()
        self.loss_weight = loss_weight
        self.num_classes = num_classes

    def dense_target(self, target: Union[Tensor, Dict[str, Tensor]], logits: Tensor) -> Tensor:
        if isinstance(target, dict):
            num_classes = self.num_classes or logits.shape[1]
            target = SoftLabelCodec.decode(
                {k: torch.as_tensor(target[k]).to(logits.device) for k in ('indices', 'probs')},
                num_classes)
        return target.to(device=logits.device, dtype=torch.float32)

    def forward(self, logits: Tensor, target: Union[Tensor, Dict[str, Tensor]]) -> Tensor:
        target = self.dense_target(target, logits)
        if target.shape != logits.shape:
            raise ValueError(f'SoftCrossEntropyLoss: target {tuple(target.shape)} and logits '
                             f'{tuple(logits.shape)} differ (teacher classes vs head classes?)')
        labelled = target.sum(1) > 0
        if not bool(labelled.any()):
            return logits.sum() * 0.0
        log_probs = F.log_softmax(logits[labelled].float(), dim=1)
        loss = -(target[labelled] * log_probs).sum(1).mean()
        return loss * self.loss_weight
