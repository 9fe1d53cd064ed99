"""The classifier both heads share: optional hidden layer, dropout, linear."""
from typing import Optional

from mmengine.model import BaseModule
from torch import Tensor, nn


class LinearClassifierHead(BaseModule):
    """Features (M, C_in) to class logits (M, num_classes); the softmax lives
    in the loss / prediction.

    Args:
        in_channels: input feature channels.
        num_classes: number of classes.
        hidden_channels: optional Linear-BN-ReLU layer before the classifier.
        dropout: dropout before the classifier.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 hidden_channels: Optional[int] = None, dropout: float = 0.0, init_cfg=None):
        super().__init__(init_cfg)
        if num_classes < 1:
            raise ValueError(f'{type(self).__name__}: num_classes must be >= 1, got {num_classes}')
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
