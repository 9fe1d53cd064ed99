"""Normals read from the label store instead of estimated per sample."""
import logging
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from d3l.registry import TRANSFORMS
from d3l.soft_labels import LabelStoreError
from d3l.soft_labels.normals import MAX_ERROR_DEG, normals_settings

from .rgbd_lifting import DepthNormals, _cam2world_rotation, _frame_name

MISSING_MODES = ('error', 'compute')


@TRANSFORMS.register_module()
class StoredNormals(BaseTransform):
    """The kept points' normals from the normals stored beside the soft
    labels (``pseudo_label_cfg.normals``, see :mod:`d3l.soft_labels.normals_pass`),
    in place of :class:`DepthNormals`: a lookup by ``pixel_index`` and a
    decode (~1-2 ms) instead of the plane fits (25-50 ms per frame). The
    normals are :class:`DepthNormals`' within the encoding's
    ``MAX_ERROR_DEG`` (0.005 degree), rotated into ``cam2world`` the same
    way; put it where :class:`DepthNormals` would be (after lifting and
    subsampling, before the augmentations, inside :class:`PretrainRGBDDataset`
    whose samples carry ``soft_label_record``).

    Args:
        normal_method / normal_window: the estimator the normals must have
            been stored with (:func:`d3l.geometry.depth_normals`).
        depth_edges: the pipeline's ``FilterDepthEdges`` arguments (``{}``:
            its defaults), ``None`` when the pipeline has no such filter. A
            store made with other settings is an error naming its manifest,
            and so is a pipeline whose filter disagrees (``num_edge_pixels``).
        missing: a store without normals: ``'error'`` (default: an error
            naming the store) or ``'compute'`` (:class:`DepthNormals`, the
            same normals, at its cost; logged once per process).
    """

    def __init__(self, normal_method: str = 'pca', normal_window: int = 5,
                 depth_edges: Optional[dict] = None, missing: str = 'error'):
        if missing not in MISSING_MODES:
            raise ValueError(f"StoredNormals: missing must be 'error' or 'compute', got "
                             f'{missing!r}')
        self.settings = normals_settings(normal_method, normal_window, depth_edges)
        self.missing = missing
        self.fallback = DepthNormals(normal_method, normal_window)
        self._warned = False

    def _no_normals(self, results: dict, label_dir: str) -> dict:
        if self.missing == 'error':
            raise LabelStoreError(
                f'StoredNormals: the label directory {label_dir} stores no normals; add them '
                'with tools/generate_pseudo_labels.py CONFIG --normals-only (with '
                f'pseudo_label_cfg.normals = {self.settings}), or use DepthNormals')
        if not self._warned:
            print_log(f'StoredNormals: {label_dir} stores no normals; estimating them per '
                      'sample (DepthNormals, 25-50 ms per frame); store them with '
                      'tools/generate_pseudo_labels.py CONFIG --normals-only',
                      logger='current', level=logging.WARNING)
            self._warned = True
        return self.fallback(results)

    def transform(self, results: dict) -> dict:
        record = results.get('soft_label_record')
        if record is None:
            raise KeyError('StoredNormals: the sample has no "soft_label_record"; use it in a '
                           'PretrainRGBDDataset pipeline, before LoadSoftLabels')
        for key in ('pixel_index', 'points'):
            if results.get(key) is None:
                raise KeyError(f'StoredNormals: the sample has no {key!r}; put a lifting '
                               'transform before it')
        if results.get('rotation') is not None or results.get('scale_factor') is not None:
            raise ValueError(f'StoredNormals: frame {_frame_name(results)} was already '
                             'rotated or scaled; put StoredNormals before the augmentations')
        stored = getattr(record, 'normals', None)
        label_dir = osp.dirname(record.source) or '(the store)'
        if stored is None:
            return self._no_normals(results, label_dir)
        if stored.settings != self.settings:
            raise LabelStoreError(
                f'StoredNormals: {osp.join(label_dir, "manifest.json")} stores normals made '
                f'with {stored.settings}, this pipeline asks for {self.settings}')
        if ('num_edge_pixels' in results) != (self.settings['depth_edges'] is not None):
            raise ValueError(
                f'StoredNormals: depth_edges={self.settings["depth_edges"]} but the pipeline '
                f'{"has" if "num_edge_pixels" in results else "has no"} FilterDepthEdges; '
                'the stored normals would not be those of its depth')
        index = np.asarray(results['pixel_index'], np.int64)
        if len(index) != len(results['points']):
            raise ValueError(f'StoredNormals: {len(index)} pixel indices for '
                             f'{len(results["points"])} points in frame {_frame_name(results)}')
        normals = stored.lookup(index, results.get('img_shape'))
        pose = _cam2world_rotation(results)
        results['normals'] = normals if pose is None else normals @ pose[0]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(normal_method={self.settings["method"]!r}, '
                f'normal_window={self.settings["window"]}, '
                f'depth_edges={self.settings["depth_edges"]}, missing={self.missing!r}; '
                f'within {MAX_ERROR_DEG} deg of DepthNormals)')
