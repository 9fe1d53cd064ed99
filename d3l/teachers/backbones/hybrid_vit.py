"""DPT-Hybrid's backbone at a small size: a convolutional stem, then a ViT.

DPT-Hybrid (Ranftl et al., 2021) embeds the image with ResNet stages instead
of 16x16 linear patches, so that the transformer's tokens carry local
features and stand for smaller cells. On the synthetic world's 128 x 96
photos a 16x16 patching leaves 8 x 6 tokens; a stride-8 residual stem gives
16 x 12 tokens of richer features for the same transformer. The stem replaces
``patch_embed`` of mmseg's :class:`VisionTransformer` (same outputs, so
mmseg's ``DPTHead`` reads it unchanged).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmseg.models.backbones import VisionTransformer
from mmseg.registry import MODELS
from torch import Tensor, nn


class _ResidualBlock(nn.Module):
    """ResNet's basic block (two 3x3 convolutions, identity shortcut)."""

    def __init__(self, channels: int, norm_cfg: dict):
        super().__init__()
        self.conv1 = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg)
        self.conv2 = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg,
                                act_cfg=None)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.conv2(self.conv1(x)))


class ConvStem(nn.Module):
    """Stride-``2 ** len(channels)`` embedding: per stage a stride-2 3x3
    convolution and ``blocks`` residual blocks, then a 1x1 projection to
    ``embed_dims``. ``forward`` returns (tokens (B, N, C), (h, w)) like
    mmseg's ``PatchEmbed``."""

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 blocks: int = 1, embed_dims: int = 192,
                 norm_cfg: Optional[dict] = None):
        super().__init__()
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        layers, prev = [], in_channels
        for width in channels:
            layers.append(ConvModule(prev, width, 3, stride=2, padding=1, norm_cfg=norm_cfg))
            layers.extend(_ResidualBlock(width, norm_cfg) for _ in range(blocks))
            prev = width
        self.stages = nn.Sequential(*layers)
        self.projection = nn.Conv2d(prev, embed_dims, 1)
        self.stride = 2 ** len(channels)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        x = self.projection(self.stages(x))
        hw_shape = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), hw_shape


@MODELS.register_module()
class HybridVisionTransformer(VisionTransformer):
    """mmseg's :class:`VisionTransformer` whose patch embedding is a
    :class:`ConvStem`; ``patch_size`` must equal the stem's stride (it sizes
    the position embedding and ``DPTHead``'s reassembly).

    Args:
        stem_channels: widths of the stem's stride-2 stages.
        stem_blocks: residual blocks per stem stage.
        stem_norm_cfg: the stem's normalisation.
        **kwargs: :class:`VisionTransformer`'s arguments.
    """

    def __init__(self, stem_channels: Sequence[int] = (32, 64, 128), stem_blocks: int = 1,
                 stem_norm_cfg: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        stem = ConvStem(kwargs.get('in_channels', 3), stem_channels, stem_blocks,
                        self.pos_embed.shape[-1], stem_norm_cfg)
        if stem.stride != self.patch_size:
            raise ValueError(f'HybridVisionTransformer: patch_size {self.patch_size} must equal '
                             f'the stem\'s stride {stem.stride} ({len(stem_channels)} stages)')
        self.patch_embed = stem

    def init_weights(self):
        super().init_weights()
        # VisionTransformer's init leaves BN weights at 1 and convs kaiming: keep them, but
        # start each residual branch near zero, as ResNets do (stable from scratch)
        for module in self.patch_embed.modules():
            if isinstance(module, _ResidualBlock):
                torch.nn.init.zeros_(module.conv2.bn.weight)
