"""ScanNet v2 semantic segmentation (20 benchmark classes) with the
data-efficient settings: Limited Annotations (LA) and Limited
Reconstructions (LR).

On-disk format (Pointcept's preprocessed layout, also written by
``tools/data_converters/scannet.py``)::

    {data_root}/{train,val,test}/{scene_id}/coord.npy    (N, 3) float32, metres
                                            color.npy    (N, 3) uint8 0-255
                                            normal.npy   (N, 3) float32
                                            segment20.npy   (N,) int, -1 = ignore
                                            segment_nyu40.npy (N,) NYU40 ids (d3l only)
                                            instance.npy    (N,) int (optional)
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from d3l.registry import DATASETS
from d3l.utils.errors import D3LError

from .data_efficient import (
    check_ids_known,
    check_subset,
    la_label_mask,
    load_la_file,
    read_id_list,
)

IGNORE_INDEX = 255

#: NYU40 ids of the 20 ScanNet benchmark classes, in class order
SCANNET20_NYU40_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
SCANNET20_CLASSES = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door',
                     'window', 'bookshelf', 'picture', 'counter', 'desk', 'curtain',
                     'refrigerator', 'shower curtain', 'toilet', 'sink', 'bathtub',
                     'otherfurniture')
#: colours of the ScanNet benchmark scripts (util.create_color_palette) for the 20 classes
SCANNET20_PALETTE = (
    (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34),
    (140, 86, 75), (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189),
    (196, 156, 148), (23, 190, 207), (247, 182, 210), (219, 219, 141), (255, 127, 14),
    (158, 218, 229), (44, 160, 44), (112, 128, 144), (227, 119, 194), (82, 84, 163))
#: largest NYU40 id (0 = unannotated)
MAX_NYU40_ID = 40


class ScanNetDataError(D3LError, ValueError):
    """A scene's arrays are malformed; the message names the scene and file."""


def nyu40_to_scannet20_table() -> np.ndarray:
    """(41,) int64 lookup: NYU40 id -> 20-class id, 255 for the rest."""
    table = np.full(MAX_NYU40_ID + 1, IGNORE_INDEX, np.int64)
    table[list(SCANNET20_NYU40_IDS)] = np.arange(len(SCANNET20_NYU40_IDS))
    return table


def nyu40_to_scannet20(nyu40: np.ndarray, scene_id: str = '?') -> np.ndarray:
    """Map per-vertex NYU40 ids (0 = unannotated) to the 20 benchmark classes
    (255 = ignored). An id outside 0..40 is an error naming the scene."""
    nyu40 = np.asarray(nyu40).astype(np.int64).reshape(-1)
    bad = (nyu40 < 0) | (nyu40 > MAX_NYU40_ID)
    if bad.any():
        raise ScanNetDataError(f'scene {scene_id}: label id {int(nyu40[bad][0])} is not an '
                               f'NYU40 id (0..{MAX_NYU40_ID}); {int(bad.sum())} vertices have '
                               'such ids')
    return nyu40_to_scannet20_table()[nyu40]


def scannet20_to_nyu40(labels: np.ndarray) -> np.ndarray:
    """20-class ids back to NYU40 ids (what the benchmark server expects);
    the ignore label becomes 0."""
    labels = np.asarray(labels).astype(np.int64)
    table = np.zeros(max(IGNORE_INDEX, len(SCANNET20_NYU40_IDS)) + 1, np.int64)
    table[:len(SCANNET20_NYU40_IDS)] = SCANNET20_NYU40_IDS
    if labels.size and (labels.min() < 0 or labels.max() > IGNORE_INDEX):
        raise ScanNetDataError(f'class id {labels.min()}..{labels.max()} out of range')
    return table[labels]


def check_finite(array: np.ndarray, where: str) -> None:
    """A NaN or infinite value makes the octree / voxel normalisation turn
    the whole scene into one cell: refuse it, with the count."""
    if array.dtype.kind not in 'fc':
        return
    bad = ~np.isfinite(array)
    if bad.any():
        rows = int(bad.reshape(len(array), -1).any(axis=1).sum()) if array.ndim > 1 else \
            int(bad.sum())
        raise ScanNetDataError(f'{where} has {int(bad.sum())} NaN / infinite values '
                               f'({rows} of {len(array)} points)')


def class_ids(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    """Per-point class ids as int64 with the ignore label 255. Accepted:
    ``0..num_classes-1``, ``-1`` (Pointcept's ignore) and 255; anything else
    (another negative, a fraction, NaN, a too large id) is an error naming
    ``where`` and the count, never a silent "ignore" or a truncation."""
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind == 'f':
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            bad = labels[~whole]
            raise ScanNetDataError(f'{where}: {len(bad)} labels are not whole numbers '
                                   f'(e.g. {float(bad[0])}); expected class ids')
    elif labels.dtype.kind not in 'iub':
        raise ScanNetDataError(f'{where}: labels have dtype {labels.dtype}; expected integers')
    labels = labels.astype(np.int64)
    valid = ((labels >= 0) & (labels < num_classes)) | (labels == -1) | (labels == IGNORE_INDEX)
    if not valid.all():
        bad = labels[~valid]
        raise ScanNetDataError(f'{where}: {len(bad)} labels are outside [0, {num_classes}) '
                               f'and not an ignore label (-1 / {IGNORE_INDEX}), e.g. '
                               f'{int(bad[0])}')
    return np.where(labels == -1, IGNORE_INDEX, labels)


def _normalise_colors(color: np.ndarray) -> np.ndarray:
    if color.dtype == np.uint8:
        return color.astype(np.float32) / 255.0
    color = color.astype(np.float32)
    # Pointcept stores 0-255; a float array already in [0, 1] is left as is
    return color / 255.0 if color.size and color.max() > 1.0 else color


@DATASETS.register_module()
class ScanNetDataset(BaseDataset):
    """ScanNet v2 scenes in Pointcept's layout, with LA / LR splits.

    Args:
        data_root: folder holding ``train/``, ``val/``, ``test/``.
        split: sub-folder to read (``'train'``, ``'val'``, ``'test'``), or a
            list of them (e.g. ``['train', 'val']``).
        scene_list: optional text file restricting the scenes (one id per
            line, e.g. ``scannetv2_val.txt``); every listed scene must exist.
        la_file: Limited Annotations file (``torch.save`` dict scene id ->
            vertex indices): vertices outside the list get label 255.
        lr_file: Limited Reconstructions file (one scene id per line): only
            these scenes are labelled.
        subset: ``'labeled'`` (the annotated data), ``'unlabeled'`` (LR: the
            other scenes of the split; LA: the same scenes; both with every
            label set to 255) or ``'all'`` (every scene, labels where the
            split gives them). Used by semi-supervised streams.
        label_key: per-scene file with the class ids (``segment20``).
        with_instance: also load ``instance.npy`` when present.
        pipeline / test_mode / ...: as :class:`mmengine.dataset.BaseDataset`.

    ``dataset.scene_ids`` lists the scenes in sample order.

    Each sample has ``points`` (N, 3) float32, ``colors`` (N, 3) float32 in
    [0, 1], ``normals`` (N, 3), ``labels`` (N,) int64 (255 ignored; absent
    for scenes without labels, e.g. the test split), ``scene_id``,
    ``split``, ``sample_idx``.
    """

    METAINFO = dict(
        classes=SCANNET20_CLASSES,
        palette=SCANNET20_PALETTE,
        nyu40_ids=SCANNET20_NYU40_IDS,
        ignore_index=IGNORE_INDEX,
    )
    REQUIRED = ('coord', 'color', 'normal')

    def __init__(self, data_root: str, split='train', scene_list: Optional[str] = None,
                 la_file: Optional[str] = None, lr_file: Optional[str] = None,
                 subset: str = 'labeled', label_key: str = 'segment20',
                 with_instance: bool = False, pipeline: Sequence = (),
                 test_mode: bool = False, metainfo: Optional[dict] = None, **kwargs):
        if la_file is not None and lr_file is not None:
            raise ScanNetDataError('ScanNetDataset: give la_file or lr_file, not both')
        self.splits = [split] if isinstance(split, str) else list(split)
        self.scene_list = scene_list
        self.la_file = la_file
        self.lr_file = lr_file
        self.subset = check_subset(subset, 'ScanNetDataset')
        self.label_key = label_key
        self.with_instance = with_instance
        self._la: Optional[Dict[str, np.ndarray]] = None
        super().__init__(data_root=data_root, pipeline=list(pipeline), test_mode=test_mode,
                         metainfo=metainfo, **kwargs)

    # ------------------------------------------------------------------ list
    def _scan_split(self, split: str) -> Dict[str, str]:
        folder = osp.join(self.data_root, split)
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'ScanNetDataset: {folder} does not exist; expected {self.data_root}/{split}/'
                '<scene_id>/coord.npy ... (run tools/data_converters/scannet.py, or point '
                'data_root at Pointcept\'s preprocessed ScanNet)')
        return {name: osp.join(folder, name) for name in sorted(os.listdir(folder))
                if osp.isdir(osp.join(folder, name)) and not name.startswith('.')}

    def load_data_list(self) -> List[dict]:
        scenes: Dict[str, str] = {}
        split_of: Dict[str, str] = {}
        for split in self.splits:
            for scene_id, path in self._scan_split(split).items():
                scenes[scene_id] = path
                split_of[scene_id] = split
        where = f'{self.data_root}/{"+".join(self.splits)}'
        if self.scene_list is not None:
            listed = read_id_list(self.scene_list, 'scene')
            check_ids_known(listed, scenes, self.scene_list, where)
            scene_ids = listed
        else:
            scene_ids = list(scenes)
        if not scene_ids:
            raise ScanNetDataError(f'ScanNetDataset: no scenes in {where}')

        labeled = dict.fromkeys(scene_ids, self.subset != 'unlabeled')
        keep = list(scene_ids)
        if self.lr_file is not None:
            listed = read_id_list(self.lr_file, 'scene')
            check_ids_known(listed, scene_ids, self.lr_file, where)
            listed = set(listed)
            if self.subset == 'labeled':
                keep = [s for s in scene_ids if s in listed]
            elif self.subset == 'unlabeled':
                keep = [s for s in scene_ids if s not in listed]
            labeled = {s: (s in listed and self.subset != 'unlabeled') for s in keep}
        if self.la_file is not None:
            self._la = load_la_file(self.la_file)
            check_ids_known(self._la, scene_ids, self.la_file, where)
            if self.subset != 'unlabeled':
                # every labelled scene needs its annotated points; a scene the
                # file does not cover would otherwise train on full labels
                uncovered = [s for s in scene_ids if s not in self._la]
                if uncovered:
                    raise ScanNetDataError(
                        f'{self.la_file} has no annotated points for {len(uncovered)} scene(s) '
                        f'of {where}: {", ".join(uncovered[:5])}; restrict the scenes with '
                        'scene_list= or use a file made for these scenes')
        self.scene_ids = list(keep)
        return [dict(scene_id=s, data_path=scenes[s], split=split_of[s],
                     labeled=labeled[s]) for s in keep]

    # ---------------------------------------------------------------- sample
    def _load(self, data_path: str, name: str, required: bool, scene_id: str):
        path = osp.join(data_path, f'{name}.npy')
        if not osp.isfile(path):
            if required:
                raise FileNotFoundError(f'scene {scene_id}: {path} is missing')
            return None
        try:
            return np.load(path)
        except (ValueError, OSError, EOFError) as err:
            raise ScanNetDataError(f'scene {scene_id}: cannot read {path}: {err}') from None

    def load_scene(self, info: dict) -> dict:
        """Read one scene's arrays (before LA / LR masking and the pipeline)."""
        scene_id, data_path = info['scene_id'], info['data_path']
        coord = self._load(data_path, 'coord', True, scene_id)
        color = self._load(data_path, 'color', True, scene_id)
        normal = self._load(data_path, 'normal', True, scene_id)
        num_points = len(coord)
        if coord.ndim != 2 or coord.shape[1] != 3:
            raise ScanNetDataError(f'scene {scene_id}: coord.npy must be (N, 3), got '
                                   f'{coord.shape}')
        for name, array in (('coord', coord), ('color', color), ('normal', normal)):
            check_finite(array, f'scene {scene_id}: {osp.join(data_path, name + ".npy")}')
        sample = dict(points=coord.astype(np.float32), colors=_normalise_colors(color),
                      normals=normal.astype(np.float32))
        labels = self._load(data_path, self.label_key, False, scene_id)
        if labels is not None:
            sample['labels'] = class_ids(
                labels, len(self.metainfo['classes']),
                f'scene {scene_id}: {osp.join(data_path, self.label_key + ".npy")}')
        if self.with_instance:
            instance = self._load(data_path, 'instance', False, scene_id)
            if instance is not None:
                sample['instance'] = instance.reshape(-1).astype(np.int64)
        for key in ('colors', 'normals', 'labels', 'instance'):
            if key in sample and len(sample[key]) != num_points:
                raise ScanNetDataError(f'scene {scene_id}: {key} has {len(sample[key])} rows but '
                                 f'coord.npy has {num_points} points ({data_path})')
        return sample

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        sample = self.load_scene(info)
        scene_id = info['scene_id']
        labels = sample.get('labels')
        if labels is not None:
            if not info['labeled']:
                labels = np.full_like(labels, IGNORE_INDEX)
            elif self._la is not None:
                mask = la_label_mask(self._la[scene_id], len(labels), scene_id, self.la_file)
                labels = np.where(mask, labels, IGNORE_INDEX)
            sample['labels'] = labels
        elif info['labeled'] and self.la_file is not None:
            raise ScanNetDataError(f'scene {scene_id} has no {self.label_key}.npy but '
                                   f'{self.la_file} annotates it')
        sample.update(scene_id=scene_id, split=info['split'], sample_idx=info['sample_idx'])
        return sample
