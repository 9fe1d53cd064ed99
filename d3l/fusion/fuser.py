"""The fusion component: soft labels of posed frames -> a scene's vertices."""
from __future__ import annotations

import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dataset import BaseDataset

from d3l.engine.stage_utils import build_dataset, plain
from d3l.registry import TASK_UTILS
from d3l.soft_labels import (
    LabelStoreError,
    SoftLabelCodec,
    SoftLabelStore,
    check_dataset_source,
    describe_source,
    file_stats,
)

from .accumulate import ViewAccumulator
from .projection import ABS_TOLERANCE, REL_TOLERANCE, FusionError, check_camera, visible_vertices

# a frame with these errors is counted and left out; the scene is fused without it
try:
    from d3l.datasets.rgbd.io import BadFrameError
except ImportError:  # pragma: no cover
    BadFrameError = ValueError
FRAME_ERRORS = (BadFrameError, FusionError, LabelStoreError, OSError, ValueError, EOFError)


class _SceneFiles:
    """``file_stats`` view of a scene dataset: each scene's ``coord.npy``."""

    def __init__(self, paths: List[str]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def get_raw_info(self, index: int) -> dict:
        return {'coord_path': self.paths[index]}


@TASK_UTILS.register_module()
class SoftLabelFuser:
    """Fuse the stored soft labels of a scene's posed RGB-D frames onto its
    reconstructed vertices (see ``docs/fusion.md``).

    For each frame of the scene: project the vertices with the frame's K and
    pose, keep those that pass the depth test against the frame's depth
    (:func:`~d3l.fusion.visible_vertices`; ``abs_tolerance`` +
    ``rel_tolerance`` x depth), read the teacher's distribution at their
    pixels from the frame label store, and add it to the vertex. A vertex's
    fused label is the mean over the frames that saw it (every view weighs
    the same); a vertex no frame saw is unlabelled.

    Args:
        scenes: dataset config of the reconstructions (``ScanNetDataset``:
            samples with ``points`` and ``scene_id``); its pipeline is not run.
        frames: dataset config of the posed RGB-D frames
            (``ScanNetFramesDataset``, ``RGBDFolderDataset``: frames with
            ``depth``, ``intrinsics``, ``cam2world``, ``scene_id``) -- the one
            the frame labels were generated from, in the scenes' coordinates
            (ScanNet: ``axis_align=True``, Pointcept's scenes are aligned).
        frame_label_dir: the frames' soft labels
            (``tools/generate_pseudo_labels.py``); the teacher is not run.
        codec: ``SoftLabelCodec`` of the fused labels (default: the frame
            store's).
        abs_tolerance / rel_tolerance: the depth test, metres and fraction
            of the measured depth.
        max_depth: ignore depth readings beyond it (metres; None keeps all).
        check_source: check that ``frames`` is the dataset the frame labels
            were made from (type, file sizes), as pre-training does.
    """

    def __init__(self, scenes: dict, frames: dict, frame_label_dir: str,
                 codec: Optional[dict] = None, abs_tolerance: float = ABS_TOLERANCE,
                 rel_tolerance: float = REL_TOLERANCE, max_depth: Optional[float] = None,
                 check_source: bool = True):
        if abs_tolerance < 0 or rel_tolerance < 0:
            raise FusionError(f'SoftLabelFuser: tolerances must be >= 0, got {abs_tolerance}, '
                              f'{rel_tolerance}')
        self.scenes_cfg = dict(scenes)
        self.scenes_cfg['pipeline'] = []
        self.frames_cfg = dict(frames)
        self.frames_cfg.setdefault('pipeline', [dict(type='LoadRGBD', with_labels=False)])
        self.frame_label_dir = frame_label_dir
        self.abs_tolerance = float(abs_tolerance)
        self.rel_tolerance = float(rel_tolerance)
        self.max_depth = max_depth
        self.frame_store = SoftLabelStore(frame_label_dir)
        self.num_classes = self.frame_store.num_classes
        self.class_names = self.frame_store.class_names
        codec_cfg = dict(codec or self.frame_store.manifest['codec'])
        codec_cfg.pop('type', None)
        self.codec = SoftLabelCodec(**codec_cfg)
        self.scenes = build_dataset(self.scenes_cfg, 'scenes', FusionError)
        self.frames = build_dataset(self.frames_cfg, 'frames', FusionError)
        self.scene_ids = [str(s) for s in self._scene_ids()]
        self.frames_of = self._group_frames()
        self.check_source = check_source
        if check_source:
            listed = [(i, f) for i, f in self._frame_list() if f in self.frame_store]
            self.source_notes = check_dataset_source(
                self.frame_store.manifest, frame_label_dir, self.frames,
                type(self.frames).__name__, listed)
        else:
            self.source_notes = []

    # ---------------------------------------------------------------- listing
    def _scene_ids(self) -> List[str]:
        if hasattr(self.scenes, 'scene_ids'):
            return list(self.scenes.scene_ids)
        return [BaseDataset.get_data_info(self.scenes, i)['scene_id']
                for i in range(len(self.scenes))]

    def _frame_infos(self) -> List[dict]:
        """Listed frame infos (no image is read)."""
        if hasattr(self.frames, 'get_raw_info'):
            return [self.frames.get_raw_info(i) for i in range(len(self.frames))]
        return [self.frames.get_data_info(i) for i in range(len(self.frames))]

    def _frame_list(self) -> List[Tuple[int, str]]:
        return [(i, str(info['frame_id'])) for i, info in enumerate(self._frame_infos())]

    def _group_frames(self) -> Dict[str, List[Tuple[int, str]]]:
        grouped: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
        for i, info in enumerate(self._frame_infos()):
            grouped[str(info.get('scene_id'))].append((i, str(info['frame_id'])))
        return dict(grouped)

    def scene_paths(self) -> List[str]:
        """Each scene's ``coord.npy`` (for the source fingerprint)."""
        paths = []
        for i in range(len(self.scenes)):
            info = BaseDataset.get_data_info(self.scenes, i)
            paths.append(osp.join(info.get('data_path', ''), 'coord.npy'))
        return paths

    # --------------------------------------------------------------- identity
    def identity(self) -> dict:
        """What the fused labels depend on besides the scenes: the frame
        labels (their teacher, codec, shards' sha256), the frames' source
        and the depth test. ``--resume`` requires it unchanged."""
        manifest = self.frame_store.manifest
        return dict(
            type='SoftLabelFuser',
            frame_labels=dict(label_dir=osp.realpath(self.frame_label_dir),
                              teacher=manifest.get('teacher'), codec=manifest.get('codec'),
                              stride=manifest.get('stride'),
                              shards={k: v.get('sha256') for k, v in
                                      sorted((manifest.get('shards') or {}).items())}),
            frames=describe_source(self.frames, plain(self.frames_cfg)),
            abs_tolerance=self.abs_tolerance, rel_tolerance=self.rel_tolerance,
            max_depth=self.max_depth, weighting='mean over views')

    def source(self) -> dict:
        return describe_source(self.scenes, plain(self.scenes_cfg))

    def source_files(self) -> List[str]:
        return file_stats(_SceneFiles(self.scene_paths()))

    # ----------------------------------------------------------------- fusing
    def load_vertices(self, index: int) -> np.ndarray:
        sample = self.scenes.get_data_info(index)
        points = np.asarray(sample['points'], np.float32)
        if points.ndim != 2 or points.shape[1] != 3:
            raise FusionError(f'scene {self.scene_ids[index]}: vertices must be (N, 3), got '
                              f'{points.shape}')
        return points

    def fuse_frame(self, accumulator: ViewAccumulator, points: np.ndarray, index: int,
                   frame_id: str) -> int:
        """Add one frame's labels; returns the vertices it labelled."""
        sample = self.frames.prepare_data(index)
        where = f'frame {frame_id!r}'
        if sample.get('projection', 'perspective') != 'perspective':
            raise FusionError(f'{where}: only perspective frames are fused (got '
                              f'{sample.get("projection")!r})')
        K, cam2world = check_camera(sample.get('intrinsics'), sample.get('cam2world'), where)
        depth = np.asarray(sample['depth'], np.float32)
        if self.max_depth is not None:
            depth = np.where(depth <= self.max_depth, depth, np.float32(0))
        record = self.frame_store.get(frame_id)
        vertex, pixel = visible_vertices(points, depth, K, cam2world, self.abs_tolerance,
                                         self.rel_tolerance)
        probs = record.decode(pixel, depth.shape)
        return accumulator.add(vertex, probs)

    def fuse_scene(self, index: int) -> Tuple[Dict[str, np.ndarray], np.ndarray, dict]:
        """Fuse scene ``index``: (encoded labels, (N,) views, counts with
        ``frames``, ``used``, ``no_labels``, ``failed`` [(frame, reason)])."""
        scene_id = self.scene_ids[index]
        points = self.load_vertices(index)
        accumulator = ViewAccumulator(len(points), self.num_classes)
        stats = dict(frames=0, used=0, no_labels=0, failed=[])
        for frame_index, frame_id in self.frames_of.get(scene_id, []):
            stats['frames'] += 1
            if frame_id not in self.frame_store:
                stats['no_labels'] += 1
                continue
            try:
                self.fuse_frame(accumulator, points, frame_index, frame_id)
            except FRAME_ERRORS as err:
                stats['failed'].append((frame_id, f'{type(err).__name__}: {err}'))
                continue
            stats['used'] += 1
        fused, views = accumulator.result()
        encoded = self.codec.encode(torch.from_numpy(fused), name=f'scene {scene_id!r}')
        return {k: v.numpy() for k, v in encoded.items()}, views, stats
