"""ModelNet40 shape classification (``modelnet40_normal_resampled`` layout)
with per-category 1/5/20 % training subsets.

Layout::

    {data_root}/modelnet40_shape_names.txt     40 category names, class order
    {data_root}/modelnet40_{train,test}.txt    shape ids (airplane_0001, ...)
    {data_root}/{category}/{shape_id}.txt      x,y,z,nx,ny,nz per line
"""
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from d3l.registry import DATASETS

from .data_efficient import check_subset, read_id_list, split_by_subset
from .shape_utils import normalize_shape, read_text_cloud, to_z_up, unit_normals

IGNORE_INDEX = 255
#: size of the official split (Wu et al. 2015, as in PointNet++'s resampled release)
OFFICIAL_SIZES = {'train': 9843, 'test': 2468}


def shape_category(shape_id: str) -> str:
    """``night_stand_0001`` -> ``night_stand``."""
    return shape_id.rsplit('_', 1)[0]


@DATASETS.register_module()
class ModelNet40Dataset(BaseDataset):
    """ModelNet40 (or ModelNet10 with ``list_prefix='modelnet10'``).

    Args:
        data_root: the ``modelnet40_normal_resampled`` folder.
        split: ``'train'`` or ``'test'``.
        subset_file: text file of training shape ids (one per line), e.g.
            the 1/5/20 % subsets made by ``tools/make_data_efficient_splits.py``.
        subset: ``'labeled'`` (the listed shapes), ``'unlabeled'`` (the other
            shapes of the split, ``label`` = 255) or ``'all'``.
        num_points: keep the first ``num_points`` points of each file (the
            files are resampled uniformly; None keeps all 10,000).
        normalize / scale: see :func:`~d3l.datasets.shape_utils.normalize_shape`
            (O-CNN: bounding-box sphere of radius 0.8).
        color: constant RGB in [0, 1] given as ``colors`` so that a network
            pre-trained on coloured scenes (6 input channels) transfers.
        up_axis: the files' up axis (``'y'`` for ModelNet40), rotated to +z
            like d3l's scenes so that gravity-aware pre-trained features
            transfer; ``'z'`` keeps the files' frame.
    """

    METAINFO = dict(ignore_index=IGNORE_INDEX)

    def __init__(self, data_root: str, split: str = 'train', subset_file: Optional[str] = None,
                 subset: str = 'labeled', num_points: Optional[int] = None,
                 normalize: str = 'bbox_sphere', scale: float = 0.8,
                 color: Sequence[float] = (0.5, 0.5, 0.5), up_axis: str = 'y',
                 list_prefix: str = 'modelnet40', pipeline: Sequence = (), test_mode: bool = False,
                 metainfo: Optional[dict] = None, **kwargs):
        self.split = split
        self.subset_file = subset_file
        self.subset = check_subset(subset, 'ModelNet40Dataset')
        self.num_points = num_points
        self.normalize = normalize
        self.scale = scale
        self.color = np.asarray(color, np.float32)
        if self.color.shape != (3,):
            raise ValueError(f'ModelNet40Dataset: color must be 3 numbers, got {color}')
        self.list_prefix = list_prefix
        to_z_up(np.zeros((1, 3)), np.zeros((1, 3)), up_axis)  # validates up_axis
        self.up_axis = up_axis
        names_file = osp.join(data_root, f'{list_prefix}_shape_names.txt')
        classes = tuple(read_id_list(names_file, 'category'))
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', classes)
        super().__init__(data_root=data_root, pipeline=list(pipeline), test_mode=test_mode,
                         metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        list_file = osp.join(self.data_root, f'{self.list_prefix}_{self.split}.txt')
        ids = read_id_list(list_file, 'shape')
        classes = list(self.metainfo['classes'])
        index = {name: i for i, name in enumerate(classes)}
        for shape_id in ids:
            if shape_category(shape_id) not in index:
                raise ValueError(f'{list_file}: shape {shape_id} has category '
                                 f'{shape_category(shape_id)!r}, which is not in '
                                 f'{self.list_prefix}_shape_names.txt')
        expected = OFFICIAL_SIZES.get(self.split) if self.list_prefix == 'modelnet40' else None
        if expected is not None and len(ids) != expected:
            print_log(f'ModelNet40Dataset: {list_file} lists {len(ids)} shapes; the official '
                      f'{self.split} split has {expected}', logger='current', level=30)
        chosen = split_by_subset(ids, self.subset_file, self.subset, list_file, 'shape')
        self.shape_ids = [shape_id for shape_id, _ in chosen]
        return [dict(shape_id=shape_id, labeled=labeled,
                     label=index[shape_category(shape_id)],
                     path=osp.join(self.data_root, shape_category(shape_id), f'{shape_id}.txt'))
                for shape_id, labeled in chosen]

    def load_shape(self, info: dict) -> dict:
        data = read_text_cloud(info['path'], 6, delimiter=',')
        if self.num_points is not None:
            if len(data) < self.num_points:
                raise ValueError(f'{info["path"]} has {len(data)} points, fewer than '
                                 f'num_points={self.num_points}')
            data = data[:self.num_points]
        points, _, _ = normalize_shape(data[:, :3], self.normalize, self.scale)
        points, normals = to_z_up(points, unit_normals(data[:, 3:6]), self.up_axis)
        return dict(points=points, normals=normals,
                    colors=np.broadcast_to(self.color, points.shape).copy())

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        sample = self.load_shape(info)
        sample.update(label=info['label'] if info['labeled'] else IGNORE_INDEX,
                      shape_id=info['shape_id'], category=shape_category(info['shape_id']),
                      sample_idx=info['sample_idx'])
        return sample
