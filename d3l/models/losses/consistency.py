"""Mean-teacher consistency: MSE between student and teacher class distributions."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from d3l.registry import MODELS


@MODELS.register_module()
class ConsistencyLoss(nn.Module):
    """``loss_weight * mean_{i,c} (softmax(s_i)[c] - softmax(t_i)[c])^2``.

    This is the ``softmax_mse_loss`` of Tarvainen & Valpola's mean teacher
    (summed squared error divided by the number of classes, averaged over the
    rows). The teacher side is detached: only the student learns from it.
    ``loss_weight`` is what :class:`~d3l.engine.hooks.RampUpHook` ramps up
    (the reference reached 10 after 30 epochs).

    Args:
        loss_weight: multiplier.
    """

    def __init__(self, loss_weight: float = 10.0):
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                mask: Optional[Tensor] = None) -> Tensor:
        if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
            raise ValueError(
                f'ConsistencyLoss: student {tuple(student_logits.shape)} and teacher '
                f'{tuple(teacher_logits.shape)} logits must be the same (N, C) shape')
        if mask is not None:
            student_logits = student_logits[mask.bool()]
            teacher_logits = teacher_logits[mask.bool()]
        if student_logits.shape[0] == 0:
            return student_logits.sum() * 0.0
        student = F.softmax(student_logits.float(), dim=1)
        teacher = F.softmax(teacher_logits.detach().float(), dim=1)
        return F.mse_loss(student, teacher) * self.loss_weight

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}'
