"""Point-cloud semantic segmentation: backbone + SegHead + loss."""
import contextlib
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from d3l.apis.sliding_window import (
    DEFAULT_WINDOW_SIZE,
    check_window,
    sliding_window_probs,
)
from d3l.registry import MODELS
from d3l.structures import PointBatch, concat_targets
from d3l.structures.point_octree import ExtentError

from .base import PointAlgorithm

#: ``test_cfg`` keys and their defaults (sliding windows where needed); None: see
#: :func:`build_test_cfg`
TEST_CFG_DEFAULTS = dict(mode='slide', window_size=None, stride=None)


def build_test_cfg(test_cfg: Optional[dict], name: str = 'Segmentor',
                   extent: Optional[float] = None) -> dict:
    """``test_cfg`` with its defaults filled in and checked.

    ``window_size=None``: the authors' 10 m, or the backbone's ``extent``
    when that is smaller (e.g. a 9 m O-CNN cube); ``stride=None``: half the
    window (the authors' 5 m for 10 m).
    """
    cfg = dict(TEST_CFG_DEFAULTS)
    unknown = set(test_cfg or {}) - set(cfg)
    if unknown:
        raise ValueError(f'{name}: unknown test_cfg keys {sorted(unknown)} (known: '
                         f'{sorted(cfg)})')
    cfg.update(test_cfg or {})
    if cfg['mode'] not in ('slide', 'whole'):
        raise ValueError(f"{name}: test_cfg.mode must be 'slide' or 'whole', got "
                         f"{cfg['mode']!r}")
    if cfg['window_size'] is None:
        cfg['window_size'] = DEFAULT_WINDOW_SIZE if extent is None else min(
            DEFAULT_WINDOW_SIZE, float(extent))
    if cfg['stride'] is None:
        window = cfg['window_size']
        cfg['stride'] = (window / 2 if isinstance(window, (int, float))
                         else [float(w) / 2 for w in window])
    check_window(cfg['window_size'], cfg['stride'])
    return cfg


def sample_names(data_samples: Optional[Sequence[dict]]) -> List[str]:
    """A name per data sample for messages: scene id, file or index."""
    names = []
    for sample in data_samples or ():
        meta = sample.get('metainfo', {}) if isinstance(sample, dict) else {}
        name = next((meta[k] for k in ('scene_id', 'lidar_path', 'img_path', 'frame_id',
                                       'sample_idx') if meta.get(k) is not None), None)
        names.append('' if name is None else f'scene {name}')
    return names


@contextlib.contextmanager
def naming_scenes(data_samples: Optional[Sequence[dict]]):
    """Re-raise a backbone's :class:`ExtentError` naming the scene."""
    try:
        yield
    except ExtentError as err:
        names = sample_names(data_samples)
        if not names or err.cloud >= len(names) or not names[err.cloud] \
                or any(name and name in str(err) for name in names):
            raise
        raise ExtentError(f'{names[err.cloud]}: {err}', err.cloud, err.extent,
                          err.limit) from None


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

    Clouds larger than the backbone's extent (the O-CNN cube) are never
    clamped: in training they are an error naming the scene (crop training
    clouds), and ``predict`` slides windows over them (``test_cfg``, see
    :mod:`d3l.apis.sliding_window`), so ``tools/test.py`` scores long scenes
    correctly.

    Args:
        backbone / decode_head / loss: configs of registered modules.
        data_preprocessor: defaults to ``PointDataPreprocessor``.
        return_probs: also return per-point class probabilities in predict.
        test_cfg: ``mode='slide'`` (default): clouds larger than
            ``window_size`` (metres, scalar or per axis; default 10, or the
            backbone's extent when smaller) are cut into windows at
            ``stride`` (default half the window) and their probabilities
            merged, clouds that fit run in one pass; ``mode='whole'``: one
            pass over every cloud (a cloud larger than the O-CNN cube is
            then an error).
    """

    transfer_head_names = ('decode_head',)

    def __init__(self, backbone: dict, decode_head: dict,
                 loss: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 return_probs: bool = False, test_cfg: Optional[dict] = None, init_cfg=None):
        super().__init__(backbone, decode_head, 'decode_head', loss, 'loss_decode',
                         data_preprocessor, init_cfg)
        self.return_probs = return_probs
        self.test_cfg = build_test_cfg(test_cfg, type(self).__name__,
                                       getattr(self.backbone, 'extent', None))

    @property
    def num_classes(self) -> int:
        return self.decode_head.num_classes

    def extract_feat(self, batch: PointBatch) -> Tensor:
        return self.backbone(batch)

    def _forward(self, inputs: PointBatch, data_samples=None) -> Tensor:
        return self.decode_head(self.extract_feat(inputs))

    def loss(self, inputs: PointBatch, data_samples: List[dict]) -> Dict[str, Tensor]:
        with naming_scenes(data_samples):
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
    def predict_probs(self, inputs: PointBatch,
                      data_samples: Optional[List[dict]] = None) -> Tensor:
        """(N, C) class probabilities of every input point, with sliding
        windows where ``test_cfg`` asks for them."""
        def probs_of(batch: PointBatch) -> Tensor:
            return self._forward(batch).float().softmax(dim=1)

        with naming_scenes(data_samples):
            if self.test_cfg['mode'] == 'whole':
                return probs_of(inputs)
            return sliding_window_probs(
                probs_of, inputs, self.test_cfg['window_size'], self.test_cfg['stride'],
                getattr(self.backbone, 'extent', None), sample_names(data_samples))

    @torch.no_grad()
    def predict(self, inputs: PointBatch, data_samples: Optional[List[dict]] = None) -> List[dict]:
        return self.postprocess(inputs, self.predict_probs(inputs, data_samples), data_samples)

    def postprocess(self, inputs: PointBatch, probs: Tensor,
                    data_samples: Optional[List[dict]]) -> List[dict]:
        """Split batch probabilities (N, C) into one prediction dict per cloud."""
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
