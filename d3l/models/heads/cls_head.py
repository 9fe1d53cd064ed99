"""Shape classification head on globally pooled features."""
from typing import Optional

from mmengine.model import BaseModule
from torch import Tensor, nn

from d3l.registry import MODELS


@MODELS.register_module()
class ClsHead(BaseModule):
    """Maps pooled features (B, C_in) to class logits (B, num_classes).

    Args:
        in_channels: channels of the pooled backbone feature.
        num_classes: number of shape categories.
        hidden_channels: optional hidden layer (Linear-BN-ReLU).
        dropout: dropout before the classifier.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 hidden_channels: Optional[int] = None, dropout: float = 0.5, init_cfg=None):
        super().__init__(init_cfg)
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
