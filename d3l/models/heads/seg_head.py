"""Per-point segmentation head (linear + softmax, section 3.1 of the paper)."""
from typing import Optional

from d3l.registry import MODELS

from .linear_head import LinearClassifierHead


@MODELS.register_module()
class SegHead(LinearClassifierHead):
    """Per-point features (N, C_in) to class logits (N, num_classes).

    ``hidden_channels=None`` and ``dropout=0`` is the paper's single linear
    layer; the pre-training head has the teacher's classes.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 hidden_channels: Optional[int] = None, dropout: float = 0.0, init_cfg=None):
        super().__init__(in_channels, num_classes, hidden_channels, dropout, init_cfg)
