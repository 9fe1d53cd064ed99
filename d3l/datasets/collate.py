"""Collate variable-size point clouds into one concatenated batch."""
from typing import Sequence

import torch

from d3l.registry import FUNCTIONS


@FUNCTIONS.register_module()
def point_collate(batch: Sequence[dict]) -> dict:
    """Collate packed samples (see :class:`PackPointInputs`).

    Returns ``{'inputs': {'coord': (N, 3), 'feat': (N, F), 'batch': (N,),
    'batch_size': B}, 'data_samples': [dict, ...]}`` with the clouds
    concatenated in sample order; the data preprocessor turns ``inputs``
    into a :class:`~d3l.structures.PointBatch` on the right device.
    Samples with two views (``inputs`` a list, as mean teacher uses) keep
    one concatenated batch per view under ``inputs['views']``.
    """
    if len(batch) == 0:
        raise ValueError('point_collate got an empty batch')
    # a SemiDataset item is a group [labelled sample, unlabelled samples...]
    batch = [s for item in batch for s in (item if isinstance(item, (list, tuple)) else [item])]
    inputs = [sample['inputs'] for sample in batch]
    data_samples = [sample['data_samples'] for sample in batch]
    if isinstance(inputs[0], (list, tuple)):
        num_views = len(inputs[0])
        views = [_concat([sample_inputs[v] for sample_inputs in inputs])
                 for v in range(num_views)]
        return {'inputs': {'views': views}, 'data_samples': data_samples}
    return {'inputs': _concat(inputs), 'data_samples': data_samples}


def _concat(inputs: Sequence[dict]) -> dict:
    coords, feats, batch_index = [], [], []
    for i, item in enumerate(inputs):
        coord = torch.as_tensor(item['coord'], dtype=torch.float32)
        feat = torch.as_tensor(item['feat'], dtype=torch.float32)
        if coord.shape[0] == 0:
            raise ValueError(f'sample {i} of the batch has no points')
        coords.append(coord)
        feats.append(feat)
        batch_index.append(torch.full((coord.shape[0],), i, dtype=torch.long))
    return {'coord': torch.cat(coords), 'feat': torch.cat(feats),
            'batch': torch.cat(batch_index), 'batch_size': len(inputs)}
