"""Matterport3D equirectangular RGB-D panoramas (the stitched 1024x512
panoramas of the 360-degree depth literature)."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from d3l.registry import DATASETS

from .base import BaseRGBDDataset
from .folder import read_split_file

# The official Matterport3D benchmark scene split (niessner/Matterport,
# tasks/benchmark/scenes_{train,val,test}.txt): 61 / 11 / 18 buildings.
MP3D_SPLITS: Dict[str, Sequence[str]] = dict(
    train=(
        '17DRP5sb8fy', '1LXtFkjw3qL', '1pXnuDYAj8r', '29hnd4uzFmX', '5LpN3gDmAk7',
        '5q7pvUzZiYa', '759xd9YjKW5', '7y3sRwLe3Va', '82sE5b5pLXE', '8WUmhLawc2A',
        'aayBHfsNo7d', 'ac26ZMwG7aT', 'B6ByNegPMKs', 'b8cTxDM8gDG', 'cV4RVeZvu5T',
        'D7N2EKCX4Sj', 'e9zR4mvMWw7', 'EDJbREhghzL', 'GdvgFV5R1Z5', 'gTV8FGcVJC9',
        'HxpKQynjfin', 'i5noydFURQK', 'JeFG25nYj2p', 'JF19kD82Mey', 'jh4fc5c5qoQ',
        'kEZ7cmS4wCh', 'mJXqzFtmKg4', 'p5wJjkQkbXX', 'Pm6F8kyY3z2', 'pRbA3pwrgk9',
        'PuKPg4mmafe', 'PX4nDJXEHrG', 'qoiz87JEwZ2', 'rPc6DW4iMge', 's8pcmisQ38h',
        'S9hNv5qa7GM', 'sKLMLpTHeUy', 'SN83YJsR3w2', 'sT4fr6TAbpF', 'ULsKaCPVFJR',
        'uNb9QFRL6hY', 'Uxmj2M2itWa', 'V2XKFyX4ASd', 'VFuaQ6m2Qom', 'VVfe2KiqLaN',
        'Vvot9Ly1tCj', 'vyrNrziPKCB', 'VzqfbhrpDEA', 'XcA2TqTSSAj', '2n8kARJN3HM',
        'D7G3Y4RVNrH', 'dhjEzFoUFzH', 'E9uDoFAP3SH', 'gZ6f7yhEvPG', 'JmbYfDe2QKZ',
        'r1Q1Z4BcV1o', 'r47D5H71a5s', 'ur6pFq6Qu1A', 'VLzqgDo317F', 'YmJkqBEsHnH',
        'ZMojNkEp431'),
    val=('2azQ1b91cZZ', '8194nk5LbLH', 'EU6Fwq7SyZv', 'oLBMNvg9in8', 'QUCTc6BB5sX',
         'TbHJrupSAjP', 'X7HyMhZNoso', 'pLe4wQe7qrG', 'x8F5xyUWy9e', 'Z6MFQCViBuw',
         'zsNo4HB9uLZ'),
    test=('2t7WUuJeko7', '5ZKStnWn8Zo', 'ARNzJeq3xxb', 'fzynW3qQPVF', 'jtcxE69GiFV',
          'pa4otMbVnkk', 'q9vSo1VnCiC', 'rqfALeAoiTq', 'UwV83HsGsw3', 'wc2JMjhGNzB',
          'WYY7iVyf5p8', 'YFuZgdQ5vWj', 'yqstnuAEVhm', 'YVUC4YcDtcY', 'gxdoqLR6rwA',
          'gYvKGZ5eRqb', 'RPmz2sHmrrY', 'Vt2qJdWjCF2'))

LAYOUTS = ('auto', 'hohonet', 'bifuse', 'list')


def _depth_encoding(path: str) -> str:
    return 'float' if path.lower().endswith(('.exr', '.npy', '.npz')) else 'uint16'


@DATASETS.register_module()
class Matterport3DPanoDataset(BaseRGBDDataset):
    """Matterport3D RGB-D panoramas (equirectangular, 1024x512, depth =
    distance along the ray), in one of the layouts the 360-degree depth
    literature distributes::

        layout='hohonet'   data_root/<scene>/<pano>_rgb.png
                           data_root/<scene>/<pano>_depth.exr   (float metres; or
                           _depth.npy, or _depth.png uint16 with depth_scale)
        layout='bifuse'    data_root/<scene>/<pano>/color.jpg
                           data_root/<scene>/<pano>/depth.npy   (float metres)
        layout='list'      list_file lines "<rgb path> <depth path>" relative to
                           data_root (UniFuse's mp3d_{train,val,test}.txt; PNG depth
                           in quarter millimetres: depth_scale=4000)

    ``layout='auto'`` picks hohonet or bifuse from the first scene folder.
    Panoramas are lifted in their own z-up frame (the camera at the
    origin); ``frame_id`` is ``<scene>/<pano>``, ``scene_id`` the building.

    Args:
        data_root: dataset root.
        split: ``'train'`` / ``'val'`` / ``'test'`` (the official benchmark
            buildings, :data:`MP3D_SPLITS`), ``'trainval'``, or ``'all'``.
        scenes: explicit building ids (overrides ``split``).
        split_file: text file of building ids (overrides ``split``).
        layout: see above; ``list_file`` is needed for ``'list'``.
        depth_scale: raw units per metre for integer depth PNGs (4000 for
            Matterport's quarter-millimetre depth).
    """

    def __init__(self, data_root: str, split: str = 'train',
                 scenes: Optional[Sequence[str]] = None, split_file: Optional[str] = None,
                 layout: str = 'auto', list_file: Optional[str] = None,
                 depth_scale: float = 4000.0, **kwargs):
        if layout not in LAYOUTS:
            raise ValueError(f'Matterport3DPanoDataset: layout must be one of {LAYOUTS}, got '
                             f'{layout!r}')
        if layout == 'list' and not list_file:
            raise ValueError("Matterport3DPanoDataset: layout='list' needs list_file")
        if scenes is None and split_file is None and split not in (*MP3D_SPLITS, 'trainval',
                                                                    'all'):
            raise ValueError(f'Matterport3DPanoDataset: unknown split {split!r}; choose train, '
                             'val, test, trainval or all')
        self.split = split
        self.scenes = list(scenes) if scenes is not None else None
        self.split_file = split_file
        self.layout = layout
        self.list_file = list_file
        self.depth_scale = float(depth_scale)
        super().__init__(data_root=data_root, **kwargs)

    def _wanted_scenes(self) -> Optional[set]:
        if self.scenes is not None:
            return set(self.scenes)
        if self.split_file:
            return set(read_split_file(self.split_file))
        if self.split == 'all':
            return None
        if self.split == 'trainval':
            return set(MP3D_SPLITS['train']) | set(MP3D_SPLITS['val'])
        return set(MP3D_SPLITS[self.split])

    def _detect_layout(self, scene_dirs: List[str]) -> str:
        for scene_dir in scene_dirs:
            names = os.listdir(scene_dir)
            if any(n.endswith(('_rgb.png', '_rgb.jpg')) for n in names):
                return 'hohonet'
            if any(osp.isfile(osp.join(scene_dir, n, 'color.jpg'))
                   or osp.isfile(osp.join(scene_dir, n, 'color.png')) for n in names):
                return 'bifuse'
        raise FileNotFoundError(f'Matterport3DPanoDataset: cannot recognise the layout under '
                                f'{self.data_root} (expected <scene>/<pano>_rgb.png or '
                                '<scene>/<pano>/color.jpg; see docs/data_preparation.md)')

    def _frame(self, scene, pano, img, depth) -> dict:
        return dict(frame_id=f'{scene}/{pano}', scene_id=scene, img_path=img, depth_path=depth,
                    projection='equirect', depth_encoding=_depth_encoding(depth),
                    depth_scale=None if depth.lower().endswith(('.exr', '.npy', '.npz'))
                    else self.depth_scale)

    def list_frames(self) -> List[dict]:
        wanted = self._wanted_scenes()
        if self.layout == 'list':
            return self._list_from_file(wanted)
        scene_dirs = sorted(osp.join(self.data_root, d) for d in os.listdir(self.data_root)
                            if osp.isdir(osp.join(self.data_root, d))
                            and (wanted is None or d in wanted))
        if wanted is not None:
            missing = sorted(wanted - {osp.basename(d) for d in scene_dirs})
            if missing and len(missing) == len(wanted):
                raise FileNotFoundError(f'Matterport3DPanoDataset: none of the {len(wanted)} '
                                        f'buildings of split {self.split!r} is under '
                                        f'{self.data_root}')
        if not scene_dirs:
            return []
        layout = self.layout if self.layout != 'auto' else self._detect_layout(scene_dirs)
        frames = []
        for scene_dir in scene_dirs:
            scene = osp.basename(scene_dir)
            names = sorted(os.listdir(scene_dir))
            if layout == 'hohonet':
                depths = {}
                for n in names:
                    for suffix in ('_depth.exr', '_depth.npy', '_depth.png'):
                        if n.endswith(suffix):
                            depths.setdefault(n[:-len(suffix)], osp.join(scene_dir, n))
                for n in names:
                    for suffix in ('_rgb.png', '_rgb.jpg'):
                        pano = n[:-len(suffix)]
                        if n.endswith(suffix) and pano in depths:
                            frames.append(self._frame(scene, pano, osp.join(scene_dir, n),
                                                      depths[pano]))
            else:
                for pano in names:
                    pano_dir = osp.join(scene_dir, pano)
                    color = next((osp.join(pano_dir, c) for c in ('color.jpg', 'color.png')
                                  if osp.isfile(osp.join(pano_dir, c))), None)
                    depth = next((osp.join(pano_dir, c) for c in ('depth.npy', 'depth.exr',
                                                                  'depth.png')
                                  if osp.isfile(osp.join(pano_dir, c))), None)
                    if color and depth:
                        frames.append(self._frame(scene, pano, color, depth))
        return frames

    def _list_from_file(self, wanted) -> List[dict]:
        frames = []
        for line in read_split_file(self.list_file):
            parts = line.split()
            if len(parts) < 2:
                raise ValueError(f'{self.list_file}: line {line!r} needs "<rgb> <depth>"')
            img, depth = (osp.join(self.data_root, p) for p in parts[:2])
            rel = parts[0].replace('\\', '/').strip('/')
            scene = rel.split('/')[0] if '/' in rel else rel.split('_')[0]
            if wanted is not None and scene not in wanted:
                continue
            # the colour file's path below the building, which is unique
            pano = osp.splitext(rel[len(scene) + 1:] if rel.startswith(scene + '/') else rel)[0]
            frames.append(self._frame(scene, pano, img, depth))
        return frames
