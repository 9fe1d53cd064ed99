"""Procedurally furnished rooms.

:func:`generate_room` draws a room type (bedroom, living room, office,
kitchen, bathroom), a rectangular shell (floor at ``z = 0``, walls along
the axes, the room spans ``[0, Lx] x [0, Ly] x [0, H]`` like an axis-aligned
ScanNet scene) and places furniture with a small set of rules: large
objects against walls, doors with free space in front, windows with
optional curtains, chairs around tables and at desks, nightstands beside
beds, pictures on free wall spans (:mod:`.room_programs`). Placement rejects
overlapping footprints (:mod:`.room_builder`). Everything depends only on
the generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .primitives import PrimitiveSet
from .room_builder import WALL_THICKNESS, RoomBuilder
from .room_programs import PROGRAMS

__all__ = ['Room', 'generate_room', 'ROOM_TYPES', 'ROOM_TYPE_PROBS', 'WALL_THICKNESS']

ROOM_TYPES = ('bedroom', 'living_room', 'office', 'kitchen', 'bathroom')
ROOM_TYPE_PROBS = (0.24, 0.2, 0.2, 0.18, 0.18)


@dataclass
class Room:
    """A furnished room: its primitives and their per-primitive attributes.

    Attributes (one entry per primitive of ``prims``): ``label2d`` (teacher
    class id), ``label3d`` (segment20 id, -1 unlabelled), ``instance``
    (object id, 0 = walls/floor/ceiling), ``rgb`` (material colour),
    ``texture`` / ``tex_amp`` / ``tex_phase`` (see :mod:`.appearance`),
    ``is_ceiling``.
    """
    room_type: str
    size: Tuple[float, float, float]
    prims: PrimitiveSet
    label2d: np.ndarray
    label3d: np.ndarray
    instance: np.ndarray
    rgb: np.ndarray
    texture: np.ndarray
    tex_amp: np.ndarray
    tex_phase: np.ndarray
    is_ceiling: np.ndarray
    objects: List[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return dict(room_type=self.room_type, size=[round(s, 4) for s in self.size],
                    num_primitives=len(self.prims), objects=[o['name'] for o in self.objects])


def generate_room(rng: np.random.Generator, room_type: Optional[str] = None) -> Room:
    """A furnished room drawn from ``rng`` (type drawn too unless given)."""
    if room_type is None:
        room_type = ROOM_TYPES[int(rng.choice(len(ROOM_TYPES), p=ROOM_TYPE_PROBS))]
    if room_type not in PROGRAMS:
        raise KeyError(f'unknown room type {room_type!r}; choose from {ROOM_TYPES}')
    program, xs, ys, hs = PROGRAMS[room_type]
    size = (float(rng.uniform(*xs)), float(rng.uniform(*ys)), float(rng.uniform(*hs)))
    builder = RoomBuilder(room_type, size, rng)
    program(builder)
    return Room(builder.room_type, builder.size, builder.prims.freeze(), **builder.attributes(),
                objects=builder.objects)
