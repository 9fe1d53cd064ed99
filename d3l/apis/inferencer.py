"""An MMEngine Inferencer for point-cloud segmentation, as mmdet3d's
``LidarSeg3DInferencer``::

    from d3l.apis import PointSegInferencer
    inferencer = PointSegInferencer('configs/...py', 'work_dirs/.../iter_N.pth')
    out = inferencer(['scan.ply', dict(points=xyz, colors=rgb)], out_dir='preds')
    out['predictions'][0]['labels']

It is registered in ``d3l.registry.INFERENCERS`` as ``PointSegInferencer``
(alias ``seg-3d``).
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.infer import BaseInferencer
from torch import nn

from d3l.registry import INFERENCERS
from d3l.utils.errors import D3LError

from .batch import output_stem, write_prediction
from .inference import init_model, prepare_sample, segment_packed
from .io import list_inputs, read_points

InputType = Union[str, np.ndarray, Dict[str, Any]]


@INFERENCERS.register_module(name='seg-3d')
@INFERENCERS.register_module()
class PointSegInferencer(BaseInferencer):
    """Semantic segmentation of point clouds with a d3l ``Segmentor``.

    Inputs: a file path (``.ply`` / ``.npy`` / ``.npz``, see
    :func:`~d3l.apis.io.read_points`), a folder of them, an (N, 3|6|9)
    array, or a dict with ``points`` and optional ``colors`` / ``normals``.

    Args:
        model: config file or :class:`~mmengine.config.Config`.
        weights: checkpoint (weights_only; every tensor must match).
        device: defaults to MMEngine's choice (CUDA when available).
        scope: registry scope, ``'d3l'``.

    Call keywords: ``out_dir`` (write ``{name}_pred.ply`` / ``_labels.npy``
    per input), ``save_probs``; the result is ``{'predictions': [{'labels',
    'probs'}, ...], 'visualization': [paths or None]}``.
    """

    visualize_kwargs = {'out_dir', 'save_probs'}

    def __init__(self, model=None, weights: Optional[str] = None,
                 device: Optional[str] = None, scope: str = 'd3l',
                 show_progress: bool = True) -> None:
        super().__init__(model=model, weights=weights, device=device, scope=scope,
                         show_progress=show_progress)

    def _init_model(self, cfg, weights: Optional[str], device: str = 'cpu') -> nn.Module:
        return init_model(cfg, weights, device)

    def _init_pipeline(self, cfg) -> Callable:
        def pipeline(item: InputType) -> dict:
            name, cloud = self._read(item)
            return prepare_sample(self.model, cloud['points'], cloud.get('colors'),
                                  cloud.get('normals'), name)
        return pipeline

    def _init_collate(self, cfg) -> Callable:
        return list  # segment_packed collates (and keeps each sample's inverse map)

    def _init_visualizer(self, cfg):
        return None

    def _inputs_to_list(self, inputs) -> list:
        if isinstance(inputs, (str, np.ndarray, dict)):
            inputs = [inputs]
        files_or_items = []
        for item in inputs:
            files_or_items += list_inputs([item]) if isinstance(item, str) else [item]
        return files_or_items

    @staticmethod
    def _read(item: InputType):
        if isinstance(item, str):
            return item, read_points(item)
        if isinstance(item, np.ndarray):
            if item.ndim != 2 or item.shape[1] not in (3, 6, 9):
                raise D3LError(f'PointSegInferencer: an array input must be (N, 3|6|9), got '
                               f'{item.shape}')
            return 'array', dict(points=item[:, :3],
                                 colors=item[:, 3:6] if item.shape[1] >= 6 else None,
                                 normals=item[:, 6:9] if item.shape[1] == 9 else None)
        if isinstance(item, dict) and 'points' in item:
            return str(item.get('name', 'points')), item
        raise D3LError(f'PointSegInferencer: unsupported input {type(item).__name__}')

    def forward(self, inputs: List[dict], **kwargs) -> List[dict]:
        return segment_packed(self.model, inputs)

    def visualize(self, inputs: list, preds: List[dict], out_dir: str = '',
                  save_probs: bool = False) -> List[Optional[str]]:
        if not out_dir:
            return [None] * len(preds)
        paths = []
        for index, (item, pred) in enumerate(zip(inputs, preds)):
            name, cloud = self._read(item)
            stem = (output_stem(name, out_dir) if isinstance(item, str)
                    else osp.join(out_dir, f'{index:06d}'))
            outputs = write_prediction(stem, np.asarray(cloud['points'], np.float32), pred,
                                       getattr(self.model, 'dataset_meta', {}), save_probs)
            paths.append(outputs['ply'])
        return paths

    def postprocess(self, preds: List[dict], visualization: Sequence[Optional[str]],
                    return_datasample: bool = False, **kwargs) -> dict:
        return {'predictions': list(preds), 'visualization': list(visualization)}


__all__ = ['PointSegInferencer']
