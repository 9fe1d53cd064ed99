"""Shape classification head on globally pooled features."""
from typing import Optional

from d3l.registry import MODELS

from .linear_head import LinearClassifierHead


@MODELS.register_module()
class ClsHead(LinearClassifierHead):
    """Pooled features (B, C_in) to class logits (B, num_classes), with
    dropout 0.5 before the classifier by default."""

    def __init__(self, in_channels: int, num_classes: int,
                 hidden_channels: Optional[int] = None, dropout: float = 0.5, init_cfg=None):
        super().__init__(in_channels, num_classes, hidden_channels, dropout, init_cfg)
