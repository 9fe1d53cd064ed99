"""Entropy minimisation (Grandvalet & Bengio, 2005) on unlabelled points or shapes."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d3l.registry import MODELS


def entropy(probs: Tensor, dim: int = 1) -> Tensor:
    """Shannon entropy (nats) of each distribution along ``dim``.

    ``0 log 0`` counts as 0 (``torch.special.xlogy``), so an exactly one-hot
    row has entropy 0 rather than NaN.
    """
    return -torch.special.xlogy(probs, probs).sum(dim)


def entropy_from_logits(logits: Tensor, dim: int = 1) -> Tensor:
    """Entropy of ``softmax(logits)`` along ``dim``, computed from
    ``log_softmax`` so that confident rows neither underflow to NaN nor lose
    their gradient."""
    log_probs = F.log_softmax(logits.float(), dim=dim)
    return -(log_probs.exp() * log_probs).sum(dim)


@MODELS.register_module()
class EntropyLoss(nn.Module):
    """``loss_weight * -1/N sum_i sum_c p_i[c] log p_i[c]`` with ``p = softmax(logits)``.

    Rows are points (segmentation, ``(N, C)``) or shapes (classification,
    ``(B, C)``). A mask selects the rows that count (the unlabelled ones);
    with no row selected the loss is a zero that keeps the graph (so DDP sees
    every parameter), not NaN. The entropy of a uniform prediction is
    ``log C``, of a one-hot one 0.

    Args:
        loss_weight: multiplier (the reference used 0.5).
    """

    def __init__(self, loss_weight: float = 0.5):
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, logits: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        if logits.dim() != 2:
            raise ValueError(f'EntropyLoss expects (N, C) logits, got {tuple(logits.shape)}')
        if mask is not None:
            if mask.shape != logits.shape[:1]:
                raise ValueError(f'EntropyLoss: mask {tuple(mask.shape)} does not match '
                                 f'{logits.shape[0]} rows')
            logits = logits[mask.bool()]
        if logits.shape[0] == 0:
            return logits.sum() * 0.0
        return entropy_from_logits(logits).mean() * self.loss_weight

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}'
