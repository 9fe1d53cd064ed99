"""Writers of the synthetic world in the formats the real pipeline reads.

* 3D scenes: the d3l scene format = Pointcept's ScanNet layout, read by
  :class:`d3l.datasets.ScanNetDataset`::

      {root}/{train,val}/{scene_id}/coord.npy  color.npy  normal.npy
                                    segment20.npy  instance.npy
      {root}/meta/scannetv2_{train,val}.txt

* RGB-D frames: the generic folder layout of
  :class:`d3l.datasets.rgbd.RGBDFolderDataset` (``rgb/``, ``depth/`` uint16
  millimetres, ``label/`` 2D class ids, ``pose/`` cam2world, ``camera.json``).
* 2D teacher images: mmsegmentation's folder format
  (``img_dir/{split}/*.png``, ``ann_dir/{split}/*.png``, 255 = ignore).

Every file is written under a temporary name and renamed; a scene or RGB-D
room folder is assembled in a temporary folder and renamed as a whole, so
an interrupted run leaves complete items or nothing (:mod:`d3l.utils.fileio`).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, Iterable

import numpy as np
from PIL import Image

from d3l.utils import fileio

DEPTH_SCALE = 1000.0  # uint16 depth PNG units per metre (millimetres)
SCENE_FILES = ('coord', 'color', 'normal', 'segment20', 'instance')


def save_png(path: str, array: np.ndarray) -> str:
    """uint8 (H, W[, 3]) or uint16 (H, W) PNG, atomically."""
    array = np.ascontiguousarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(f'save_png({path}): expected uint8 or uint16, got {array.dtype}')

    with fileio.atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format='PNG')
    return path


def save_json(path: str, obj) -> str:
    return fileio.write_json(path, obj, indent=1, sort_keys=True)


def save_text(path: str, text: str) -> str:
    return fileio.write_text(path, text)


def depth_to_uint16(depth: np.ndarray, scale: float = DEPTH_SCALE) -> np.ndarray:
    """Metres -> uint16 (``round(depth * scale)``); invalid (<= 0, non-finite)
    and out-of-range depth become 0 (no reading)."""
    depth = np.asarray(depth, np.float64)
    raw = np.where(np.isfinite(depth) & (depth > 0), np.round(depth * scale), 0)
    raw[raw > np.iinfo(np.uint16).max] = 0
    return raw.astype(np.uint16)


def write_scene(root: str, split: str, scene_id: str, scene: Dict[str, np.ndarray]) -> str:
    """One scene in Pointcept's ScanNet layout; returns its folder."""
    final_dir = osp.join(root, split, scene_id)
    expected = dict(coord=np.float32, color=np.uint8, normal=np.float32, segment20=np.int16,
                    instance=np.int16)
    num = len(scene['coord'])
    # a stale copy of the same deterministic item is replaced
    with fileio.atomic_dir(final_dir) as tmp_dir:
        for name, dtype in expected.items():
            array = np.asarray(scene[name])
            if array.dtype != dtype or len(array) != num:
                raise ValueError(f'write_scene({scene_id}): {name} must be {np.dtype(dtype)} '
                                 f'with {num} rows, got {array.dtype} {array.shape}')
            np.save(osp.join(tmp_dir, f'{name}.npy'), array)
    return final_dir


def scene_complete(root: str, split: str, scene_id: str) -> bool:
    folder = osp.join(root, split, scene_id)
    return all(osp.isfile(osp.join(folder, f'{n}.npy')) for n in SCENE_FILES)


def write_scene_list(path: str, scene_ids: Iterable[str]) -> str:
    return save_text(path, ''.join(f'{s}\n' for s in scene_ids))


def write_rgbd_room(root: str, room_id: str, frames, projection: str,
                    intrinsics: np.ndarray = None) -> str:
    """The frames of one room as a scene folder of the generic RGB-D layout.

    ``frames`` are renders (:mod:`.render`) of one kind; perspective frames
    share the folder's ``camera.json`` intrinsics (one sensor). Returns the
    folder.
    """
    final_dir = osp.join(root, room_id)
    frames = list(frames)
    if not frames:
        raise ValueError(f'write_rgbd_room({room_id}): no frames')
    height, width = frames[0]['depth'].shape
    camera = dict(projection=projection, width=int(width), height=int(height),
                  depth_scale=DEPTH_SCALE)
    if projection == 'perspective':
        K = np.asarray(intrinsics, np.float64)
        camera.update(fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]),
                      cy=float(K[1, 2]))
    # a stale copy of the same deterministic item is replaced
    with fileio.atomic_dir(final_dir) as tmp_dir:
        for sub in ('rgb', 'depth', 'label', 'pose'):
            os.makedirs(osp.join(tmp_dir, sub))
        save_json(osp.join(tmp_dir, 'camera.json'), camera)
        for k, frame in enumerate(frames):
            _check_frame(room_id, k, frame, (height, width), projection, intrinsics)
            stem = f'{k:06d}'
            save_png(osp.join(tmp_dir, 'rgb', stem + '.png'), frame['img'])
            save_png(osp.join(tmp_dir, 'depth', stem + '.png'), depth_to_uint16(frame['depth']))
            save_png(osp.join(tmp_dir, 'label', stem + '.png'), frame['label2d'])
            np.savetxt(osp.join(tmp_dir, 'pose', stem + '.txt'), frame['cam2world'], fmt='%.8f')
    return final_dir


def _check_frame(room_id: str, k: int, frame: dict, size, projection: str, intrinsics) -> None:
    if frame['depth'].shape != size:
        raise ValueError(f'write_rgbd_room({room_id}): frame {k} has size '
                         f'{frame["depth"].shape}, the room\'s first frame {size}')
    if projection == 'perspective' and not np.allclose(frame['intrinsics'], intrinsics,
                                                       atol=1e-4):
        raise ValueError(f'write_rgbd_room({room_id}): frame {k} has other intrinsics '
                         'than the room\'s camera.json')


def rgbd_room_complete(root: str, room_id: str, num_frames: int) -> bool:
    folder = osp.join(root, room_id)
    if not osp.isfile(osp.join(folder, 'camera.json')):
        return False
    return all(osp.isfile(osp.join(folder, sub, f'{k:06d}{ext}'))
               for k in range(num_frames)
               for sub, ext in (('rgb', '.png'), ('depth', '.png'), ('label', '.png'),
                                ('pose', '.txt')))


def write_seg2d_image(root: str, split: str, name: str, img: np.ndarray,
                      label: np.ndarray) -> None:
    """One image + annotation in mmseg's folder format (annotation first, so
    that every listed image has its annotation)."""
    save_png(osp.join(root, 'ann_dir', split, name + '.png'), np.asarray(label, np.uint8))
    save_png(osp.join(root, 'img_dir', split, name + '.png'), img)


def seg2d_image_complete(root: str, split: str, name: str) -> bool:
    return all(osp.isfile(osp.join(root, sub, split, name + '.png'))
               for sub in ('img_dir', 'ann_dir'))


def list_pngs(folder: str):
    """PNG file names in ``folder`` (none if it does not exist)."""
    if not osp.isdir(folder):
        return []
    return [n for n in os.listdir(folder) if n.endswith('.png')]
