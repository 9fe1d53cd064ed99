"""Structured3D photo-realistic panoramas (rgb, depth, semantic)."""
import os
import os.path as osp
import re
from typing import List, Sequence

import numpy as np

from d3l.registry import DATASETS

from .base import BaseRGBDDataset
from .io import read_matrix

#: NYU Depth v2 40-class names, ids 1..40 in Structured3D's semantic.png
NYU40_CLASSES = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
    'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser',
    'pillow', 'mirror', 'floor mat', 'clothes', 'ceiling', 'books', 'refrigerator',
    'television', 'paper', 'towel', 'shower curtain', 'box', 'whiteboard', 'person',
    'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag', 'otherstructure',
    'otherfurniture', 'otherprop')

#: official scene ranges of the Structured3D benchmark
S3D_SPLITS = dict(train=(0, 3000), val=(3000, 3250), test=(3250, 3500))


@DATASETS.register_module()
class Structured3DPanoDataset(BaseRGBDDataset):
    """Structured3D panoramas (3,500 synthetic houses, 21,835 rooms) in the
    official layout (unzip every ``Structured3D_panorama_*.zip`` into one
    folder)::

        data_root/                         (holds scene_*/, or Structured3D/scene_*/)
        └── scene_00000/2D_rendering/<room>/panorama/
            ├── full/rgb_rawlight.png      1024x512 colour (also cold/warm light)
            ├── full/depth.png             uint16 millimetres, distance along the ray
            ├── full/semantic.png          NYU40 class ids (0 = none)
            └── camera_xyz.txt             camera position in the scene, millimetres

    Frames are lifted in the panorama's own z-up frame (camera at the
    origin; the camera position, in metres, is kept in ``camera_position``).
    ``pixel_labels`` are the 40 NYU classes as 0..39 (255 = unlabelled);
    ``frame_id`` is ``scene_XXXXX/<room>``.

    Args:
        data_root: dataset root.
        split: ``'train'`` (scenes 0-2999), ``'val'`` (3000-3249), ``'test'``
            (3250-3499) or ``'all'``.
        configuration: ``'full'`` (furnished, default), ``'simple'`` or
            ``'empty'``.
        lighting: ``'rawlight'``, ``'coldlight'`` or ``'warmlight'``.
        with_labels: list ``semantic.png`` as the frame's ``label_path``.
        exclude_scenes: scene names to leave out (e.g. the official errata's
            invalid scenes).
    """

    METAINFO = dict(classes=NYU40_CLASSES)

    def __init__(self, data_root: str, split: str = 'train', configuration: str = 'full',
                 lighting: str = 'rawlight', with_labels: bool = True,
                 exclude_scenes: Sequence[str] = (), **kwargs):
        if split not in (*S3D_SPLITS, 'all'):
            raise ValueError(f'Structured3DPanoDataset: split must be train, val, test or all, '
                             f'got {split!r}')
        if configuration not in ('full', 'simple', 'empty'):
            raise ValueError(f'Structured3DPanoDataset: unknown configuration {configuration!r}')
        if lighting not in ('rawlight', 'coldlight', 'warmlight'):
            raise ValueError(f'Structured3DPanoDataset: unknown lighting {lighting!r}')
        self.split = split
        self.configuration = configuration
        self.lighting = lighting
        self.with_labels = with_labels
        self.exclude_scenes = set(exclude_scenes)
        super().__init__(data_root=data_root, **kwargs)

    def _scene_root(self) -> str:
        nested = osp.join(self.data_root, 'Structured3D')
        return nested if osp.isdir(nested) else self.data_root

    def list_frames(self) -> List[dict]:
        root = self._scene_root()
        lo, hi = S3D_SPLITS.get(self.split, (0, 10 ** 9))
        frames = []
        for scene in sorted(os.listdir(root)):
            match = re.match(r'scene_(\d+)$', scene)
            if not match or not lo <= int(match.group(1)) < hi or scene in self.exclude_scenes:
                continue
            rendering = osp.join(root, scene, '2D_rendering')
            if not osp.isdir(rendering):
                continue
            rooms = sorted(os.listdir(rendering), key=lambda r: (len(r), r))
            for room in rooms:
                pano = osp.join(rendering, room, 'panorama')
                folder = osp.join(pano, self.configuration)
                img = osp.join(folder, f'rgb_{self.lighting}.png')
                depth = osp.join(folder, 'depth.png')
                if not (osp.isfile(img) and osp.isfile(depth)):
                    continue
                label = osp.join(folder, 'semantic.png')
                frames.append(dict(
                    frame_id=f'{scene}/{room}', scene_id=scene, room_id=room,
                    img_path=img, depth_path=depth,
                    label_path=label if self.with_labels and osp.isfile(label) else None,
                    camera_path=osp.join(pano, 'camera_xyz.txt'),
                    projection='equirect', depth_encoding='uint16', depth_scale=1000.0))
        return frames

    def parse_frame(self, info: dict) -> dict:
        if osp.isfile(info['camera_path']):
            info['camera_position'] = read_matrix(info['camera_path'], (3,),
                                                  'camera position') / 1000.0
        if info.get('label_path'):
            # NYU40 ids 1..40 -> 0..39, 0 (no label) and anything else -> 255
            info['label_map'] = np.concatenate([[255], np.arange(40)]).astype(np.int64)
        return info

