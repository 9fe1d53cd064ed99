"""ScanNet RGB-D frames exported from ``.sens`` files."""
import os
import os.path as osp
import re
from typing import List, Optional

import numpy as np

from d3l.registry import DATASETS

from .base import BaseRGBDDataset
from .folder import read_split_file
from .io import BadFrameError, read_matrix


def read_axis_alignment(path: str) -> Optional[np.ndarray]:
    """The 4x4 ``axisAlignment`` of a ScanNet ``<scene>.txt`` meta file, or
    None when the file or the line is absent (test scenes have none)."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        for line in f:
            if line.strip().startswith('axisAlignment'):
                values = line.split('=', 1)[1].split()
                if len(values) != 16:
                    raise BadFrameError(f'{path}: axisAlignment needs 16 numbers, got '
                                        f'{len(values)}')
                return np.array(values, np.float64).reshape(4, 4)
    return None


@DATASETS.register_module()
class ScanNetFramesDataset(BaseRGBDDataset):
    """ScanNet v2 posed RGB-D frames, as written by ScanNet's ``SensReader``
    (``python reader.py --filename scene.sens --output_path <scene>
    --export_color_images --export_depth_images --export_poses
    --export_intrinsics``)::

        data_root/
        ├── scene0000_00/                 (or data_root/scans/scene0000_00/)
        │   ├── color/<i>.jpg             1296x968 colour
        │   ├── depth/<i>.png             640x480 uint16 millimetres, 0 = no reading
        │   ├── pose/<i>.txt              4x4 camera-to-world (scan frame, z up)
        │   ├── intrinsic/intrinsic_depth.txt  intrinsic_color.txt  (4x4)
        │   └── scene0000_00.txt          optional meta file with axisAlignment
        └── ...

    Frames are lifted in the depth camera: the colour image is resampled into
    the depth image's pixel grid with the two intrinsics (ScanNet's colour
    and depth cameras share the optical centre after export). ``cam2world``
    is the frame's pose, premultiplied by the scene's axis alignment when
    ``axis_align`` and the meta file has one, so points are z-up in the
    (aligned) scan frame. Frames whose pose is invalid (``-inf``, as ScanNet
    writes for lost tracking) raise :class:`BadFrameError` (or are skipped
    with ``skip_bad_frames=True``).

    Args:
        data_root: folder of scene folders (or of ``scans/``).
        split_file: ScanNet's ``scannetv2_{train,val,test}.txt`` (scene ids);
            None takes every scene found.
        frame_skip: keep every n-th exported frame (the default 20 keeps 1.5
            frames per second of ScanNet's 30 fps video; consecutive frames
            are nearly identical).
        axis_align: apply the scene's axis alignment when available.
    """

    def __init__(self, data_root: str, split_file: Optional[str] = None, frame_skip: int = 20,
                 axis_align: bool = True, **kwargs):
        if frame_skip < 1:
            raise ValueError(f'ScanNetFramesDataset: frame_skip must be >= 1, got {frame_skip}')
        self.split_file = split_file
        self.frame_skip = int(frame_skip)
        self.axis_align = axis_align
        super().__init__(data_root=data_root, **kwargs)

    def _scene_root(self) -> str:
        scans = osp.join(self.data_root, 'scans')
        return scans if osp.isdir(scans) else self.data_root

    def list_frames(self) -> List[dict]:
        root = self._scene_root()
        if self.split_file:
            scenes = read_split_file(self.split_file)
            missing = [s for s in scenes if not osp.isdir(osp.join(root, s))]
            if missing:
                raise FileNotFoundError(
                    f'ScanNetFramesDataset: {len(missing)} scenes of {self.split_file} are not '
                    f'under {root} (first: {missing[:3]}); export them with SensReader')
        else:
            scenes = sorted(d for d in os.listdir(root)
                            if re.match(r'scene\d{4}_\d{2}$', d)
                            and osp.isdir(osp.join(root, d)))
        frames = []
        for scene in scenes:
            scene_dir = osp.join(root, scene)
            depth_dir = osp.join(scene_dir, 'depth')
            if not osp.isdir(depth_dir):
                raise FileNotFoundError(f'{scene_dir}: no depth/ folder (export with '
                                        'SensReader --export_depth_images)')
            ids = sorted(int(osp.splitext(n)[0]) for n in os.listdir(depth_dir)
                         if n.endswith('.png') and osp.splitext(n)[0].isdigit())
            for i in ids[::self.frame_skip]:
                frames.append(dict(
                    frame_id=f'{scene}/{i}', scene_id=scene, frame_index=i,
                    img_path=osp.join(scene_dir, 'color', f'{i}.jpg'),
                    depth_path=osp.join(depth_dir, f'{i}.png'),
                    pose_path=osp.join(scene_dir, 'pose', f'{i}.txt'),
                    intrinsic_dir=osp.join(scene_dir, 'intrinsic'),
                    meta_path=osp.join(scene_dir, f'{scene}.txt'),
                    projection='perspective', depth_encoding='uint16', depth_scale=1000.0))
        return frames

    def parse_frame(self, info: dict) -> dict:
        intrinsic_dir = info['intrinsic_dir']
        info['intrinsics'] = read_matrix(osp.join(intrinsic_dir, 'intrinsic_depth.txt'),
                                         (4, 4), 'depth intrinsics')[:3, :3]
        color_path = osp.join(intrinsic_dir, 'intrinsic_color.txt')
        if osp.isfile(color_path):
            info['color_intrinsics'] = read_matrix(color_path, (4, 4),
                                                   'colour intrinsics')[:3, :3]
        pose = read_matrix(info['pose_path'], (4, 4), 'pose')
        if not np.isfinite(pose).all():
            raise BadFrameError(f'{info["pose_path"]}: invalid pose (non-finite entries: '
                                'ScanNet lost tracking on this frame)')
        if self.axis_align:
            alignment = read_axis_alignment(info['meta_path'])
            if alignment is not None:
                pose = alignment @ pose
                info['axis_align_matrix'] = alignment
        info['cam2world'] = pose
        return info
