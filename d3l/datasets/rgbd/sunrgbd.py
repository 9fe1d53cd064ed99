"""SUN RGB-D perspective frames in the official ``SUNRGBD/`` layout."""
import os
import os.path as osp
from typing import List, Optional

import numpy as np

from d3l.registry import DATASETS

from .base import BaseRGBDDataset
from .folder import read_split_file
from .io import BadFrameError, read_matrix

#: OpenCV camera (x right, y down, z forward) -> SUN RGB-D's upright-depth
#: axes before tilt correction (x right, y forward, z up); the toolbox's
#: ``[x3 z3 -y3]`` in read3dPoints.m
CAMERA_TO_DEPTH = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])


def rtilt_from_extrinsics(extrinsics: np.ndarray) -> np.ndarray:
    """SUN RGB-D's ``Rtilt`` from the 3x3 block of an ``extrinsics/*.txt``
    file: ``[1 0 0; 0 0 1; 0 -1 0] * E * [1 0 0; 0 0 -1; 0 1 0]``, as in the
    toolbox's ``readframeSUNRGBD.m``."""
    A = CAMERA_TO_DEPTH
    return A @ np.asarray(extrinsics, np.float64)[:3, :3] @ A.T


def sunrgbd_cam2world(rtilt: np.ndarray) -> np.ndarray:
    """4x4 map from OpenCV camera points to SUN RGB-D's upright frame
    (z up, y forward): ``Rtilt @ [x, z, -y]``, the toolbox's point cloud."""
    cam2world = np.eye(4)
    cam2world[:3, :3] = np.asarray(rtilt, np.float64) @ CAMERA_TO_DEPTH
    return cam2world


def sunrgbd_intrinsics(K_matlab: np.ndarray) -> np.ndarray:
    """Convert the toolbox's K (MATLAB 1-based pixel coordinates) to d3l's
    0-based convention by moving the principal point by one pixel."""
    K = np.asarray(K_matlab, np.float64).copy()
    K[0, 2] -= 1.0
    K[1, 2] -= 1.0
    return K


def read_sunrgbd_split(path: str, split: str, data_root: str) -> List[str]:
    """Frame folders (relative to ``data_root``) of a split file: the
    toolbox's ``allsplit.mat`` (``alltrain`` / ``alltest``, or
    ``trainvalsplit.train`` / ``.val``) or a text file of folders."""
    if not path.endswith('.mat'):
        return [p.strip('/') for p in read_split_file(path)]
    from scipy.io import loadmat
    try:
        mat = loadmat(path, squeeze_me=True, struct_as_record=False)
    except (NotImplementedError, ValueError, OSError) as exc:
        raise ValueError(f'{path}: cannot read the split ({exc}); convert it to a text file of '
                         'frame folders') from exc
    if split in ('train', 'test') and f'all{split}' in mat:
        entries = mat[f'all{split}']
    elif split in ('train', 'val') and 'trainvalsplit' in mat:
        entries = getattr(mat['trainvalsplit'], split)
    else:
        keys = sorted(k for k in mat if not k.startswith('__'))
        raise ValueError(f'{path}: no {split!r} split (keys: {keys})')
    folders = []
    for entry in np.atleast_1d(entries):
        entry = str(entry).replace('\\', '/').rstrip('/')
        # toolbox paths look like /n/fs/sun3d/data/SUNRGBD/kv2/kinect2data/...
        rel = entry.split('SUNRGBD/', 1)[1] if 'SUNRGBD/' in entry else entry
        if not osp.isdir(osp.join(data_root, rel)) and osp.isdir(
                osp.join(data_root, 'SUNRGBD', rel)):
            rel = osp.join('SUNRGBD', rel)
        folders.append(rel)
    return folders


@DATASETS.register_module()
class SUNRGBDDataset(BaseRGBDDataset):
    """SUN RGB-D frames (10,335 frames of four sensors) in the official
    ``SUNRGBD.zip`` layout::

        data_root/                       (the SUNRGBD/ folder, or its parent)
        └── kv1/NYUdata/NYU0001/         one folder per frame, any depth of nesting
            ├── image/NYU0001.jpg        colour
            ├── depth/NYU0001.png        16-bit depth with SUN's 3-bit rotation
            ├── depth_bfx/NYU0001.png    the same, holes filled (use_filled_depth)
            ├── intrinsics.txt           K, 9 numbers row-major (MATLAB pixels)
            └── extrinsics/<time>.txt    3x4; the last file's rotation gives Rtilt

    Depth is decoded as the toolbox's ``read3dPoints.m`` does
    (``(raw >> 3 | raw << 13) / 1000`` metres), K is moved to 0-based pixel
    centres and ``cam2world = Rtilt @ [x, z, -y]`` maps the lifted points
    into SUN RGB-D's upright frame (z up, y forward), reproducing the
    toolbox's point clouds.

    Args:
        data_root: the SUNRGBD folder (or its parent).
        split_file: the toolbox's ``traintestsplit/allsplit.mat`` (with
            ``split`` = train / test / val) or a text file of frame folders
            relative to data_root; None takes every frame found.
        split: which split of ``allsplit.mat``.
        use_filled_depth: read ``depth_bfx/`` (hole-filled) instead of
            ``depth/``.
    """

    def __init__(self, data_root: str, split_file: Optional[str] = None, split: str = 'train',
                 use_filled_depth: bool = False, **kwargs):
        self.split_file = split_file
        self.split = split
        self.use_filled_depth = use_filled_depth
        super().__init__(data_root=data_root, **kwargs)

    def _frame_dirs(self) -> List[str]:
        if self.split_file:
            return read_sunrgbd_split(self.split_file, self.split, self.data_root)
        found = []
        for dirpath, dirnames, filenames in os.walk(self.data_root):
            if 'intrinsics.txt' in filenames and 'image' in dirnames:
                found.append(osp.relpath(dirpath, self.data_root))
                dirnames[:] = []  # a frame folder holds no other frame
            else:
                dirnames[:] = sorted(d for d in dirnames if d not in ('fullres', 'annotation'))
        return sorted(found)

    @staticmethod
    def _single_file(folder: str, extensions) -> Optional[str]:
        if not osp.isdir(folder):
            return None
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(extensions))
        return osp.join(folder, names[0]) if names else None

    def list_frames(self) -> List[dict]:
        frames = []
        depth_folder = 'depth_bfx' if self.use_filled_depth else 'depth'
        for rel in self._frame_dirs():
            frame_dir = osp.join(self.data_root, rel)
            if not osp.isdir(frame_dir):
                raise FileNotFoundError(f'SUNRGBDDataset: frame folder {frame_dir} (from '
                                        f'{self.split_file}) does not exist')
            frame_id = rel.replace(os.sep, '/')
            img = self._single_file(osp.join(frame_dir, 'image'), ('.jpg', '.png'))
            depth = self._single_file(osp.join(frame_dir, depth_folder), ('.png',))
            frames.append(dict(
                frame_id=frame_id, scene_id=frame_id,
                img_path=img or osp.join(frame_dir, 'image', '<missing>.jpg'),
                depth_path=depth or osp.join(frame_dir, depth_folder, '<missing>.png'),
                frame_dir=frame_dir, projection='perspective', depth_encoding='sunrgbd',
                depth_scale=1000.0))
        return frames

    def parse_frame(self, info: dict) -> dict:
        frame_dir = info['frame_dir']
        K = read_matrix(osp.join(frame_dir, 'intrinsics.txt'), (3, 3), 'intrinsics')
        info['intrinsics'] = sunrgbd_intrinsics(K)
        extrinsics_dir = osp.join(frame_dir, 'extrinsics')
        names = (sorted(n for n in os.listdir(extrinsics_dir) if n.endswith('.txt'))
                 if osp.isdir(extrinsics_dir) else [])
        if not names:
            raise BadFrameError(f'{extrinsics_dir}: no extrinsics/*.txt (needed for Rtilt, '
                                'to make the cloud upright)')
        extrinsics = osp.join(extrinsics_dir, names[-1])  # the toolbox takes the last one
        rtilt = rtilt_from_extrinsics(read_matrix(extrinsics, (3, 4), 'extrinsics'))
        if not np.allclose(rtilt @ rtilt.T, np.eye(3), atol=1e-3):
            raise BadFrameError(f'{extrinsics}: rotation block is not orthonormal')
        info['rtilt'] = rtilt
        info['cam2world'] = sunrgbd_cam2world(rtilt)
        return info
