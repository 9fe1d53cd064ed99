"""Posed RGB-D frames of the 3D scenes' own rooms (fusion, ``docs/fusion.md``).

ScanNet ships each reconstruction with the RGB-D video it was fused from;
this gives the synthetic world's ``train`` / ``val`` scenes the same: frames
of room ``i`` of a pool, rendered as a scanning sensor would see them (the
pre-training sensor: one fixed camera, ``preset.sensor_hfov``, tilted down,
at standing height), written in :class:`~d3l.datasets.RGBDFolderDataset`'s
layout under the scene's id, so their ``scene_id`` matches the scene's::

    out_root/scene0000_00/{rgb,depth,label,pose}/000000.*  camera.json

``label/`` holds the frames' ground-truth 2D classes (the oracle teacher's
input; a real teacher reads ``rgb/``). Each room is written atomically and
depends only on (seed, pool, room, frame): an interrupted run resumes, and a
complete room is skipped.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from . import writers as W
from .build import make_room, room_rng, scene_ids
from .presets import WorldPreset, get_preset
from .render import intrinsics, render_perspective, sample_perspective_camera
from .rooms import Room

#: frame numbers of the scene frames start here in each room's random stream
#: (the 3D scene itself uses stream 0 of the same room)
FRAME_STREAM = 5000


def render_room_frames(room: Room, rng_of, num_frames: int, preset: WorldPreset
                       ) -> List[Dict[str, np.ndarray]]:
    """``num_frames`` renders of ``room``; ``rng_of(f)`` gives frame ``f``'s
    generator."""
    width, height = preset.image_size
    K = intrinsics(width, height, preset.sensor_hfov)
    frames = []
    for f in range(num_frames):
        rng = rng_of(f)
        _, cam2world = sample_perspective_camera(
            room, rng, width, height, hfov_range=(preset.sensor_hfov,) * 2,
            pitch_range=(-30.0, -5.0), roll_std=2.0, height_range=(1.2, 1.6))
        frames.append(render_perspective(room, K, cam2world, width, height,
                                         preset.color_noise, rng))
    return frames


def write_scene_frames(out_root: str, preset: Union[str, WorldPreset, dict] = 'default',
                       seed: int = 0, frames_per_room: int = 20, split: str = 'train',
                       rooms: Optional[Sequence[int]] = None, progress: bool = False
                       ) -> Dict[str, int]:
    """Render ``frames_per_room`` frames of each scene of ``split`` (or of
    the rooms ``rooms``) into ``out_root``; returns ``{'written', 'skipped'}``."""
    preset = get_preset(preset)
    if frames_per_room < 1:
        raise ValueError(f'write_scene_frames: frames_per_room must be >= 1, got '
                         f'{frames_per_room}')
    train, val = scene_ids(preset)
    ids = train if split == 'train' else val
    indices = range(len(ids)) if rooms is None else rooms
    width, height = preset.image_size
    K = intrinsics(width, height, preset.sensor_hfov)
    counts = dict(written=0, skipped=0)
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(indices))
    for i in indices:
        scene_id = ids[i]
        if W.rgbd_room_complete(out_root, scene_id, frames_per_room):
            counts['skipped'] += 1
        else:
            room = make_room(seed, split, i)
            frames = render_room_frames(
                room, lambda f, i=i: room_rng(seed, split, i, FRAME_STREAM + f),
                frames_per_room, preset)
            W.write_rgbd_room(out_root, scene_id, frames, 'perspective', K)
            counts['written'] += 1
        if bar is not None:
            bar.update()
    return counts
