"""Sparse-convolution U-Net (SpUNet / MinkUNet family) on ``spconv``."""
from typing import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from d3l.registry import MODELS
from d3l.structures import PointBatch, VoxelGrid

from .utils import check_input, check_unet_stages, max_pool_per_cloud


def _spconv():
    try:
        import spconv.pytorch as spconv
    except ImportError as err:  # pragma: no cover - spconv is installed in CI
        raise ImportError(
            'SparseUNet needs spconv (pip install spconv==2.3.8 on CPU, spconv-cu12x on GPU; '
            'see requirements/optional.txt)') from err
    return spconv


class SparseBasicBlock(nn.Module):
    """Residual block of two 3x3x3 submanifold convolutions (+ BN, ReLU).

    A 1x1 projection (linear + BN) matches the shortcut when the widths
    differ. Submanifold layers keep the active sites, so the block shares
    its neighbour maps (``indice_key``) with every layer at its resolution.
    """

    def __init__(self, in_channels: int, out_channels: int, indice_key: str):
        super().__init__()
        spconv = _spconv()
        self.conv1 = spconv.SubMConv3d(in_channels, out_channels, 3, padding=1, bias=False,
                                       indice_key=indice_key)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = spconv.SubMConv3d(out_channels, out_channels, 3, padding=1, bias=False,
                                       indice_key=indice_key)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.proj = None
        if in_channels != out_channels:
            self.proj = nn.Sequential(nn.Linear(in_channels, out_channels, bias=False),
                                      nn.BatchNorm1d(out_channels))

    def forward(self, x):
        shortcut = x.features if self.proj is None else self.proj(x.features)
        out = self.conv1(x)
        out = out.replace_feature(self.relu(self.bn1(out.features)))
        out = self.conv2(out)
        return out.replace_feature(self.relu(self.bn2(out.features) + shortcut))


class SparseConvBnRelu(nn.Module):
    """A sparse convolution (any spconv conv module) + BN + ReLU."""

    def __init__(self, conv: nn.Module, channels: int):
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm1d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.conv(x)
        return x.replace_feature(self.relu(self.bn(x.features)))


@MODELS.register_module()
class SparseUNet(BaseModule):
    """Sparse-convolution U-Net on a voxel grid built from the batch.

    ``forward(PointBatch)`` returns (N, ``out_channels``) features for the
    input points in input order, or (B, C) with ``global_pool=True`` (an
    encoder only, max-pooled per cloud, for classification).

    The batch is voxelised at ``voxel_size`` (cached in ``PointBatch.cache``;
    each voxel's input feature is the mean of its points'), the network runs
    on the occupied voxels, and every point takes its voxel's output
    feature. Per-cloud voxel coordinates start at 0, so translating a cloud
    by a multiple of ``voxel_size`` leaves the output unchanged.

    Layout (Pointcept's SpUNet / MinkUNet): a submanifold stem; encoder
    stage ``i`` = 2x2x2 stride-2 sparse conv + ``enc_blocks[i]`` residual
    blocks of ``enc_channels[i]``; decoder stage ``i`` = inverse conv back to
    the finer voxels (sharing the encoder's ``indice_key``), concatenation
    with the encoder feature there, ``dec_blocks[i]`` residual blocks of
    ``dec_channels[i]``.

    Args:
        in_channels: channels of ``PointBatch.feat``.
        voxel_size: voxel edge in the units of the coordinates (0.02 m for
            ScanNet scenes).
        stem_channels: width of the stem convolution.
        stem_kernel: kernel size of the stem (3, or 5 as in MinkUNet).
        enc_channels / enc_blocks: width and residual blocks per encoder stage.
        dec_channels / dec_blocks: the same per decoder stage.
        global_pool: build the encoder only and max-pool its deepest
            features per cloud -> (B, enc_channels[-1]).
    """

    def __init__(self, in_channels: int, voxel_size: float = 0.02, stem_channels: int = 32,
                 stem_kernel: int = 3,
                 enc_channels: Sequence[int] = (32, 64, 128, 256),
                 enc_blocks: Sequence[int] = (2, 3, 4, 6),
                 dec_channels: Sequence[int] = (256, 128, 96, 96),
                 dec_blocks: Sequence[int] = (2, 2, 2, 2),
                 global_pool: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        name = type(self).__name__
        enc_channels, enc_blocks, dec_channels, dec_blocks = check_unet_stages(
            name, stem_channels, enc_channels, enc_blocks, dec_channels, dec_blocks,
            global_pool)
        if not voxel_size > 0:
            raise ValueError(f'{name}: voxel_size must be > 0, got {voxel_size}')
        if stem_kernel < 1 or stem_kernel % 2 == 0:
            raise ValueError(f'{name}: stem_kernel must be odd, got {stem_kernel}')
        spconv = _spconv()
        self.in_channels = in_channels
        self.voxel_size = float(voxel_size)
        self.global_pool = global_pool
        self.num_stages = len(enc_channels)

        self.stem = SparseConvBnRelu(spconv.SubMConv3d(
            in_channels, stem_channels, stem_kernel, padding=stem_kernel // 2, bias=False,
            indice_key='stem'), stem_channels)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        skip_channels, prev = [stem_channels], stem_channels
        for i, (channels, blocks) in enumerate(zip(enc_channels, enc_blocks)):
            self.down.append(SparseConvBnRelu(spconv.SparseConv3d(
                prev, channels, 2, stride=2, bias=False, indice_key=f'down{i + 1}'), channels))
            self.enc.append(nn.ModuleList([
                SparseBasicBlock(channels, channels, f'subm{i + 1}') for _ in range(blocks)]))
            skip_channels.append(channels)
            prev = channels
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        if not global_pool:
            for i, (channels, blocks) in enumerate(zip(dec_channels, dec_blocks)):
                level = self.num_stages - i  # the encoder level this stage comes up from
                skip = skip_channels[level - 1]
                self.up.append(SparseConvBnRelu(spconv.SparseInverseConv3d(
                    prev, channels, 2, bias=False, indice_key=f'down{level}'), channels))
                self.dec.append(nn.ModuleList([
                    SparseBasicBlock(skip + channels if j == 0 else channels, channels,
                                     f'subm{level - 1}') for j in range(blocks)]))
                prev = channels
        self.out_channels = prev

    def voxelize(self, batch: PointBatch) -> VoxelGrid:
        """The batch's voxel grid at ``voxel_size`` (cached on the batch)."""
        multiple = 2 ** self.num_stages
        return batch.cached(('voxels', self.voxel_size, multiple),
                            lambda: VoxelGrid.from_batch(batch, self.voxel_size, multiple))

    def forward(self, batch: PointBatch) -> Tensor:
        check_input(type(self).__name__, batch, self.in_channels)
        spconv = _spconv()
        grid = self.voxelize(batch)
        x = spconv.SparseConvTensor(grid.pool(batch.feat), grid.coords, grid.spatial_shape,
                                    grid.batch_size)
        x = self.stem(x)
        skips = [x]
        for down, blocks in zip(self.down, self.enc):
            x = down(x)
            for block in blocks:
                x = block(x)
            skips.append(x)
        if self.global_pool:
            return max_pool_per_cloud(x.features, x.indices[:, 0], batch.batch_size)
        for i, (up, blocks) in enumerate(zip(self.up, self.dec)):
            x = up(x)
            # the inverse conv restores the finer level's voxels in its order
            skip = skips[-i - 2]
            x = x.replace_feature(torch.cat([skip.features, x.features], dim=1))
            for block in blocks:
                x = block(x)
        return grid.to_points(x.features)
