"""Point-cloud semantic segmentation: backbone + SegHead + loss."""
from typing import Dict, List, Optional

import torch
from torch import Tensor

from d3l.registry import MODELS
from d3l.structures import PointBatch, concat_targets

from .base import PointAlgorithm


@MODELS.register_module()
class Segmentor(PointAlgorithm):
    """Backbone producing per-point features, a :class:`SegHead`, a loss.

    ``forward(inputs, data_samples, mode)`` follows MMEngine:

    - ``mode='loss'``: ``{'loss_seg': ..., 'acc_seg': ...}`` from the
      ``labels`` of the data samples (255 = ignored);
    - ``mode='predict'``: one dict per cloud with ``pred`` (int64 class per
      point), ``gt`` (when labels exist) and ``metainfo``; when a data sample
      carries ``inverse`` (original point -> network point) the prediction
      is mapped back to every original point and compared with
      ``origin_labels``, so evaluation covers the full scene;
    - ``mode='tensor'``: the logits (N, C).

    Args:
        backbone / decode_head / loss: configs of registered modules.
        data_preprocessor: defaults to ``PointDataPreprocessor``.
        return_probs: also return per-point class probabilities in predict.
    """

    transfer_head_names = ('decode_head',)

    def __init__(self, backbone: dict, decode_head: dict,
                 loss: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 return_probs: bool = False, init_cfg=None):
        super().__init__(backbone, decode_head, 'decode_head', loss, 'loss_decode',
                         data_preprocessor, init_cfg)
        self.return_probs = return_probs

    @property
    def num_classes(self) -> int:
        return self.decode_head.num_classes

    def extract_feat(self, batch: PointBatch) -> Tensor:
        return self.backbone(batch)

    def _forward(self, inputs: PointBatch, data_samples=None) -> Tensor:
        return self.decode_head(self.extract_feat(inputs))

    def loss(self, inputs: PointBatch, data_samples: List[dict]) -> Dict[str, Tensor]:
        logits = self._forward(inputs)
        labels = concat_targets(data_samples, 'labels', logits.device)
        if labels is None:
            raise KeyError('Segmentor.loss: the data samples carry no "labels"')
        losses = {'loss_seg': self.loss_decode(logits, labels)}
        with torch.no_grad():
            ignore = getattr(self.loss_decode, 'ignore_index', 255)
            valid = labels != ignore
            correct = (logits.argmax(1) == labels) & valid
            losses['acc_seg'] = correct.sum().float() / valid.sum().clamp(min=1) * 100
        return losses

    @torch.no_grad()
    def predict(self, inputs: PointBatch, data_samples: Optional[List[dict]] = None) -> List[dict]:
        logits = self._forward(inputs)
        return self.postprocess(inputs, logits, data_samples)

    def postprocess(self, inputs: PointBatch, logits: Tensor,
                    data_samples: Optional[List[dict]]) -> List[dict]:
        """Split batch logits into one prediction dict per cloud."""
        probs = logits.float().softmax(dim=1)
        results = []
        for i, cloud_probs in enumerate(inputs.split(probs)):
            sample = data_samples[i] if data_samples else {}
            result = {'metainfo': sample.get('metainfo', {})}
            inverse = sample.get('inverse')
            if inverse is not None:
                cloud_probs = cloud_probs[inverse.to(cloud_probs.device).long()]
                gt = sample.get('origin_labels')
            else:
                gt = sample.get('labels')
            result['pred'] = cloud_probs.argmax(1).cpu()
            if gt is not None:
                gt = gt.cpu().long()
                if gt.shape != result['pred'].shape:
                    raise ValueError(
                        f'prediction has {result["pred"].shape[0]} points but ground truth '
                        f'has {gt.shape[0]} for {result["metainfo"]}')
                result['gt'] = gt
            if self.return_probs:
                result['probs'] = cloud_probs.cpu()
            results.append(result)
        return results
