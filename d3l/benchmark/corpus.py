"""A large labelled 2D corpus for the shipped 2D teacher (``d3l/model_zoo``).

The paper's teacher is an off-the-shelf DPT trained once on ADE20K (20k
photos), never on the 3D task's data. Its stand-in here is trained once on
photos of the synthetic generator's rooms from world seeds that no demo or
evaluation uses (>= 1000; the demo and its development use 0-9), rendered by
the same code as :func:`d3l.benchmark.world.build_world` (same rooms,
appearance and cameras), in mmsegmentation's folder format::

    out_dir/corpus.json                  the spec (written first; a folder of
                                         another spec is refused)
    out_dir/manifest.json                written last: counts, class frequency
    out_dir/img_dir/{split}/s1000_r00_p00.png   photo 0 of room 0 of seed 1000
    out_dir/img_dir/{split}/s1000_r00_c00.png   crop 0 of that room's panorama
    out_dir/ann_dir/{split}/...                 the same names, class ids, 255 ignore

Besides photos, each room contributes perspective crops of an
equirectangular panorama, resampled the way :class:`d3l.teachers.PanoramaCrops`
feeds panoramas to a teacher (the demo labels its panoramas through crops).
Every room depends only on (seed, pool, room index), so generation is
deterministic whatever the number of workers, and an interrupted run resumes
(complete rooms are skipped and counted).
"""
from __future__ import annotations

import dataclasses
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from d3l.utils.errors import D3LError

from .world import writers as W
from .world.build import GENERATOR_VERSION, _read_json, _Stages, make_room, room_rng
from .world.classes import CLASSES_2D, IGNORE_INDEX
from .world.render import (
    render_equirect,
    render_perspective,
    sample_panorama_camera,
    sample_perspective_camera,
)

CORPUS_VERSION = 1
#: demo / evaluation worlds use seeds below this; the corpus only seeds at or above it
FIRST_CORPUS_SEED = 1000


class CorpusMismatchError(D3LError, RuntimeError):
    """``out_dir`` holds (part of) a corpus of another spec."""


@dataclass(frozen=True)
class CorpusSplit:
    """One split: ``num_seeds`` worlds from ``first_seed``, ``rooms_per_seed``
    rooms each (of the world's ``pool``), with photos and panorama crops."""
    name: str
    first_seed: int
    num_seeds: int
    rooms_per_seed: int
    photos_per_room: int
    crops_per_room: int = 0
    pool: str = 'teacher_train'

    @property
    def seeds(self) -> range:
        return range(self.first_seed, self.first_seed + self.num_seeds)

    @property
    def num_images(self) -> int:
        return self.num_seeds * self.rooms_per_seed * (self.photos_per_room + self.crops_per_room)


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    splits: Tuple[CorpusSplit, ...]
    image_size: Tuple[int, int] = (128, 96)       # photos (width, height), as the world's
    panorama_size: Tuple[int, int] = (256, 128)   # panoramas cropped, as the world's
    color_noise: float = 0.02
    # photos: the world's teacher photos, with lenses up to the crops' 90 degrees
    hfov_range: Tuple[float, float] = (55.0, 90.0)
    pitch_range: Tuple[float, float] = (-40.0, 10.0)
    # crops: PanoramaCrops' default rings (-60, 0, 60) with jitter
    crop_fov_range: Tuple[float, float] = (75.0, 100.0)
    crop_pitches: Tuple[float, ...] = (-60.0, 0.0, 60.0)
    crop_pitch_std: float = 10.0

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


CORPORA: Dict[str, CorpusSpec] = {
    # 4000 photos + 800 panorama crops of 400 rooms from 40 worlds for training (a fifth
    # of ADE20K's 20k: what the shared 2-core machine rendered in the time it had); 300
    # photos of 5 other worlds (seeds 5000-5004) held out for scoring
    'default': CorpusSpec(name='default', splits=(
        CorpusSplit('train', first_seed=1000, num_seeds=40, rooms_per_seed=10,
                    photos_per_room=10, crops_per_room=2),
        CorpusSplit('val', first_seed=5000, num_seeds=5, rooms_per_seed=6,
                    photos_per_room=10, crops_per_room=0, pool='teacher_val'))),
    # ADE20K's order (10k photos + 2k crops), for a machine with more time
    'large': CorpusSpec(name='large', splits=(
        CorpusSplit('train', first_seed=1000, num_seeds=100, rooms_per_seed=10,
                    photos_per_room=10, crops_per_room=2),
        CorpusSplit('val', first_seed=5000, num_seeds=5, rooms_per_seed=6,
                    photos_per_room=10, crops_per_room=0, pool='teacher_val'))),
    # tests
    'tiny': CorpusSpec(name='tiny', image_size=(64, 48), panorama_size=(128, 64), splits=(
        CorpusSplit('train', first_seed=1000, num_seeds=2, rooms_per_seed=2,
                    photos_per_room=2, crops_per_room=1),
        CorpusSplit('val', first_seed=5000, num_seeds=1, rooms_per_seed=1,
                    photos_per_room=2, pool='teacher_val'))),
}


def get_corpus(spec) -> CorpusSpec:
    if isinstance(spec, CorpusSpec):
        return spec
    if spec not in CORPORA:
        raise KeyError(f'unknown teacher corpus {spec!r}; choose from {sorted(CORPORA)}')
    return CORPORA[spec]


def image_names(split: CorpusSplit, seed: int, room: int) -> Tuple[List[str], List[str]]:
    """(photo names, crop names) of one room."""
    stem = f's{seed:04d}_r{room:02d}'
    return ([f'{stem}_p{k:02d}' for k in range(split.photos_per_room)],
            [f'{stem}_c{k:02d}' for k in range(split.crops_per_room)])


def _check_seeds(spec: CorpusSpec):
    for split in spec.splits:
        if split.first_seed < FIRST_CORPUS_SEED:
            raise ValueError(f'teacher corpus {spec.name}: split {split.name} starts at world '
                             f'seed {split.first_seed}; corpus seeds must be >= '
                             f'{FIRST_CORPUS_SEED} (lower seeds are the demo\'s)')
    ranges = sorted((s.first_seed, s.first_seed + s.num_seeds, s.name) for s in spec.splits)
    for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
        if start < end:
            raise ValueError(f'teacher corpus {spec.name}: splits {a} and {b} share world seeds')


def crop_panorama(img: np.ndarray, label: np.ndarray, fov: float, yaw: float,
                  pitch: float) -> Tuple[np.ndarray, np.ndarray]:
    """A perspective crop of an equirectangular (H, W, 3) image and (H, W)
    label map, at the panorama's angular resolution, as
    :class:`d3l.teachers.PanoramaCrops` samples it (bilinear image, nearest
    labels)."""
    import torch

    from d3l.teachers.panorama import PanoramaCrops, crop_rays, sample_equirect
    size = PanoramaCrops(fov=fov).size_for(img.shape[:2])
    rays = crop_rays((fov, fov), yaw, pitch, size)
    pano = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).double()[None]
    crop = sample_equirect(pano, rays)[0].round().clamp(0, 255).byte().numpy()
    labels = torch.from_numpy(label.astype(np.float64))[None, None]
    crop_label = sample_equirect(labels, rays, mode='nearest')[0, 0].round().byte().numpy()
    return crop.transpose(1, 2, 0), crop_label


def _room_job(root: str, spec: CorpusSpec, split: CorpusSplit, seed: int, index: int):
    width, height = spec.image_size
    room = make_room(seed, split.pool, index)
    photos, crops = image_names(split, seed, index)
    for f, name in enumerate(photos):
        rng = room_rng(seed, split.pool, index, f)
        K, cam2world = sample_perspective_camera(
            room, rng, width, height, hfov_range=spec.hfov_range, pitch_range=spec.pitch_range,
            roll_std=3.0, height_range=(1.0, 1.8))
        frame = render_perspective(room, K, cam2world, width, height, spec.color_noise, rng)
        W.write_seg2d_image(root, split.name, name, frame['img'], frame['label2d'])
    if not crops:
        return
    rng = room_rng(seed, split.pool, index, 1000)
    pano_w, pano_h = spec.panorama_size
    pano = render_equirect(room, sample_panorama_camera(room, rng), pano_w, pano_h,
                           spec.color_noise, rng)
    for name in crops:
        pitch = float(rng.choice(spec.crop_pitches)) + rng.normal(0, spec.crop_pitch_std)
        img, label = crop_panorama(pano['img'], pano['label2d'], rng.uniform(*spec.crop_fov_range),
                                   rng.uniform(0, 360), float(np.clip(pitch, -89, 89)))
        W.write_seg2d_image(root, split.name, name, img, label)


def _room_done(root: str, split: CorpusSplit, seed: int, index: int) -> bool:
    photos, crops = image_names(split, seed, index)
    return all(W.seg2d_image_complete(root, split.name, n) for n in photos + crops)


def build_teacher_corpus(out_dir: str, spec='default', progress: bool = True,
                         workers: int = 1) -> Dict[str, object]:
    """Generate (or resume, or reuse) the corpus; returns its manifest."""
    spec = get_corpus(spec)
    _check_seeds(spec)
    root = osp.abspath(out_dir)
    # the module's name before issue 15 moved it: the corpus's identity (an
    # existing corpus stays valid), not an import path
    config = dict(generator='d3l.datasets.synthetic.teacher_corpus', version=CORPUS_VERSION,
                  generator_version=GENERATOR_VERSION, spec=spec.to_dict())
    manifest = _read_json(osp.join(root, 'manifest.json'))
    if manifest is not None and {k: manifest.get(k) for k in config} == config and \
            all(_room_done(root, s, seed, i) for s in spec.splits for seed in s.seeds
                for i in range(s.rooms_per_seed)):
        return manifest
    started = _read_json(osp.join(root, 'corpus.json'))
    if started is not None and started != config:
        old_spec, new_spec = started.get('spec') or {}, config['spec']
        differs = sorted(k for k in set(old_spec) | set(new_spec)
                         if old_spec.get(k) != new_spec.get(k))
        raise CorpusMismatchError(
            f'{root} holds a teacher corpus of another spec '
            f'({old_spec.get("name")}, version {started.get("version")}; differs in '
            f'{differs or ["version"]}) than requested ({spec.name}, version '
            f'{CORPUS_VERSION}); use another directory or delete it')
    W.save_json(osp.join(root, 'corpus.json'), config)
    stages = _Stages(progress, max(1, int(workers)))
    for split in spec.splits:
        jobs = [(_room_job, (root, spec, split, seed, i), _room_done(root, split, seed, i))
                for seed in split.seeds for i in range(split.rooms_per_seed)]
        stages.run(f'teacher corpus {split.name} ({split.num_images} images)', jobs)
    manifest = dict(config)
    manifest.update(_statistics(root, spec), seconds=stages.seconds)
    W.save_json(osp.join(root, 'manifest.json'), manifest)
    return manifest


def _statistics(root: str, spec: CorpusSpec) -> dict:
    from PIL import Image
    counts, frequency = {}, {}
    for split in spec.splits:
        folder = osp.join(root, 'ann_dir', split.name)
        hist = np.zeros(256, np.int64)
        names = sorted(W.list_pngs(folder))
        for name in names:
            hist += np.bincount(np.asarray(Image.open(osp.join(folder, name))).ravel(),
                                minlength=256)
        counts[split.name] = len(names)
        total = max(1, int(hist.sum()))
        frequency[split.name] = {c: round(float(hist[k]) / total, 5)
                                 for k, c in enumerate(CLASSES_2D)}
        frequency[split.name]['ignore'] = round(float(hist[IGNORE_INDEX]) / total, 5)
    return dict(counts=counts, class_frequency_2d=frequency,
                world_seeds={s.name: [s.first_seed, s.first_seed + s.num_seeds - 1]
                             for s in spec.splits})


def corpus_seed_ranges(spec='default') -> Dict[str, Tuple[int, int]]:
    """{split: (first, last)} world seeds of a corpus (for checks and docs)."""
    return {s.name: (s.first_seed, s.first_seed + s.num_seeds - 1)
            for s in get_corpus(spec).splits}


def held_out_photos(seed: int, count: int, spec='default',
                    pool: str = 'teacher_val') -> List[Tuple[np.ndarray, np.ndarray]]:
    """``count`` (img, label) photos of world ``seed``, rendered in memory
    like the corpus' photos (for tests and scoring)."""
    spec = get_corpus(spec)
    split = CorpusSplit('mem', first_seed=seed, num_seeds=1, rooms_per_seed=1,
                        photos_per_room=1, pool=pool)
    width, height = spec.image_size
    out, rooms = [], {}
    frames_per_room = 5
    for k in range(count):
        index, f = divmod(k, frames_per_room)
        room = rooms.get(index) or rooms.setdefault(index, make_room(seed, split.pool, index))
        rng = room_rng(seed, split.pool, index, f)
        K, cam2world = sample_perspective_camera(
            room, rng, width, height, hfov_range=spec.hfov_range, pitch_range=spec.pitch_range,
            roll_std=3.0, height_range=(1.0, 1.8))
        frame = render_perspective(room, K, cam2world, width, height, spec.color_noise, rng)
        out.append((frame['img'], frame['label2d']))
    return out
