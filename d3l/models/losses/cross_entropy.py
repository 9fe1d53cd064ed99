"""Cross-entropy with the segmentation ignore label."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from d3l.registry import MODELS

IGNORE_INDEX = 255


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """``F.cross_entropy`` over points (or shapes) with ``ignore_index``.

    A batch in which every target is ignored gives a zero loss that still
    has a graph (so DDP sees every parameter), not NaN.

    Args:
        ignore_index: target value that contributes nothing (255).
        class_weight: optional per-class weights.
        label_smoothing: as in ``F.cross_entropy``.
        loss_weight: multiplier.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX,
                 class_weight: Optional[Sequence[float]] = None,
                 label_smoothing: float = 0.0, loss_weight: float = 1.0):
        super().__init__()
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.loss_weight = loss_weight
        self.register_buffer(
            'class_weight',
            None if class_weight is None else torch.tensor(class_weight, dtype=torch.float32),
            persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        target = target.long()
        if target.numel() == 0 or bool((target == self.ignore_index).all()):
            return logits.sum() * 0.0
        loss = F.cross_entropy(logits.float(), target, weight=self.class_weight,
                               ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)
        return loss * self.loss_weight
