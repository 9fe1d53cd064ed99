"""Octree U-Net (O-CNN) with configurable stages, on the ``ocnn`` package."""
from typing import Optional, Sequence

import ocnn
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from d3l.registry import MODELS
from d3l.structures import NORMALIZE_MODES, PointBatch, PointOctree

from .utils import check_input, check_unet_stages, max_pool_per_cloud

#: octree input-feature letters (ocnn's ``get_input_feature`` names) -> channels
#: (``F`` = the batch features, so its width is ``in_channels``)
OCTREE_FEATURES = {'F': None, 'N': 3, 'D': 1, 'L': 3, 'P': 3}
RESBLOCKS = {'basic': ocnn.modules.OctreeResBlock2, 'bottleneck': ocnn.modules.OctreeResBlock}


def _autocast_dtype(x: Tensor) -> Tensor:
    """Under autocast, the input of an ocnn transposed conv in the autocast
    dtype: ocnn 2.3 scatters the (autocast) half-precision GEMM result into
    an output buffer of the input's dtype, which fails for float32 input."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return x.to(torch.get_autocast_dtype(device))
    return x


@MODELS.register_module()
class OCNNUNet(BaseModule):
    """O-CNN U-Net on an octree built from the batch, per-point output.

    ``forward(PointBatch)`` returns (N, ``out_channels``) features for the
    input points in input order, or (B, C) with ``global_pool=True`` (an
    encoder only, max-pooled per cloud, for classification).

    The octree is built on the fly (and cached in ``PointBatch.cache``):
    every cloud is normalised into [-1, 1] (``normalize``), leaves are cells
    of the ``2 ** depth`` grid, and each leaf's input feature is the mean of
    its points'. With ``normalize='scene'`` the leaf edge is
    ``2 * scale / 2 ** depth`` metres: the defaults (depth 9, scale 5.12)
    give the paper's 512^3 grid of 2 cm leaves over a 10.24 m cube
    (:attr:`extent`). A cloud larger than the cube is an error
    (:class:`~d3l.structures.point_octree.ExtentError`), never clamped:
    training pipelines crop to the cube, and ``Segmentor`` slides windows
    over larger scenes at test time.

    Stage layout (as ``ocnn.models.UNet``, but configurable): a stem conv at
    ``depth``; encoder stage ``i`` = strided conv (depth - 1) +
    ``enc_blocks[i]`` residual blocks of ``enc_channels[i]``; decoder stage
    ``i`` = transposed conv back up + concatenation with the encoder
    feature of that depth + ``dec_blocks[i]`` residual blocks of
    ``dec_channels[i]``. Per-point features come from the leaves by nearest
    (scenes) or trilinear (parts) interpolation.

    Args:
        in_channels: channels of ``PointBatch.feat``.
        depth: octree depth (leaf resolution ``2 ** depth``).
        full_depth: levels up to this depth are full (ocnn's convention).
        normalize: ``'scene'`` (metric: centre + ``scale``), ``'bbox'``
            (fit each cloud's box, shapes) or ``'none'`` (already in [-1, 1]).
        scale: metres per unit of the [-1, 1] cube for ``'scene'``.
        margin: border left free by ``'bbox'``.
        octree_feature: input feature letters in order (ocnn names): ``F``
            the batch features averaged per leaf, ``N`` the leaf normal
            (from ``normal_channels``), ``D`` the displacement of the leaf's
            mean point along its normal, ``L`` the mean point's offset from
            the leaf centre, ``P`` its position in [-1, 1].
        normal_channels: columns of ``feat`` holding unit normals (needed
            by ``N`` and ``D``; ``(3, 4, 5)`` for ``('colors', 'normals')``).
        stem_channels: width of the stem convolution.
        enc_channels / enc_blocks: width and residual blocks per encoder stage.
        dec_channels / dec_blocks: the same per decoder stage.
        resblock: ``'basic'`` (two 3x3x3 convs, ocnn's ``OctreeResBlock2``)
            or ``'bottleneck'`` (1-3-1, ``OctreeResBlock``).
        bottleneck: channel reduction inside bottleneck blocks.
        nempty: convolve only non-empty octree nodes (faster, as O-CNN's
            scene models); False also keeps features on empty nodes.
        interp: ``'nearest'`` (each point takes its leaf's feature) or
            ``'linear'`` (trilinear over the neighbouring leaves).
        global_pool: build the encoder only and max-pool its deepest
            features per cloud -> (B, enc_channels[-1]).
    """

    def __init__(self, in_channels: int, depth: int = 9, full_depth: int = 2,
                 normalize: str = 'scene', scale: float = 5.12, margin: float = 0.01,
                 octree_feature: str = 'F', normal_channels: Optional[Sequence[int]] = None,
                 stem_channels: int = 32,
                 enc_channels: Sequence[int] = (32, 64, 128, 256),
                 enc_blocks: Sequence[int] = (2, 3, 4, 6),
                 dec_channels: Sequence[int] = (256, 128, 96, 96),
                 dec_blocks: Sequence[int] = (2, 2, 2, 2),
                 resblock: str = 'basic', bottleneck: int = 4, nempty: bool = True,
                 interp: str = 'nearest', global_pool: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        name = type(self).__name__
        enc_channels, enc_blocks, dec_channels, dec_blocks = check_unet_stages(
            name, stem_channels, enc_channels, enc_blocks, dec_channels, dec_blocks,
            global_pool)
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f'{name}: normalize must be one of {NORMALIZE_MODES}, '
                             f'got {normalize!r}')
        if not 1 <= full_depth <= depth <= 16:
            raise ValueError(f'{name}: need 1 <= full_depth <= depth <= 16, got '
                             f'full_depth={full_depth}, depth={depth}')
        if depth - len(enc_channels) < 1:
            raise ValueError(f'{name}: depth={depth} is too shallow for {len(enc_channels)} '
                             f'encoder stages (the deepest stage would be at depth '
                             f'{depth - len(enc_channels)} < 1)')
        if interp not in ('nearest', 'linear'):
            raise ValueError(f"{name}: interp must be 'nearest' or 'linear', got {interp!r}")
        if resblock not in RESBLOCKS:
            raise ValueError(f'{name}: resblock must be one of {sorted(RESBLOCKS)}, '
                             f'got {resblock!r}')
        octree_feature = octree_feature.upper()
        unknown = set(octree_feature) - set(OCTREE_FEATURES)
        if not octree_feature or unknown:
            raise ValueError(f'{name}: octree_feature {octree_feature!r} must be made of the '
                             f'letters {"".join(OCTREE_FEATURES)}')
        if set('ND') & set(octree_feature):
            if normal_channels is None or len(normal_channels) != 3:
                raise ValueError(f'{name}: octree_feature {octree_feature!r} needs '
                                 'normal_channels, the 3 columns of feat holding normals')
            if max(normal_channels) >= in_channels or min(normal_channels) < 0:
                raise ValueError(f'{name}: normal_channels {tuple(normal_channels)} are not '
                                 f'columns of a feat with in_channels={in_channels}')
        self.in_channels = in_channels
        self.depth = depth
        self.full_depth = full_depth
        self.normalize = normalize
        self.scale = float(scale)
        self.margin = float(margin)
        self.octree_feature = octree_feature
        self.normal_channels = None if normal_channels is None else list(normal_channels)
        self.nempty = nempty
        self.interp = interp
        self.global_pool = global_pool
        self.num_stages = len(enc_channels)

        width = sum(in_channels if OCTREE_FEATURES[c] is None else OCTREE_FEATURES[c]
                    for c in octree_feature)
        self.input_channels = width
        block = RESBLOCKS[resblock]
        block_bottleneck = bottleneck if resblock == 'bottleneck' else 1
        self.stem = ocnn.modules.OctreeConvBnRelu(width, stem_channels, nempty=nempty)
        self.down = nn.ModuleList()
        self.enc = nn.ModuleList()
        skip_channels, prev = [stem_channels], stem_channels
        for channels, blocks in zip(enc_channels, enc_blocks):
            self.down.append(ocnn.modules.OctreeConvBnRelu(
                prev, channels, kernel_size=[2], stride=2, nempty=nempty))
            self.enc.append(ocnn.modules.OctreeResBlocks(
                channels, channels, blocks, block_bottleneck, nempty, block))
            skip_channels.append(channels)
            prev = channels
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        if not global_pool:
            for i, (channels, blocks) in enumerate(zip(dec_channels, dec_blocks)):
                skip = skip_channels[-i - 2]
                self.up.append(ocnn.modules.OctreeDeconvBnRelu(
                    prev, channels, kernel_size=[2], stride=2, nempty=nempty))
                self.dec.append(ocnn.modules.OctreeResBlocks(
                    skip + channels, channels, blocks, block_bottleneck, nempty, block))
                prev = channels
        self.out_channels = prev

    # ------------------------------------------------------------------
    @property
    def extent(self) -> Optional[float]:
        """Largest cloud size (metres) along any axis that fits in the cube
        with ``normalize='scene'``; None when any size fits (``'bbox'``)
        or the coordinates are already in the cube (``'none'``)."""
        return 2 * self.scale if self.normalize == 'scene' else None

    def build_octree(self, batch: PointBatch) -> PointOctree:
        """The batch's octree for this configuration (cached on the batch).
        Raises :class:`~d3l.structures.point_octree.ExtentError` for a cloud
        that does not fit in the cube."""
        key = ('ocnn', self.depth, self.full_depth, self.normalize, self.scale, self.margin)
        return batch.cached(key, lambda: PointOctree.from_batch(
            batch, self.depth, self.full_depth, self.normalize, self.scale, self.margin))

    def input_features(self, batch: PointBatch, tree: PointOctree) -> Tensor:
        """(L, input_channels) features of the non-empty leaves."""
        parts, normals, local = [], None, None
        for letter in self.octree_feature:
            if letter in 'ND' and normals is None:
                normals = F.normalize(tree.pool(batch.feat[:, self.normal_channels]), dim=1)
            if letter in 'DL' and local is None:
                local = tree.leaf_points().frac() - 0.5
            if letter == 'F':
                parts.append(tree.pool(batch.feat))
            elif letter == 'N':
                parts.append(normals)
            elif letter == 'D':
                parts.append((local * normals).sum(dim=1, keepdim=True))
            elif letter == 'L':
                parts.append(local)
            else:  # 'P'
                parts.append(tree.leaf_points() * 2 ** (1 - self.depth) - 1)
        return torch.cat(parts, dim=1)

    def forward(self, batch: PointBatch) -> Tensor:
        check_input(type(self).__name__, batch, self.in_channels)
        tree = self.build_octree(batch)
        octree, depth = tree.octree, self.depth
        data = self.input_features(batch, tree)
        if not self.nempty:
            data = ocnn.nn.octree_pad(data, octree, depth)

        skips = {depth: self.stem(data, octree, depth)}
        x = skips[depth]
        for i in range(self.num_stages):
            d = depth - i
            x = self.down[i](x, octree, d)
            x = self.enc[i](x, octree, d - 1)
            skips[d - 1] = x
        if self.global_pool:
            return self._pool(x, octree, depth - self.num_stages, batch.batch_size)

        for i in range(self.num_stages):
            d = depth - self.num_stages + i
            x = self.up[i](_autocast_dtype(x), octree, d)
            # skip first, as ocnn.models.UNet does
            x = self.dec[i](torch.cat([skips[d + 1], x], dim=1), octree, d + 1)
        return self._to_points(x, tree)

    def _to_points(self, x: Tensor, tree: PointOctree) -> Tensor:
        if self.interp == 'linear':
            return ocnn.nn.octree_linear_pts(x, tree.octree, self.depth, tree.query, self.nempty)
        index = tree.point2leaf
        if not self.nempty:
            index = tree.octree.nempty_index(self.depth)[index]
        return x[index]

    def _pool(self, x: Tensor, octree, depth: int, batch_size: int) -> Tensor:
        batch_index = octree.batch_id(depth, nempty=self.nempty)
        if not self.nempty:
            keep = octree.nempty_mask(depth)
            x, batch_index = x[keep], batch_index[keep]
        return max_pool_per_cloud(x, batch_index, batch_size)
