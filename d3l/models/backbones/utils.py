"""Pieces shared by the U-Net backbones."""
import logging
from typing import List, Sequence, Tuple

from mmengine.logging import print_log
from torch import Tensor

from d3l.structures import PointBatch


def check_unet_stages(name: str, stem_channels: int, enc_channels: Sequence[int],
                      enc_blocks: Sequence[int], dec_channels: Sequence[int],
                      dec_blocks: Sequence[int], global_pool: bool
                      ) -> Tuple[List[int], List[int], List[int], List[int]]:
    """Validate the per-stage widths and block counts of a U-Net config.

    The encoder has one stage per entry of ``enc_channels`` (each halves the
    resolution); the decoder mirrors it (one stage per entry of
    ``dec_channels``, back to the input resolution) unless ``global_pool``
    builds an encoder only.
    """
    enc_channels, enc_blocks = list(enc_channels), list(enc_blocks)
    dec_channels, dec_blocks = list(dec_channels), list(dec_blocks)
    if stem_channels < 1:
        raise ValueError(f'{name}: stem_channels must be >= 1, got {stem_channels}')
    if not enc_channels:
        raise ValueError(f'{name}: enc_channels needs at least one stage')
    if len(enc_blocks) != len(enc_channels):
        raise ValueError(f'{name}: enc_blocks has {len(enc_blocks)} entries for '
                         f'{len(enc_channels)} encoder stages (enc_channels)')
    if any(c < 1 for c in enc_channels + dec_channels):
        raise ValueError(f'{name}: channels must be >= 1, got enc {enc_channels} '
                         f'dec {dec_channels}')
    if any(b < 0 for b in enc_blocks):
        raise ValueError(f'{name}: enc_blocks must be >= 0, got {enc_blocks}')
    if not global_pool:
        if len(dec_channels) != len(enc_channels):
            raise ValueError(
                f'{name}: dec_channels has {len(dec_channels)} stages but the encoder has '
                f'{len(enc_channels)}; the decoder must return to the input resolution')
        if len(dec_blocks) != len(dec_channels):
            raise ValueError(f'{name}: dec_blocks has {len(dec_blocks)} entries for '
                             f'{len(dec_channels)} decoder stages (dec_channels)')
        if any(b < 1 for b in dec_blocks):
            raise ValueError(f'{name}: every decoder stage needs >= 1 block (it merges the '
                             f'skip connection), got dec_blocks={dec_blocks}')
    return enc_channels, enc_blocks, dec_channels, dec_blocks


def check_input(name: str, batch: PointBatch, in_channels: int) -> None:
    if not isinstance(batch, PointBatch):
        raise TypeError(f'{name} takes a d3l.structures.PointBatch, got {type(batch).__name__}')
    if batch.feat.shape[1] != in_channels:
        raise ValueError(f'{name} was built with in_channels={in_channels} but the batch has '
                         f'{batch.feat.shape[1]} feature channels (check the feat_keys of '
                         'PackPointInputs)')


def max_pool_per_cloud(feats: Tensor, batch_index: Tensor, batch_size: int) -> Tensor:
    """Global max pooling: (M, C) rows of ``batch_size`` clouds -> (B, C)."""
    pooled = feats.new_full((batch_size, feats.shape[1]), float('-inf'))
    index = batch_index.long()[:, None].expand_as(feats)
    pooled = pooled.scatter_reduce(0, index, feats, reduce='amax', include_self=True)
    return pooled


def warn_once(module, key: str, message: str) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen on ``module``."""
    seen = module.__dict__.setdefault('_d3l_warned', set())
    if key not in seen:
        seen.add(key)
        print_log(message, logger='current', level=logging.WARNING)


__all__ = ['check_unet_stages', 'check_input', 'max_pool_per_cloud', 'warn_once']
