"""A per-point MLP: the no-context baseline and the fastest backbone for tests."""
from typing import Sequence

import torch
from mmengine.model import BaseModule
from torch import nn

from d3l.registry import MODELS
from d3l.structures import PointBatch


@MODELS.register_module()
class PointMLP(BaseModule):
    """Shared MLP on each point's features (and optionally coordinates).

    It sees no neighbourhood, so it is a lower bound for the U-Nets and a
    cheap stand-in in tests of the data and training plumbing.

    Args:
        in_channels: input feature channels (F of ``PointBatch.feat``).
        channels: hidden widths; the last is ``out_channels``.
        use_coord: append the xyz coordinates to the features.
        global_pool: return one max-pooled vector per cloud (B, C) instead
            of per-point features (N, C), for classification.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (32, 64),
                 use_coord: bool = True, global_pool: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        self.use_coord = use_coord
        self.global_pool = global_pool
        layers, width = [], in_channels + (3 if use_coord else 0)
        for out in channels:
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            width = out
        self.mlp = nn.Sequential(*layers)
        self.out_channels = width

    def forward(self, batch: PointBatch) -> torch.Tensor:
        x = batch.feat
        if self.use_coord:
            x = torch.cat([x, batch.coord], dim=1)
        x = self.mlp(x)
        if not self.global_pool:
            return x
        pooled = x.new_full((batch.batch_size, x.shape[1]), float('-inf'))
        index = batch.batch[:, None].expand_as(x)
        return pooled.scatter_reduce(0, index, x, reduce='amax', include_self=True)
