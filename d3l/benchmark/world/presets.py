"""Sizes of the synthetic world: ``tiny`` (tests), ``default`` (the demo).

Four disjoint pools of rooms, as in the paper's setting where the 2D
teacher (ADE20K), the RGB-D pre-training data and the 3D task (ScanNet)
are different data:

* ``teacher``: labelled perspective images for training (and validating)
  the 2D teacher, in mmsegmentation's folder format;
* ``pretrain``: unlabelled RGB-D (perspective frames and panoramas) that the
  teacher pseudo-labels for 3D pre-training;
* ``train`` / ``val``: 3D scenes in ScanNet's layout for fine-tuning and
  evaluation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Tuple, Union


@dataclass(frozen=True)
class WorldPreset:
    """How much of the world to generate (sizes in pixels, metres, counts)."""
    name: str
    # 2D teacher images (mmseg format)
    teacher_train_rooms: int
    teacher_val_rooms: int
    teacher_frames_per_room: int
    # unlabelled RGB-D for pre-training (RGBDFolderDataset layout)
    pretrain_rooms: int
    pretrain_frames_per_room: int
    pretrain_panoramas_per_room: int
    # 3D scenes (ScanNet / Pointcept layout)
    train_rooms: int
    val_rooms: int
    point_density: float              # surface samples per square metre
    max_points: int                   # per scene, after hidden-surface removal
    # image sizes (width, height)
    image_size: Tuple[int, int] = (128, 96)
    panorama_size: Tuple[int, int] = (256, 128)
    # the pre-training camera: one fixed sensor (the teacher's photos vary)
    sensor_hfov: float = 64.0
    color_noise: float = 0.02
    # 2D teacher schedule (iterations of configs/demo's teacher config)
    teacher_iters: int = 1200
    teacher_batch_size: int = 8

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: Dict[str, WorldPreset] = {
    'tiny': WorldPreset(
        name='tiny', teacher_train_rooms=6, teacher_val_rooms=2, teacher_frames_per_room=4,
        pretrain_rooms=3, pretrain_frames_per_room=2, pretrain_panoramas_per_room=1,
        train_rooms=4, val_rooms=2, point_density=60.0, max_points=4000,
        image_size=(64, 48), panorama_size=(128, 64), teacher_iters=30, teacher_batch_size=4),
    # 200 training rooms: every class gets >= ~15 of the 4000 labelled points of LA 20 in
    # expectation (sink, counter and toilet are the rarest, ~0.4 % of a room's points);
    # 150 validation rooms: the rarest room-level class (shower curtain, ~7 % of rooms)
    # occurs in ~10 of them. Fine-tuning counts iterations, so rooms cost generation only.
    'default': WorldPreset(
        name='default', teacher_train_rooms=100, teacher_val_rooms=16, teacher_frames_per_room=10,
        pretrain_rooms=40, pretrain_frames_per_room=6, pretrain_panoramas_per_room=1,
        train_rooms=200, val_rooms=150, point_density=200.0, max_points=30000),
}


def get_preset(preset: Union[str, WorldPreset, dict]) -> WorldPreset:
    """A preset by name (``'tiny'``, ``'default'``), or as given / from a dict."""
    if isinstance(preset, WorldPreset):
        return preset
    if isinstance(preset, dict):
        fields = {f.name for f in dataclasses.fields(WorldPreset)}
        unknown = set(preset) - fields
        if unknown:
            raise ValueError(f'unknown world preset fields {sorted(unknown)}; known: '
                             f'{sorted(fields)}')
        values = dict(preset)
        for key in ('image_size', 'panorama_size'):
            if key in values:
                values[key] = tuple(values[key])
        return WorldPreset(**values)
    if preset not in PRESETS:
        raise KeyError(f'unknown world preset {preset!r}; choose from {sorted(PRESETS)}')
    return PRESETS[preset]
