"""Use d3l backbones and transforms from mmdet3d configs (``docs/mmdet3d.md``).

Importing this module (``custom_imports=dict(imports=['d3l.models.mmdet3d_compat'])``
in an mmdet3d config) registers into mmdet3d's registries:

- ``D3LBackbone`` (MODELS): wraps any d3l backbone (``OCNNUNet``,
  ``SparseUNet``, ...) so that mmdet3d's ``EncoderDecoder3D`` can call it
  on its stacked ``(B, N, 3 + C)`` points; returns ``(B, C_out, N)``.
- ``D3LSegHead`` (MODELS): mmdet3d decode head on those per-point features
  (linear classifier, mmdet3d's losses and ``gt_pts_seg`` targets).
- ``FromMMDet3DPoints`` / ``ToMMDet3DPoints`` (TRANSFORMS): the bridge
  between mmdet3d's ``BasePoints`` and d3l's sample keys, around d3l
  transforms referenced as ``type='d3l.GridSample'`` etc.

It needs mmdet3d (``tools/setup_env.sh --mmdet3d``); without it the import
fails with that instruction. Nothing here is imported by ``import d3l``.
"""
import copy
from typing import List, Optional, Sequence, Union

from mmengine.model import BaseModule
from torch import Tensor

import d3l  # noqa: F401  (compat layer first: mmdet3d imports mmcv.ops)
from d3l.datasets.transforms.mmdet3d_points import FromMMDet3DPoints, ToMMDet3DPoints
from d3l.registry import MODELS as D3L_MODELS
from d3l.structures import PointBatch

try:
    from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
    from mmdet3d.registry import MODELS as MMDET3D_MODELS
    from mmdet3d.registry import TRANSFORMS as MMDET3D_TRANSFORMS
except ImportError as err:  # pragma: no cover - exercised only without mmdet3d
    raise ImportError(
        'd3l.models.mmdet3d_compat needs mmdet3d 1.4 and mmdet 3.3: install them with '
        '`bash tools/setup_env.sh --mmdet3d` (requirements/mmdet3d*.txt)') from err


class D3LBackbone(BaseModule):
    """A d3l backbone behind mmdet3d's point-segmentor interface.

    Args:
        backbone: config of a d3l backbone (built in the ``d3l`` scope).
        feat_dims: columns of mmdet3d's points used as d3l input features
            (None: every column after xyz); their count must equal the
            backbone's ``in_channels``.
    """

    def __init__(self, backbone: dict, feat_dims: Optional[Sequence[int]] = None,
                 init_cfg=None):
        super().__init__(init_cfg)
        cfg = copy.deepcopy(dict(backbone))
        cfg.setdefault('_scope_', 'd3l')
        self.backbone = D3L_MODELS.build(cfg)
        self.feat_dims = None if feat_dims is None else list(feat_dims)
        self.out_channels = self.backbone.out_channels

    def _split(self, cloud: Tensor):
        if cloud.dim() != 2 or cloud.shape[1] < 3:
            raise ValueError(f'D3LBackbone: each cloud must be (N, 3 + C), got '
                             f'{tuple(cloud.shape)}')
        feat = cloud[:, 3:] if self.feat_dims is None else cloud[:, self.feat_dims]
        if feat.shape[1] == 0:
            feat = cloud.new_ones((cloud.shape[0], 1))
        return cloud[:, :3].contiguous(), feat.contiguous()

    def forward(self, points: Union[Tensor, List[Tensor]]) -> Union[Tensor, List[Tensor]]:
        """``(B, N, D)`` stacked points -> ``(B, C, N)``; a list of ``(N_i, D)``
        clouds -> a list of ``(C, N_i)``."""
        clouds = list(points.unbind(0)) if isinstance(points, Tensor) else list(points)
        if isinstance(points, Tensor) and points.dim() != 3:
            raise ValueError(f'D3LBackbone: stacked points must be (B, N, D), got '
                             f'{tuple(points.shape)}')
        parts = [self._split(cloud) for cloud in clouds]
        batch = PointBatch.from_list([c for c, _ in parts], [f for _, f in parts])
        feats = self.backbone(batch)
        if feats.shape[0] != batch.num_points:
            raise ValueError('D3LBackbone needs a per-point backbone (global_pool=False)')
        if isinstance(points, Tensor):
            return feats.view(points.shape[0], points.shape[1], -1).transpose(1, 2).contiguous()
        return [f.t() for f in batch.split(feats)]


class D3LSegHead(Base3DDecodeHead):
    """Per-point linear classifier for :class:`D3LBackbone` features inside
    mmdet3d segmentors (``channels`` = the backbone's ``out_channels``).
    Defaults to no dropout: the paper's linear + softmax head."""

    def __init__(self, channels: int, num_classes: int, dropout_ratio: float = 0.0, **kwargs):
        super().__init__(channels, num_classes, dropout_ratio=dropout_ratio, **kwargs)

    def forward(self, feats: Tensor) -> Tensor:
        if isinstance(feats, (list, tuple)):
            raise TypeError('D3LSegHead takes the stacked (B, C, N) features of D3LBackbone')
        return self.cls_seg(feats)


def register_all() -> None:
    """Register the adapters into mmdet3d's registries (idempotent)."""
    for registry, modules in ((MMDET3D_MODELS, (D3LBackbone, D3LSegHead)),
                              (MMDET3D_TRANSFORMS, (FromMMDet3DPoints, ToMMDet3DPoints))):
        for module in modules:
            if registry.get(module.__name__) is not module:
                registry.register_module(module=module, force=True)


register_all()

__all__ = ['D3LBackbone', 'D3LSegHead', 'register_all']
