"""Turn a sample dict into model inputs + a data sample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from d3l.registry import TRANSFORMS

#: per-point keys copied into the data sample when present
TARGET_KEYS = ('labels', 'soft_labels', 'origin_labels', 'inverse', 'instance', 'label',
               'point_index')
#: metadata copied into ``data_samples['metainfo']`` when present
META_KEYS = ('sample_idx', 'scene_id', 'frame_id', 'img_path', 'depth_path', 'lidar_path',
             'category', 'num_classes', 'split', 'shape_id')


def _as_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {k: _as_tensor(v) for k, v in value.items()}
    return torch.as_tensor(value)


@TRANSFORMS.register_module()
class PackPointInputs(BaseTransform):
    """Pack ``points`` and the chosen features into model inputs.

    Args:
        feat_keys: sample keys whose (N, k) arrays are concatenated into the
            input features, in order. Besides sample keys, ``'coord'`` uses
            the coordinates themselves and ``'height'`` the height above the
            cloud's lowest point (z up). A key missing from the sample is an
            error, not a silent zero.
        target_keys: keys copied to the data sample when present.
        meta_keys: keys copied to ``data_sample['metainfo']`` when present.
    """

    def __init__(self, feat_keys: Sequence[str] = ('colors',),
                 target_keys: Sequence[str] = TARGET_KEYS,
                 meta_keys: Sequence[str] = META_KEYS):
        self.feat_keys = tuple(feat_keys)
        self.target_keys = tuple(target_keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if 'points' not in results:
            raise KeyError('PackPointInputs: the sample has no "points"')
        points = np.asarray(results['points'], dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] == 0:
            source = results.get('img_path') or results.get('scene_id') or results.get('sample_idx')
            raise ValueError(
                f'PackPointInputs: points of sample {source!r} must be a non-empty (N, 3) '
                f'array, got shape {points.shape}')
        feats = []
        for key in self.feat_keys:
            if key == 'coord':
                value = points
            elif key == 'height':
                value = points[:, 2:3] - points[:, 2].min()
            elif key in results and results[key] is not None:
                value = np.asarray(results[key], dtype=np.float32)
                if value.ndim == 1:
                    value = value[:, None]
            else:
                raise KeyError(f'PackPointInputs: feature key {key!r} is not in the sample '
                               f'(keys: {sorted(results)})')
            if value.shape[0] != points.shape[0]:
                raise ValueError(f'PackPointInputs: {key!r} has {value.shape[0]} rows for '
                                 f'{points.shape[0]} points')
            feats.append(value)
        feat = (np.concatenate(feats, axis=1) if feats
                else np.ones((points.shape[0], 1), np.float32))
        data_sample = {key: _as_tensor(results[key]) for key in self.target_keys
                       if results.get(key) is not None}
        data_sample['metainfo'] = {key: results[key] for key in self.meta_keys if key in results}
        data_sample['metainfo']['num_points'] = int(points.shape[0])
        return {'inputs': {'coord': torch.from_numpy(points.copy()),
                           'feat': torch.from_numpy(np.ascontiguousarray(feat, np.float32))},
                'data_samples': data_sample}

    def __repr__(self) -> str:
        return f'{type(self).__name__}(feat_keys={self.feat_keys})'


