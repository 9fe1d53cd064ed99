"""Generate (or reuse) the whole synthetic world on disk: :func:`build_world`.

Layout of ``out_dir``::

    world.json        what is being generated (seed, preset, generator version)
    manifest.json     written last: the same plus counts, class statistics, rooms
    seg2d/            2D teacher images, mmsegmentation folder format
        img_dir/{train,val}/r0000_f00.png   ann_dir/{train,val}/r0000_f00.png
    rgbd/             unlabelled pre-training RGB-D, RGBDFolderDataset layout
        perspective/room0000/{rgb,depth,label,pose}/000000.*  camera.json
        panorama/room0000/...                                camera.json (equirect)
    scannet/          3D scenes, ScanNet (Pointcept) layout, ScanNetDataset
        train/scene0000_00/{coord,color,normal,segment20,instance}.npy
        val/scene0024_00/...
        meta/scannetv2_train.txt  meta/scannetv2_val.txt

Every item depends only on (seed, pool, room index[, frame]), so a run that
was interrupted resumes where it stopped (complete items are skipped and
counted), and a finished world is reused when ``manifest.json`` matches the
requested seed and preset.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log

from d3l.utils.errors import D3LError

from . import writers as W
from .classes import CLASSES_2D, CLASSES_3D, IGNORE_INDEX, RELATION_2D_TO_3D
from .presets import WorldPreset, get_preset
from .render import (
    intrinsics,
    render_equirect,
    render_perspective,
    sample_panorama_camera,
    sample_perspective_camera,
)
from .rooms import Room, generate_room
from .scene import sample_scene
from .stages import _Stages

#: bump when a change alters generated content (invalidates caches)
GENERATOR_VERSION = 2
# room pools: disjoint streams of rooms
POOLS = dict(teacher_train=0, teacher_val=1, pretrain=2, train=3, val=4)
#: the 2D teacher photos' splits (``build_world(teacher_photos=...)``)
TEACHER_SPLITS = ('train', 'val')


class WorldMismatchError(D3LError, RuntimeError):
    """``out_dir`` holds (part of) a world of another seed / preset."""


def room_rng(seed: int, pool: str, index: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, POOLS[pool], index, *more])


def make_room(seed: int, pool: str, index: int) -> Room:
    """Room ``index`` of a pool (deterministic for the seed)."""
    return generate_room(room_rng(seed, pool, index))


def scene_ids(preset: WorldPreset):
    """(train ids, val ids) of the 3D scenes, ScanNet-style."""
    train = [f'scene{i:04d}_00' for i in range(preset.train_rooms)]
    val = [f'scene{preset.train_rooms + i:04d}_00' for i in range(preset.val_rooms)]
    return train, val


def world_paths(out_dir: str) -> Dict[str, str]:
    """Absolute paths of everything :func:`build_world` writes under ``out_dir``."""
    root = osp.abspath(out_dir)
    scannet = osp.join(root, 'scannet')
    rgbd = osp.join(root, 'rgbd')
    return dict(
        root=root, manifest=osp.join(root, 'manifest.json'),
        seg2d=osp.join(root, 'seg2d'),
        rgbd=rgbd, rgbd_perspective=osp.join(rgbd, 'perspective'),
        rgbd_panorama=osp.join(rgbd, 'panorama'),
        scannet=scannet, scannet_train_list=osp.join(scannet, 'meta', 'scannetv2_train.txt'),
        scannet_val_list=osp.join(scannet, 'meta', 'scannetv2_val.txt'))


def _config(preset: WorldPreset, seed: int) -> dict:
    # the package's name before issue 15 moved it: the world's identity (an
    # existing world stays valid), not an import path
    config = dict(generator='d3l.datasets.synthetic', version=GENERATOR_VERSION,
                  seed=int(seed), preset=preset.to_dict())
    return json.loads(json.dumps(config))  # as read back from JSON (tuples -> lists)


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def build_world(out_dir: str, preset: Union[str, WorldPreset, dict] = 'default',
                seed: int = 0, progress: bool = True,
                workers: Optional[int] = None,
                teacher_photos: Sequence[str] = TEACHER_SPLITS) -> Dict[str, str]:
    """Generate the synthetic world into ``out_dir`` (or reuse it).

    Returns :func:`world_paths` of ``out_dir`` (absolute paths of the seg2d,
    RGB-D and ScanNet-layout roots, scene lists and the manifest). A
    complete world of the same seed and preset is reused without
    regenerating; a partial one is resumed. A world of another seed or
    preset in ``out_dir`` is an error (:class:`WorldMismatchError`).
    ``workers`` processes generate items in parallel (default: up to 2, one
    per CPU core); the output does not depend on it.
    ``teacher_photos``: the splits of the 2D teacher's photos to generate;
    a shipped teacher needs only ``('val',)`` to be scored, the oracle none.
    Every item is seeded on its own, so the others do not depend on it, and
    a later call that asks for more splits adds the missing photos.
    """
    preset = get_preset(preset)
    paths = world_paths(out_dir)
    config = _config(preset, seed)
    photos = _teacher_splits(teacher_photos)
    manifest = _read_json(paths['manifest'])
    if manifest is not None and {k: manifest.get(k) for k in config} == config and \
            _complete(paths, preset, photos):
        print_log(f'[synthetic world] reusing the {preset.name} world (seed {seed}) in '
                  f'{paths["root"]}', logger='current')
        return paths
    started = _read_json(osp.join(paths['root'], 'world.json'))
    if started is not None and started != config:
        raise WorldMismatchError(
            f'{paths["root"]} holds a synthetic world of another configuration '
            f'(seed {started.get("seed")}, preset {(started.get("preset") or {}).get("name")}, '
            f'version {started.get("version")}) than requested (seed {seed}, preset '
            f'{preset.name}, version {GENERATOR_VERSION}); use another directory or delete it')
    W.save_json(osp.join(paths['root'], 'world.json'), config)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    with _Stages(progress, max(1, int(workers))) as stages:
        stages.run('2D teacher images (seg2d)', _teacher_jobs(paths, preset, seed, photos))
        stages.run('pre-training RGB-D (rgbd)', _pretrain_jobs(paths, preset, seed))
        summaries = stages.run('3D scenes (scannet)', _scene_jobs(paths, preset, seed))
    train, val = scene_ids(preset)
    W.write_scene_list(paths['scannet_train_list'], train)
    W.write_scene_list(paths['scannet_val_list'], val)
    manifest = dict(config)
    manifest.update(_statistics(paths, preset, seed, stages, photos, summaries))
    manifest['seconds'] = stages.seconds
    W.save_json(paths['manifest'], manifest)
    return paths


def _teacher_splits(teacher_photos: Sequence[str]) -> Tuple[str, ...]:
    unknown = sorted(set(teacher_photos) - set(TEACHER_SPLITS))
    if unknown:
        raise ValueError(f'teacher_photos: unknown split(s) {unknown}; known: '
                         f'{list(TEACHER_SPLITS)}')
    return tuple(s for s in TEACHER_SPLITS if s in teacher_photos)


def _teacher_rooms(preset: WorldPreset, photos: Sequence[str]) -> List[Tuple[str, int]]:
    rooms = dict(train=preset.teacher_train_rooms, val=preset.teacher_val_rooms)
    return [(split, rooms[split]) for split in photos]


def _complete(paths: Dict[str, str], preset: WorldPreset, photos: Sequence[str]) -> bool:
    train, val = scene_ids(preset)
    if not all(W.scene_complete(paths['scannet'], 'train', s) for s in train) or \
            not all(W.scene_complete(paths['scannet'], 'val', s) for s in val):
        return False
    if not (osp.isfile(paths['scannet_train_list']) and osp.isfile(paths['scannet_val_list'])):
        return False
    for i in range(preset.pretrain_rooms):
        room_id = f'room{i:04d}'
        if preset.pretrain_frames_per_room and not W.rgbd_room_complete(
                paths['rgbd_perspective'], room_id, preset.pretrain_frames_per_room):
            return False
        if preset.pretrain_panoramas_per_room and not W.rgbd_room_complete(
                paths['rgbd_panorama'], room_id, preset.pretrain_panoramas_per_room):
            return False
    for split, rooms in _teacher_rooms(preset, photos):
        for i in range(rooms):
            for f in range(preset.teacher_frames_per_room):
                if not W.seg2d_image_complete(paths['seg2d'], split, f'r{i:04d}_f{f:02d}'):
                    return False
    return True


def _teacher_names(preset: WorldPreset, index: int) -> List[str]:
    return [f'r{index:04d}_f{f:02d}' for f in range(preset.teacher_frames_per_room)]


def _teacher_jobs(paths, preset: WorldPreset, seed: int, photos: Sequence[str]):
    jobs = []
    for split, rooms in _teacher_rooms(preset, photos):
        for i in range(rooms):
            done = all(W.seg2d_image_complete(paths['seg2d'], split, n)
                       for n in _teacher_names(preset, i))
            jobs.append((_teacher_room, (paths, preset, seed, split, i), done))
    return jobs


def _teacher_room(paths, preset: WorldPreset, seed: int, split: str, i: int):
    width, height = preset.image_size
    pool = f'teacher_{split}'
    room = make_room(seed, pool, i)
    for f, name in enumerate(_teacher_names(preset, i)):
        rng = room_rng(seed, pool, i, f)
        # photos: varied lenses and tilts (the pre-training sensor is fixed)
        K, cam2world = sample_perspective_camera(
            room, rng, width, height, hfov_range=(55.0, 75.0), pitch_range=(-40.0, 10.0),
            roll_std=3.0, height_range=(1.0, 1.8))
        frame = render_perspective(room, K, cam2world, width, height, preset.color_noise, rng)
        W.write_seg2d_image(paths['seg2d'], split, name, frame['img'], frame['label2d'])


def _pretrain_jobs(paths, preset: WorldPreset, seed: int):
    jobs = []
    for i in range(preset.pretrain_rooms):
        room_id = f'room{i:04d}'
        persp_done = not preset.pretrain_frames_per_room or W.rgbd_room_complete(
            paths['rgbd_perspective'], room_id, preset.pretrain_frames_per_room)
        pano_done = not preset.pretrain_panoramas_per_room or W.rgbd_room_complete(
            paths['rgbd_panorama'], room_id, preset.pretrain_panoramas_per_room)
        jobs.append((_pretrain_room, (paths, preset, seed, i, persp_done, pano_done),
                     persp_done and pano_done))
    return jobs


def _pretrain_room(paths, preset: WorldPreset, seed: int, i: int, persp_done: bool,
                   pano_done: bool):
    width, height = preset.image_size
    pano_w, pano_h = preset.panorama_size
    K = intrinsics(width, height, preset.sensor_hfov)
    room_id = f'room{i:04d}'
    room = make_room(seed, 'pretrain', i)
    if not persp_done:
        frames = []
        for f in range(preset.pretrain_frames_per_room):
            rng = room_rng(seed, 'pretrain', i, f)
            _, cam2world = sample_perspective_camera(
                room, rng, width, height, hfov_range=(preset.sensor_hfov,) * 2,
                pitch_range=(-30.0, -5.0), roll_std=2.0, height_range=(1.2, 1.6))
            frames.append(render_perspective(room, K, cam2world, width, height,
                                             preset.color_noise, rng))
        W.write_rgbd_room(paths['rgbd_perspective'], room_id, frames, 'perspective', K)
    if not pano_done:
        frames = []
        for f in range(preset.pretrain_panoramas_per_room):
            rng = room_rng(seed, 'pretrain', i, 1000 + f)
            frames.append(render_equirect(room, sample_panorama_camera(room, rng), pano_w,
                                          pano_h, preset.color_noise, rng))
        W.write_rgbd_room(paths['rgbd_panorama'], room_id, frames, 'equirect')


def _scene_jobs(paths, preset: WorldPreset, seed: int):
    train, val = scene_ids(preset)
    jobs = []
    for split, ids in (('train', train), ('val', val)):
        for i, scene_id in enumerate(ids):
            done = W.scene_complete(paths['scannet'], split, scene_id)
            jobs.append((_scene, (paths, preset, seed, split, i, scene_id), done))
    return jobs


def _scene(paths, preset: WorldPreset, seed: int, split: str, i: int, scene_id: str) -> dict:
    """Writes one scene; returns its room's summary (for the manifest, so
    that the room is not generated a second time there)."""
    room = make_room(seed, split, i)
    scene = sample_scene(room, room_rng(seed, split, i, 0), preset.point_density,
                         preset.max_points, color_noise=preset.color_noise)
    W.write_scene(paths['scannet'], split, scene_id, scene)
    return room.summary()


def _statistics(paths, preset: WorldPreset, seed: int, stages: _Stages,
                photos: Sequence[str], summaries: Sequence[Optional[dict]]) -> dict:
    """Counts and class frequencies, read back from the files (so a resumed
    or cached world reports the same numbers); ``summaries``: the rooms'
    summaries in :func:`_scene_jobs`' order, None where the scene was
    already on disk (its room is generated again here)."""
    from PIL import Image
    train, val = scene_ids(preset)
    with stages.stage('statistics', 1) as step:
        hist3d = np.zeros(len(CLASSES_3D) + 1, np.int64)  # last bin: unlabelled
        points = 0
        for split, ids in (('train', train), ('val', val)):
            for scene_id in ids:
                seg = np.load(osp.join(paths['scannet'], split, scene_id, 'segment20.npy'))
                points += len(seg)
                hist3d += np.bincount(np.where(seg < 0, len(CLASSES_3D), seg),
                                      minlength=len(CLASSES_3D) + 1)
        hist2d = np.zeros(256, np.int64)
        images = 0
        for split in photos:
            folder = osp.join(paths['seg2d'], 'ann_dir', split)
            for name in sorted(W.list_pngs(folder)):
                hist2d += np.bincount(np.asarray(Image.open(osp.join(folder, name))).ravel(),
                                      minlength=256)
                images += 1
        step()
    rooms = {}
    pools = [(pool, i, scene_id) for pool, ids in (('train', train), ('val', val))
             for i, scene_id in enumerate(ids)]
    for (pool, i, scene_id), summary in zip(pools, summaries):
        rooms[scene_id] = summary if summary is not None else make_room(seed, pool, i).summary()
    return dict(
        classes_3d=list(CLASSES_3D), classes_2d=list(CLASSES_2D),
        relation_2d_to_3d={k: list(v) for k, v in RELATION_2D_TO_3D.items()},
        teacher_photos=list(photos),
        counts=dict(teacher_images=images, scenes_train=len(train), scenes_val=len(val),
                    points=int(points),
                    rgbd_perspective_frames=preset.pretrain_rooms *
                    preset.pretrain_frames_per_room,
                    rgbd_panoramas=preset.pretrain_rooms * preset.pretrain_panoramas_per_room),
        class_frequency_3d={name: round(float(c) / max(1, hist3d.sum()), 5)
                            for name, c in zip(CLASSES_3D + ('unlabelled',), hist3d)},
        class_frequency_2d={name: round(float(hist2d[k]) / max(1, hist2d.sum()), 5)
                            for k, name in enumerate(CLASSES_2D)},
        unlabelled_pixels_2d=round(float(hist2d[IGNORE_INDEX]) / max(1, hist2d.sum()), 5),
        scenes=rooms)
