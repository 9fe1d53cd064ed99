"""Per-point segmentation head (linear + softmax, section 3.1 of the paper)."""
from typing import Optional

from mmengine.model import BaseModule
from torch import Tensor, nn

from d3l.registry import MODELS


@MODELS.register_module()
class SegHead(BaseModule):
    """Maps per-point features (N, C_in) to class logits (N, num_classes).

    The softmax lives in the loss / prediction, so ``forward`` returns logits.

    Args:
        in_channels: backbone output channels.
        num_classes: number of classes (teacher classes when pre-training).
        hidden_channels: optional hidden layer (Linear-BN-ReLU) before the
            classifier; ``None`` is the paper's single linear layer.
        dropout: dropout before the classifier.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 hidden_channels: Optional[int] = None, dropout: float = 0.0, init_cfg=None):
        super().__init__(init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        layers = []
        width = in_channels
        if hidden_channels:
            layers += [nn.Linear(width, hidden_channels), nn.BatchNorm1d(hidden_channels),
                       nn.ReLU(inplace=True)]
            width = hidden_channels
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.pre = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        self.num_classes = num_classes

    def forward(self, feats: Tensor) -> Tensor:
        return self.classifier(self.pre(feats))
