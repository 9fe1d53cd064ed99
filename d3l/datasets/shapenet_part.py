"""ShapeNet part segmentation (16 categories, 50 parts; Yi et al. 2016) with
per-category 1/5/20 % training subsets.

Layout (``shapenetcore_partanno_segmentation_benchmark_v0_normal``)::

    {data_root}/synsetoffset2category.txt                  Airplane<TAB>02691156
    {data_root}/train_test_split/shuffled_{train,val,test}_file_list.json
                                                           ["shape_data/02691156/<token>", ...]
    {data_root}/{synset}/{token}.txt                       x y z nx ny nz part per line

Part ids in the files are global (0..49); shape ids are ``{synset}/{token}``.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from d3l.registry import DATASETS

from .data_efficient import check_subset, split_by_subset
from .shape_utils import normalize_shape, read_text_cloud, to_z_up, unit_normals

IGNORE_INDEX = 255

#: category -> (synset, number of parts), in the standard order (global part ids follow it)
SHAPENET_PART_CATEGORIES = {
    'Airplane': ('02691156', 4), 'Bag': ('02773838', 2), 'Cap': ('02954340', 2),
    'Car': ('02958343', 4), 'Chair': ('03001627', 4), 'Earphone': ('03261776', 3),
    'Guitar': ('03467517', 3), 'Knife': ('03624134', 2), 'Lamp': ('03636649', 4),
    'Laptop': ('03642806', 2), 'Motorbike': ('03790512', 6), 'Mug': ('03797390', 2),
    'Pistol': ('03948459', 3), 'Rocket': ('04099429', 3), 'Skateboard': ('04225987', 3),
    'Table': ('04379243', 3)}


def category_parts() -> Dict[str, List[int]]:
    """Category -> its global part ids (Airplane 0-3, Bag 4-5, ..., Table 47-49)."""
    parts, start = {}, 0
    for name, (_, count) in SHAPENET_PART_CATEGORIES.items():
        parts[name] = list(range(start, start + count))
        start += count
    return parts


PART_CLASSES = tuple(f'{name}_{i}' for name, ids in category_parts().items()
                     for i in range(len(ids)))

SPLIT_FILES = {'train': ['train'], 'val': ['val'], 'test': ['test'], 'trainval': ['train', 'val']}


@DATASETS.register_module()
class ShapeNetPartDataset(BaseDataset):
    """ShapeNet part segmentation.

    Args:
        data_root: the ``shapenetcore_partanno_segmentation_benchmark_v0_normal``
            folder.
        split: ``'trainval'`` (the usual training set), ``'train'``, ``'val'``
            or ``'test'``.
        categories: restrict to these category names (default all 16).
        category: one category name, the same as ``categories=[category]``:
            the per-category fine-tuning of O-CNN's recipe and the paper (one
            model per category, ``--cfg-options`` in docs/downstream.md); the
            joint model over all 16 is the default.
        subset_file / subset: data-efficient subset of shape ids
            (``{synset}/{token}`` per line); ``'unlabeled'`` = the other shapes
            of the split with every part label set to 255.
        normalize / scale: O-CNN's normalisation (bounding-box sphere, 0.8).
        color: constant RGB given as ``colors`` (6-channel input convention).
        up_axis: the files' up axis (``'y'`` for ShapeNet), rotated to +z like
            d3l's scenes; ``'z'`` keeps the files' frame.

    Samples: ``points``, ``normals``, ``colors``, ``labels`` (global part id
    per point), ``category`` (name), ``label`` (category index), ``shape_id``.
    Metainfo: ``classes`` (50 parts), ``categories``, ``category_parts``.
    """

    METAINFO = dict(classes=PART_CLASSES, categories=tuple(SHAPENET_PART_CATEGORIES),
                    category_parts=category_parts(), ignore_index=IGNORE_INDEX)

    def __init__(self, data_root: str, split: str = 'trainval',
                 categories: Optional[Sequence[str]] = None, category: Optional[str] = None,
                 subset_file: Optional[str] = None,
                 subset: str = 'labeled', num_points: Optional[int] = None,
                 normalize: str = 'bbox_sphere', scale: float = 0.8,
                 color: Sequence[float] = (0.5, 0.5, 0.5), up_axis: str = 'y',
                 pipeline: Sequence = (),
                 test_mode: bool = False, metainfo: Optional[dict] = None, **kwargs):
        if split not in SPLIT_FILES:
            raise ValueError(f'ShapeNetPartDataset: split must be one of {list(SPLIT_FILES)}, '
                             f'got {split!r}')
        if category is not None:
            if categories is not None and list(categories) != [category]:
                raise ValueError(f'ShapeNetPartDataset: category={category!r} and categories='
                                 f'{list(categories)} disagree; give one of them')
            categories = [category]
        if isinstance(categories, str):
            raise ValueError(f'ShapeNetPartDataset: categories must be a list of names, got the '
                             f'string {categories!r} (use category={categories!r} for one)')
        unknown = [c for c in categories or () if c not in SHAPENET_PART_CATEGORIES]
        if unknown:
            raise ValueError(f'ShapeNetPartDataset: unknown categories {unknown}; choose from '
                             f'{list(SHAPENET_PART_CATEGORIES)}')
        self.split = split
        self.categories = list(categories) if categories else list(SHAPENET_PART_CATEGORIES)
        self.subset_file = subset_file
        self.subset = check_subset(subset, 'ShapeNetPartDataset')
        self.num_points = num_points
        self.normalize = normalize
        self.scale = scale
        self.color = np.asarray(color, np.float32)
        to_z_up(np.zeros((1, 3)), np.zeros((1, 3)), up_axis)  # validates up_axis
        self.up_axis = up_axis
        super().__init__(data_root=data_root, pipeline=list(pipeline), test_mode=test_mode,
                         metainfo=metainfo, **kwargs)

    def _synset_to_category(self) -> Dict[str, str]:
        path = osp.join(self.data_root, 'synsetoffset2category.txt')
        if not osp.isfile(path):
            raise FileNotFoundError(f'ShapeNetPartDataset: {path} does not exist (is data_root '
                                    'the shapenetcore_partanno_segmentation_benchmark_v0_normal '
                                    'folder?)')
        mapping = {}
        with open(path, encoding='utf-8') as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.split()
                if len(fields) != 2 or fields[0] not in SHAPENET_PART_CATEGORIES:
                    raise ValueError(f'{path}:{line_no}: expected "<Category> <synset>" with one '
                                     f'of the 16 categories, got {line.strip()!r}')
                if fields[1] != SHAPENET_PART_CATEGORIES[fields[0]][0]:
                    raise ValueError(f'{path}:{line_no}: {fields[0]} has synset {fields[1]}, '
                                     f'expected {SHAPENET_PART_CATEGORIES[fields[0]][0]}')
                mapping[fields[1]] = fields[0]
        return mapping

    def load_data_list(self) -> List[dict]:
        synsets = self._synset_to_category()
        wanted = set(self.categories)
        ids = []
        for name in SPLIT_FILES[self.split]:
            path = osp.join(self.data_root, 'train_test_split',
                            f'shuffled_{name}_file_list.json')
            if not osp.isfile(path):
                raise FileNotFoundError(f'ShapeNetPartDataset: split file {path} does not exist')
            with open(path, encoding='utf-8') as f:
                try:
                    entries = json.load(f)
                except ValueError as err:
                    raise ValueError(f'{path} is not valid json: {err}') from None
            for entry in entries:
                synset, token = entry.split('/')[-2:]
                if synset not in synsets:
                    raise ValueError(f'{path}: shape {entry} has synset {synset}, which is not in '
                                     'synsetoffset2category.txt')
                ids.append(f'{synset}/{token}')
        where = f'{self.data_root} ({self.split})'
        # the subset file lists every category's shapes: restrict after checking it
        chosen = [(shape_id, labeled) for shape_id, labeled in
                  split_by_subset(ids, self.subset_file, self.subset, where, 'shape')
                  if synsets[shape_id.split('/')[0]] in wanted]
        self.shape_ids = [shape_id for shape_id, _ in chosen]
        categories = list(SHAPENET_PART_CATEGORIES)
        data_list = []
        for shape_id, labeled in chosen:
            category = synsets[shape_id.split('/')[0]]
            data_list.append(dict(shape_id=shape_id, labeled=labeled, category=category,
                                  label=categories.index(category),
                                  path=osp.join(self.data_root, f'{shape_id}.txt')))
        return data_list

    def load_shape(self, info: dict) -> dict:
        data = read_text_cloud(info['path'], 7)
        if self.num_points is not None:
            data = data[:self.num_points]
        points, _, _ = normalize_shape(data[:, :3], self.normalize, self.scale)
        labels = data[:, 6].round().astype(np.int64)
        parts = self.metainfo['category_parts'][info['category']]
        outside = (labels < parts[0]) | (labels > parts[-1])
        if outside.any():
            raise ValueError(f'{info["path"]}: part id {int(labels[outside][0])} is not a part '
                             f'of {info["category"]} (parts {parts[0]}..{parts[-1]})')
        points, normals = to_z_up(points, unit_normals(data[:, 3:6]), self.up_axis)
        return dict(points=points, normals=normals, labels=labels,
                    colors=np.broadcast_to(self.color, points.shape).copy())

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        sample = self.load_shape(info)
        if not info['labeled']:
            sample['labels'] = np.full_like(sample['labels'], IGNORE_INDEX)
        sample.update(category=info['category'], label=info['label'], shape_id=info['shape_id'],
                      sample_idx=info['sample_idx'])
        return sample
