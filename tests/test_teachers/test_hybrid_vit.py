"""The DPT-Hybrid backbone: a conv stem in place of the ViT's patch embedding."""
import pytest
import torch

import d3l  # noqa: F401  (mmcv compatibility before mmseg)
from d3l.teachers.backbones import ConvStem, HybridVisionTransformer


def test_stem_stride_and_token_grid():
    stem = ConvStem(channels=(8, 16, 32), embed_dims=24)
    tokens, hw = stem(torch.randn(2, 3, 96, 128))
    assert hw == (12, 16) and tokens.shape == (2, 12 * 16, 24) and stem.stride == 8


def test_backbone_feeds_dpt_like_a_vit():
    vit = HybridVisionTransformer(
        stem_channels=(8, 16, 32), img_size=(96, 128), patch_size=8, embed_dims=32,
        num_layers=2, num_heads=2, mlp_ratio=2, out_indices=(0, 1), final_norm=False,
        with_cls_token=True, output_cls_token=True)
    vit.init_weights()
    outs = vit(torch.randn(1, 3, 64, 64))  # another size: the position embedding is resized
    assert [tuple(o[0].shape) for o in outs] == [(1, 32, 8, 8)] * 2
    assert all(tuple(o[1].shape) == (1, 32) for o in outs)
    # the residual branches start at zero (ResNet-style init)
    blocks = [m for m in vit.patch_embed.modules() if hasattr(m, 'conv2')]
    assert blocks and all(float(b.conv2.bn.weight.abs().sum()) == 0 for b in blocks)


def test_patch_size_must_equal_stem_stride():
    with pytest.raises(ValueError, match='stride 8'):
        HybridVisionTransformer(stem_channels=(8, 16, 32), img_size=(96, 128), patch_size=16,
                                embed_dims=32, num_layers=1, num_heads=2)
