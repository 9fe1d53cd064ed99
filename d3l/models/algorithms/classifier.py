"""Shape classification: encoder with global pooling + ClsHead + loss."""
from typing import Dict, List, Optional

import torch
from torch import Tensor

from d3l.registry import MODELS
from d3l.structures import PointBatch

from .base import PointAlgorithm


@MODELS.register_module()
class Classifier(PointAlgorithm):
    """Backbone returning one pooled feature per cloud (B, C), a ClsHead.

    Data samples carry ``label`` (int). ``predict`` returns per cloud
    ``pred_label``, ``scores`` and ``gt_label``.
    """

    transfer_head_names = ('cls_head',)

    def __init__(self, backbone: dict, cls_head: dict, loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(backbone, cls_head, 'cls_head', loss, 'loss_cls', data_preprocessor,
                         init_cfg)

    @property
    def num_classes(self) -> int:
        return self.cls_head.num_classes

    def _forward(self, inputs: PointBatch, data_samples=None) -> Tensor:
        feats = self.backbone(inputs)
        if feats.shape[0] != inputs.batch_size:
            raise ValueError(
                f'Classifier needs a backbone with global pooling (one row per cloud); '
                f'got {feats.shape[0]} rows for {inputs.batch_size} clouds')
        return self.cls_head(feats)

    @staticmethod
    def _labels(data_samples: List[dict], device) -> Tensor:
        try:
            return torch.as_tensor([int(s['label']) for s in data_samples], device=device)
        except KeyError:
            raise KeyError('Classifier: the data samples carry no "label"') from None

    def loss(self, inputs: PointBatch, data_samples: List[dict]) -> Dict[str, Tensor]:
        logits = self._forward(inputs)
        labels = self._labels(data_samples, logits.device)
        losses = {'loss_cls': self.loss_cls(logits, labels)}
        with torch.no_grad():
            losses['acc_cls'] = (logits.argmax(1) == labels).float().mean() * 100
        return losses

    @torch.no_grad()
    def predict(self, inputs: PointBatch, data_samples: Optional[List[dict]] = None) -> List[dict]:
        scores = self._forward(inputs).float().softmax(1).cpu()
        results = []
        for i in range(inputs.batch_size):
            sample = data_samples[i] if data_samples else {}
            result = {'pred_label': int(scores[i].argmax()), 'scores': scores[i],
                      'metainfo': sample.get('metainfo', {})}
            if sample.get('label') is not None:
                result['gt_label'] = int(sample['label'])
            results.append(result)
        return results
