"""Bridges between mmdet3d's point samples and d3l's sample dict, so that d3l
transforms run inside an mmdet3d pipeline (after ``LoadPointsFromFile``) and
an mmdet3d loader can feed a d3l pipeline. See ``docs/mmdet3d.md``."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from d3l.registry import TRANSFORMS

#: key under which FromMMDet3DPoints remembers how to rebuild mmdet3d points
_META_KEY = 'mmdet3d_points_meta'
_D3L_POINT_KEYS = ('colors', 'normals', 'labels', 'instance')


def _numpy(value) -> np.ndarray:
    if hasattr(value, 'numpy'):
        value = value.detach().cpu().numpy() if hasattr(value, 'detach') else value.numpy()
    return np.asarray(value)


@TRANSFORMS.register_module()
class FromMMDet3DPoints(BaseTransform):
    """mmdet3d ``points`` (a ``BasePoints``) -> d3l keys.

    Writes ``points`` (N, 3) xyz, ``colors`` (N, 3) in [0, 1] from the
    ``color`` attribute divided by ``color_scale``, ``normals`` from a
    ``normal`` attribute, ``labels`` from ``pts_semantic_mask`` and
    ``instance`` from ``pts_instance_mask``. mmdet3d marks unlabelled points
    with its own ignore index (``len(classes)`` after
    ``PointSegClassMapping``); give it as ``ignore_index`` to turn it into
    d3l's 255.

    Args:
        color_scale: divisor of the colour attribute (255 for raw RGB, 1 if
            ``NormalizePointsColor`` already ran).
        ignore_index: mmdet3d's ignore label, mapped to 255 (None: keep).
    """

    def __init__(self, color_scale: float = 255.0, ignore_index: Optional[int] = None):
        if not color_scale > 0:
            raise ValueError(f'FromMMDet3DPoints: color_scale must be > 0, got {color_scale}')
        self.color_scale = float(color_scale)
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        points = results.get('points')
        if points is None or not hasattr(points, 'tensor'):
            source = results.get('lidar_path') or results.get('sample_idx')
            raise TypeError(
                f'FromMMDet3DPoints: sample {source!r} has no mmdet3d points (got '
                f'{type(points).__name__}); put it after LoadPointsFromFile')
        tensor = _numpy(points.tensor).astype(np.float32)
        dims = dict(points.attribute_dims or {})
        results[_META_KEY] = {'type': type(points), 'color_scale': self.color_scale,
                              'ignore_index': self.ignore_index}
        results['points'] = np.ascontiguousarray(tensor[:, :3])
        if 'color' in dims:
            results['colors'] = tensor[:, dims['color']] / self.color_scale
        if 'normal' in dims:
            results['normals'] = tensor[:, dims['normal']]
        if results.get('pts_semantic_mask') is not None:
            labels = _numpy(results['pts_semantic_mask']).astype(np.int64).copy()
            if self.ignore_index is not None:
                labels[labels == self.ignore_index] = 255
            results['labels'] = labels
        if results.get('pts_instance_mask') is not None:
            results['instance'] = _numpy(results['pts_instance_mask']).astype(np.int64)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(color_scale={self.color_scale}, '
                f'ignore_index={self.ignore_index})')


@TRANSFORMS.register_module()
class ToMMDet3DPoints(BaseTransform):
    """d3l keys -> mmdet3d ``points`` (and masks), e.g. before
    ``Pack3DDetInputs``.

    Rebuilds the points class that :class:`FromMMDet3DPoints` saw (default
    ``DepthPoints``) from ``points``, ``colors`` (times the same
    ``color_scale``, attribute ``color``) and ``normals`` (attribute
    ``normal``); ``labels`` become ``pts_semantic_mask`` (255 back to the
    mmdet3d ignore index) and ``instance`` ``pts_instance_mask``. Other
    point attributes (e.g. ``height``) are not carried: add them with
    mmdet3d transforms after this one.
    """

    def transform(self, results: dict) -> dict:
        from mmdet3d.structures.points import DepthPoints

        meta = results.pop(_META_KEY, None) or {}
        points_type = meta.get('type', DepthPoints)
        color_scale = meta.get('color_scale', 255.0)
        xyz = np.asarray(results['points'], dtype=np.float32)
        columns, attribute_dims = [xyz], {}
        width = 3
        for key, name, scale in (('colors', 'color', color_scale), ('normals', 'normal', 1.0)):
            if results.get(key) is not None:
                value = np.asarray(results.pop(key), dtype=np.float32) * scale
                attribute_dims[name] = list(range(width, width + value.shape[1]))
                columns.append(value)
                width += value.shape[1]
        results['points'] = points_type(np.concatenate(columns, axis=1), points_dim=width,
                                        attribute_dims=attribute_dims or None)
        labels = results.pop('labels', None)
        if labels is not None:
            mask = np.asarray(labels, dtype=np.int64).copy()
            if meta.get('ignore_index') is not None:
                mask[mask == 255] = meta['ignore_index']
            results['pts_semantic_mask'] = mask
        instance = results.pop('instance', None)
        if instance is not None:
            results['pts_instance_mask'] = np.asarray(instance, dtype=np.int64)
        return results
