"""Point subsampling transforms."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from d3l.geometry import grid_sample_indices
from d3l.registry import TRANSFORMS

from .utils import select_points


@TRANSFORMS.register_module()
class GridSample(BaseTransform):
    """Keep one point per voxel of ``grid_size`` metres.

    Args:
        grid_size: voxel edge in metres (0.02 for ScanNet scenes).
        mode: ``'train'`` keeps a random point per voxel, ``'test'`` the first.
        return_inverse: store ``inverse`` (original point -> kept point) and
            ``origin_labels`` (labels of all original points) so that
            predictions are scored on every original point.
        seed: seed of a private generator for the random choice in train
            mode; None (default) draws from numpy's global generator, which
            MMEngine seeds differently in every dataloader worker (a private
            generator created here would be copied into each forked worker
            and repeat the same choices).
    """

    def __init__(self, grid_size: float = 0.02, mode: str = 'train',
                 return_inverse: bool = False, seed: Optional[int] = None):
        if grid_size <= 0:
            raise ValueError(f'GridSample: grid_size must be > 0, got {grid_size}')
        if mode not in ('train', 'test'):
            raise ValueError(f"GridSample: mode must be 'train' or 'test', got {mode!r}")
        self.grid_size = grid_size
        self.mode = mode
        self.return_inverse = return_inverse
        self.rng = None if seed is None else np.random.default_rng(seed)

    def transform(self, results: dict) -> dict:
        keep, inverse = grid_sample_indices(results['points'], self.grid_size, self.mode, self.rng)
        if self.return_inverse:
            if results.get('inverse') is not None:
                # compose with an earlier subsampling: original -> new kept point
                results['inverse'] = inverse[results['inverse']]
            else:
                results['inverse'] = inverse
                if results.get('labels') is not None:
                    results['origin_labels'] = np.asarray(results['labels']).copy()
        return select_points(results, keep)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(grid_size={self.grid_size}, mode={self.mode!r}, '
                f'return_inverse={self.return_inverse})')
