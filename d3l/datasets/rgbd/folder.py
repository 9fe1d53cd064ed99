"""A generic RGB-D folder layout for a user's own sensor or renderer."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from d3l.registry import DATASETS

from .base import PROJECTIONS, BaseRGBDDataset
from .io import (
    BadFrameError,
    check_depth_encoding,
    check_depth_scale,
    depth_kind_of,
    float_array,
    intrinsics_from_dict,
    read_json,
    read_matrix,
    scalar_value,
)

COLOR_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff', '.webp')
DEPTH_EXTENSIONS = ('.png', '.npy', '.npz', '.exr', '.tif', '.tiff', '.pgm')
LABEL_EXTENSIONS = ('.png', '.npy', '.tif', '.tiff', '.bmp')
CAMERA_KEYS = ('projection', 'K', 'intrinsics', 'fx', 'fy', 'cx', 'cy', 'skew', 'width',
               'height', 'depth_scale', 'depth_kind', 'depth_encoding', 'cam2world')


def read_split_file(path: str) -> List[str]:
    """Non-empty, non-comment lines of a split file (scene or frame ids)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'split file {path} does not exist')
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def _index_by_stem(folder: str, extensions: Sequence[str]) -> Dict[str, str]:
    files = {}
    if not osp.isdir(folder):
        return files
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if ext.lower() in extensions and stem not in files:
            files[stem] = osp.join(folder, name)
    return files


def _natural_key(text: str):
    # frame 10 after frame 9, as sensors number their frames
    return [int(t) if t.isdigit() else t for t in _split_digits(text)]


def _split_digits(text: str) -> List[str]:
    parts, current = [], ''
    for ch in text:
        if current and ch.isdigit() != current[-1].isdigit():
            parts.append(current)
            current = ''
        current += ch
    return parts + [current] if current else parts


@DATASETS.register_module()
class RGBDFolderDataset(BaseRGBDDataset):
    """RGB-D frames in a plain folder layout (a user's own sensor, the
    synthetic benchmark's renderings)::

        data_root/
        ├── camera.json                optional: camera of every scene below
        └── <scene>/                   any folder holding rgb/ (nested up to 3 levels);
            │                          data_root itself may be the only scene
            ├── rgb/<frame>.png|jpg    colour, 8-bit RGB
            ├── depth/<frame>.png      uint16, depth_scale units per metre (default 1000,
            │                          i.e. millimetres), 0 = no reading; or .npy / .npz /
            │                          .exr / float .tif holding float32 metres (used as
            │                          they are: a depth_scale stated for them is an error)
            ├── camera.json            optional: camera of this folder's frames
            ├── camera/<frame>.json    optional: per-frame camera (overrides the folder's)
            ├── pose/<frame>.txt       optional: 4x4 cam2world, row-major (z-up world)
            └── label/<frame>.png      optional: 2D class ids (8/16-bit, 255 = none)

    ``intrinsics.json`` / ``intrinsics/`` are accepted as synonyms of
    ``camera.json`` / ``camera/``. Camera JSON keys (a per-frame file
    overrides its folder's, which overrides the root's, which overrides the
    dataset arguments)::

        projection    "perspective" (default) or "equirect" (2:1 panorama,
                      depth = distance along the ray, z up)
        fx, fy, cx, cy (+ skew)  or  K (3x3 row-major): pinhole intrinsics of the
                      depth image, pixel centres at integer coordinates (OpenCV)
        width, height optional; checked against the images
        depth_scale   raw depth units per metre for integer depth (default 1000);
                      must not be stated (or be 1) for float depth in metres
        depth_kind    "z" (default: z-depth) or "ray" (perspective depth that holds
                      the distance along the ray, as some renderers write)
        cam2world     4x4 row-major (per-frame JSON; pose/<frame>.txt also works)

    Frames pair ``rgb/`` and ``depth/`` files by file stem; a colour image
    without depth (or the reverse) is left out with a warning count
    (``num_unpaired``). ``frame_id`` is ``<scene>/<stem>`` (``<stem>`` when
    data_root is the scene); ``scene_id`` is the scene folder relative to
    data_root.

    Args:
        data_root: the root folder.
        projection / intrinsics / depth_scale / depth_kind: defaults for
            frames whose JSON does not say (``intrinsics`` as a JSON-style
            dict or a 3x3 matrix). ``depth_scale=None`` (default) follows
            the file's kind: 1000 for integer depth, none for float metres;
            a stated value that contradicts a float file is an error.
        depth_encoding: ``'auto'`` (by file type) or any encoding of
            :mod:`d3l.datasets.rgbd.io` (e.g. ``'uint16'``, ``'sunrgbd'``).
        split_file: optional text file of scene or frame ids to keep.
        frame_skip: keep every n-th frame of each scene (sorted by stem).
        label_map: optional lookup table applied to ``label/`` ids.
        **kwargs: :class:`BaseRGBDDataset` arguments (``pipeline``,
            ``skip_bad_frames``, ...).
    """

    def __init__(self, data_root: str, projection: str = 'perspective',
                 intrinsics=None, depth_scale: Optional[float] = None, depth_kind: str = 'z',
                 depth_encoding: str = 'auto', split_file: Optional[str] = None,
                 frame_skip: int = 1, label_map: Optional[Sequence[int]] = None, **kwargs):
        if projection not in PROJECTIONS:
            raise ValueError(f'RGBDFolderDataset: projection must be one of {PROJECTIONS}, got '
                             f'{projection!r}')
        if depth_kind not in ('z', 'ray'):
            raise ValueError(f"RGBDFolderDataset: depth_kind must be 'z' or 'ray', got "
                             f'{depth_kind!r}')
        if frame_skip < 1:
            raise ValueError(f'RGBDFolderDataset: frame_skip must be >= 1, got {frame_skip}')
        self.default_camera = dict(projection=projection, depth_kind=depth_kind)
        if depth_scale is not None:
            self.default_camera['depth_scale'] = check_depth_scale(
                depth_scale, 'RGBDFolderDataset(depth_scale=...)')
        check_depth_encoding(depth_encoding, 'RGBDFolderDataset(depth_encoding=...)')
        if intrinsics is not None:
            if isinstance(intrinsics, dict):
                self.default_camera.update(intrinsics)
            else:
                self.default_camera['K'] = np.asarray(intrinsics, np.float64).tolist()
        self.depth_encoding = depth_encoding
        self.split_file = split_file
        self.frame_skip = int(frame_skip)
        self.label_map = None if label_map is None else list(label_map)
        self.num_unpaired = 0
        super().__init__(data_root=data_root, **kwargs)

    # ------------------------------------------------------------------ listing
    def _scene_dirs(self) -> List[str]:
        found = []
        for dirpath, dirnames, _ in os.walk(self.data_root):
            depth = osp.relpath(dirpath, self.data_root).count(os.sep) + (
                0 if dirpath == self.data_root else 1)
            if 'rgb' in dirnames and osp.isdir(osp.join(dirpath, 'depth')):
                found.append(dirpath)
            # never descend into data folders, and stop at 3 levels
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in ('rgb', 'depth', 'label', 'pose', 'camera',
                                              'intrinsics') and depth < 3)
        return sorted(found)

    @staticmethod
    def _camera_file(folder: str) -> Optional[str]:
        for name in ('camera.json', 'intrinsics.json'):
            path = osp.join(folder, name)
            if osp.isfile(path):
                return path
        return None

    @staticmethod
    def _frame_camera_dir(folder: str) -> Optional[str]:
        for name in ('camera', 'intrinsics'):
            path = osp.join(folder, name)
            if osp.isdir(path):
                return path
        return None

    def _load_camera(self, path: Optional[str]) -> dict:
        if path is None:
            return {}
        spec = read_json(path, 'camera')
        if not isinstance(spec, dict):
            raise BadFrameError(f'{path}: camera JSON must be an object')
        unknown = set(spec) - set(CAMERA_KEYS)
        if unknown:
            raise BadFrameError(f'{path}: unknown camera keys {sorted(unknown)}; expected some '
                                f'of {CAMERA_KEYS}')
        return spec

    def list_frames(self) -> List[dict]:
        keep = set(read_split_file(self.split_file)) if self.split_file else None
        root_camera = self._load_camera(self._camera_file(self.data_root))
        frames = []
        for scene_dir in self._scene_dirs():
            rel = osp.relpath(scene_dir, self.data_root)
            scene_id = osp.basename(osp.abspath(self.data_root)) if rel == '.' else rel
            scene_id = scene_id.replace(os.sep, '/')
            prefix = '' if rel == '.' else scene_id + '/'
            camera = dict(self.default_camera)
            camera.update(root_camera)
            folder_camera_file = self._camera_file(scene_dir)
            camera.update(self._load_camera(folder_camera_file))
            frame_camera_dir = self._frame_camera_dir(scene_dir)
            colors = _index_by_stem(osp.join(scene_dir, 'rgb'), COLOR_EXTENSIONS)
            depths = _index_by_stem(osp.join(scene_dir, 'depth'), DEPTH_EXTENSIONS)
            labels = _index_by_stem(osp.join(scene_dir, 'label'), LABEL_EXTENSIONS)
            stems = sorted(set(colors) & set(depths), key=_natural_key)
            self.num_unpaired += len(set(colors) ^ set(depths))
            for stem in stems[::self.frame_skip]:
                frame_id = prefix + stem
                if keep is not None and frame_id not in keep and scene_id not in keep:
                    continue
                frame_camera = (osp.join(frame_camera_dir, stem + '.json')
                                if frame_camera_dir else None)
                if frame_camera is not None and not osp.isfile(frame_camera):
                    frame_camera = None
                if (camera.get('projection') == 'perspective' and frame_camera is None
                        and 'K' not in camera and 'intrinsics' not in camera
                        and 'fx' not in camera):
                    raise BadFrameError(
                        f'{scene_dir}: perspective frames without intrinsics: add '
                        f'{osp.join(scene_dir, "camera.json")} (fx, fy, cx, cy), a per-frame '
                        'camera/<frame>.json, or pass intrinsics= to the dataset')
                pose_path = osp.join(scene_dir, 'pose', stem + '.txt')
                frames.append(dict(
                    frame_id=frame_id, scene_id=scene_id, img_path=colors[stem],
                    depth_path=depths[stem], label_path=labels.get(stem),
                    camera=camera, camera_path=frame_camera or folder_camera_file,
                    frame_camera_path=frame_camera,
                    pose_path=pose_path if osp.isfile(pose_path) else None,
                    projection=camera.get('projection', 'perspective'),
                    depth_encoding=camera.get('depth_encoding', self.depth_encoding)))
        if self.num_unpaired:
            from mmengine.logging import print_log
            print_log(f'RGBDFolderDataset: {self.num_unpaired} colour/depth files under '
                      f'{self.data_root} have no partner and were left out',
                      logger='current', level=30)
        return frames

    # ------------------------------------------------------------- per frame
    def parse_frame(self, info: dict) -> dict:
        camera = dict(info.pop('camera'))
        if info.get('frame_camera_path'):
            camera.update(self._load_camera(info['frame_camera_path']))
        source = info.get('camera_path') or info['depth_path']
        projection = camera.get('projection', 'perspective')
        if projection not in PROJECTIONS:
            raise BadFrameError(f'{source}: projection must be one of {PROJECTIONS}, got '
                                f'{projection!r}')
        info['projection'] = projection
        info['depth_encoding'] = check_depth_encoding(
            camera.get('depth_encoding', info.get('depth_encoding')), source)
        info['depth_scale'] = self._depth_scale(camera, info, source)
        info['depth_kind'] = camera.get('depth_kind', 'z')
        if info['depth_kind'] not in ('z', 'ray'):
            raise BadFrameError(f'{source}: depth_kind must be "z" or "ray", got '
                                f'{info["depth_kind"]!r}')
        if projection == 'perspective':
            info['intrinsics'] = intrinsics_from_dict(camera, source)
        if 'width' in camera or 'height' in camera:
            info['expected_shape'] = tuple(
                None if camera.get(key) is None else int(scalar_value(camera[key], key, source))
                for key in ('height', 'width'))
        cam2world = camera.get('cam2world')
        if info.get('pose_path'):
            cam2world = read_matrix(info['pose_path'], (4, 4), 'pose')
        if cam2world is not None:
            cam2world = np.asarray(cam2world, np.float64) if info.get('pose_path') else \
                float_array(cam2world, 'cam2world', source)
            if cam2world.size != 16:
                raise BadFrameError(f'{info.get("pose_path") or source}: cam2world needs 16 '
                                    f'numbers (4x4), found {cam2world.size}')
            cam2world = cam2world.reshape(4, 4)
            if not np.isfinite(cam2world).all():
                raise BadFrameError(f'{info.get("pose_path") or source}: cam2world has '
                                    'non-finite entries (invalid pose)')
            info['cam2world'] = cam2world
        if self.label_map is not None:
            info['label_map'] = self.label_map
        return info

    @staticmethod
    def _depth_scale(camera: dict, info: dict, source: str) -> Optional[float]:
        """The stated scale for integer depth (1000 unless stated); None for
        float metres, where a stated scale other than 1 is an error."""
        stated = check_depth_scale(camera.get('depth_scale'), source)
        if depth_kind_of(info['depth_path'], info['depth_encoding']) == 'integer':
            return 1000.0 if stated is None else stated
        if stated not in (None, 1.0):
            raise BadFrameError(
                f'{source}: depth_scale={stated:g} (raw units per metre, for integer depth) '
                f'contradicts {info["depth_path"]}, which holds float depth in metres; remove '
                'depth_scale, or store integer depth')
        return None
