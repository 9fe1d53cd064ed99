"""Procedurally furnished rooms.

:func:`generate_room` draws a room type (bedroom, living room, office,
kitchen, bathroom), a rectangular shell (floor at ``z = 0``, walls along
the axes, the room spans ``[0, Lx] x [0, Ly] x [0, H]`` like an axis-aligned
ScanNet scene) and places furniture with a small set of rules: large
objects against walls, doors with free space in front, windows with
optional curtains, chairs around tables and at desks, nightstands beside
beds, pictures on free wall spans. Placement rejects overlapping footprints
(oriented-rectangle test, per height band so that a low cabinet may stand
under a window). Everything depends only on the generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import furniture as F
from .appearance import sample_material
from .classes import class_id_2d, class_id_3d
from .primitives import PrimitiveSet

ROOM_TYPES = ('bedroom', 'living_room', 'office', 'kitchen', 'bathroom')
ROOM_TYPE_PROBS = (0.24, 0.2, 0.2, 0.18, 0.18)
WALL_THICKNESS = 0.1
# (inward normal, axis the wall runs along) of walls x=0, x=Lx, y=0, y=Ly
_WALLS = (((1.0, 0.0), 1), ((-1.0, 0.0), 1), ((0.0, 1.0), 0), ((0.0, -1.0), 0))


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


class _RoomBuilder:
    def __init__(self, room_type: str, size: Tuple[float, float, float],
                 rng: np.random.Generator):
        self.room_type, self.size, self.rng = room_type, size, rng
        self.prims = PrimitiveSet()
        self.attrs: Dict[str, list] = {k: [] for k in (
            'label2d', 'label3d', 'instance', 'rgb', 'texture', 'tex_amp', 'tex_phase',
            'is_ceiling')}
        # occupied regions: (centre xy, half extents xy, yaw, z0, z1, group)
        self.occupied: List[Tuple[np.ndarray, np.ndarray, float, float, float, int]] = []
        self.objects: List[dict] = []
        self.next_instance = 1
        self._shell()

    # ---------------------------------------------------------------- shell
    def _add_prim(self, index: int, part2d: str, class3d: str, material, instance: int,
                  ceiling: bool = False):
        assert index == len(self.attrs['label2d'])
        rgb, tex, amp = material
        self.attrs['label2d'].append(class_id_2d(part2d))
        self.attrs['label3d'].append(class_id_3d(class3d))
        self.attrs['instance'].append(instance)
        self.attrs['rgb'].append(rgb)
        self.attrs['texture'].append(tex)
        self.attrs['tex_amp'].append(amp)
        self.attrs['tex_phase'].append(self.rng.uniform(0, 2 * np.pi))
        self.attrs['is_ceiling'].append(ceiling)

    def _shell(self):
        lx, ly, h = self.size
        t, pad = WALL_THICKNESS, WALL_THICKNESS
        wall_mat = sample_material('wall', self.rng)
        floor_mat = sample_material('floor', self.rng)
        ceil_mat = sample_material('ceiling', self.rng)
        # slabs outside the room; only the face towards the room is sampled
        i = self.prims.add_box((lx / 2, ly / 2, -t / 2), (lx / 2 + pad, ly / 2 + pad, t / 2),
                               faces=[0, 0, 0, 0, 0, 1])
        self._add_prim(i, 'floor', 'floor', floor_mat, 0)
        i = self.prims.add_box((lx / 2, ly / 2, h + t / 2), (lx / 2 + pad, ly / 2 + pad, t / 2),
                               faces=[0, 0, 0, 0, 1, 0])
        self._add_prim(i, 'ceiling', '', ceil_mat, 0, ceiling=True)
        # a second wall colour on one wall now and then (accent walls)
        accent = int(self.rng.integers(4)) if self.rng.random() < 0.25 else -1
        accent_mat = sample_material('wall', self.rng)
        for k, (centre, half, faces) in enumerate((
                ((-t / 2, ly / 2, h / 2), (t / 2, ly / 2 + pad, h / 2 + pad), [0, 1, 0, 0, 0, 0]),
                ((lx + t / 2, ly / 2, h / 2), (t / 2, ly / 2 + pad, h / 2 + pad),
                 [1, 0, 0, 0, 0, 0]),
                ((lx / 2, -t / 2, h / 2), (lx / 2 + pad, t / 2, h / 2 + pad), [0, 0, 0, 1, 0, 0]),
                ((lx / 2, ly + t / 2, h / 2), (lx / 2 + pad, t / 2, h / 2 + pad),
                 [0, 0, 1, 0, 0, 0]))):
            i = self.prims.add_box(centre, half, faces=faces)
            self._add_prim(i, 'wall', 'wall', accent_mat if k == accent else wall_mat, 0)
        # walls x=0, x=Lx, y=0, y=Ly are primitives 2..5; floor 0, ceiling 1
        self.prims.set_enclosure((0, 0, 0), (lx, ly, h), [2, 3, 4, 5, 0, 1])

    # ------------------------------------------------------------ placement
    def _fits(self, centre, half, yaw, z0, z1, group) -> bool:
        lx, ly, _ = self.size
        c, s = np.cos(yaw), np.sin(yaw)
        axes_a = np.array([[c, s], [-s, c]])
        corners = centre + np.array([[sx * half[0], sy * half[1]] for sx in (-1, 1)
                                     for sy in (-1, 1)]) @ axes_a
        if corners.min() < -1e-6 or np.any(corners.max(0) > np.array([lx, ly]) + 1e-6):
            return False
        for (oc, oh, oyaw, oz0, oz1, ogroup) in self.occupied:
            if group is not None and ogroup == group:
                continue
            if z1 <= oz0 or oz1 <= z0:
                continue
            c2, s2 = np.cos(oyaw), np.sin(oyaw)
            axes_b = np.array([[c2, s2], [-s2, c2]])
            delta = oc - centre
            separated = False
            for axis in np.concatenate([axes_a, axes_b]):
                ra = half[0] * abs(axes_a[0] @ axis) + half[1] * abs(axes_a[1] @ axis)
                rb = oh[0] * abs(axes_b[0] @ axis) + oh[1] * abs(axes_b[1] @ axis)
                if abs(delta @ axis) > ra + rb:
                    separated = True
                    break
            if not separated:
                return False
        return True

    def place(self, obj: F.Furniture, x: float, y: float, yaw: float, z: float = 0.0,
              group: Optional[int] = None, check: bool = True) -> Optional[dict]:
        """Place ``obj`` with its frame at (x, y, z) rotated by ``yaw``; returns
        the placement or None when it collides / leaves the room."""
        half = np.array([obj.width / 2, obj.depth / 2 + obj.keepout / 2])
        # the keep-out zone extends in front of the object (-y in its frame)
        c, s = np.cos(yaw), np.sin(yaw)
        shift = np.array([s, -c]) * (obj.keepout / 2)
        centre = np.array([x, y]) + shift
        z0, z1 = obj.z_range if obj.z_range is not None else (0.0, obj.height)
        z0, z1 = z0 + z, z1 + z
        if check and obj.collides and not self._fits(centre, half, yaw, z0, z1, group):
            return None
        instance = self.next_instance
        self.next_instance += 1
        if obj.collides:
            self.occupied.append((centre, half, yaw, z0, z1,
                                  instance if group is None else group))
        materials: Dict[str, tuple] = {}
        for part in obj.parts:
            if part.own_material or part.role not in materials:
                material = sample_material(part.role, self.rng)
                if not part.own_material:
                    materials[part.role] = material
            else:
                material = materials[part.role]
            px, py, pz = part.center
            wx, wy = x + c * px - s * py, y + s * px + c * py
            centre3 = (wx, wy, z + pz)
            if part.kind == 'box':
                index = self.prims.add_box(centre3, np.asarray(part.size) / 2, yaw + part.yaw)
            elif part.kind == 'cylinder':
                index = self.prims.add_cylinder(centre3, part.size[0], part.size[1] / 2)
            else:
                index = self.prims.add_sphere(centre3, part.size[0])
            self._add_prim(index, part.part2d, part.class3d, material, instance)
        placement = dict(name=obj.name, instance=instance, position=[x, y, z], yaw=yaw,
                         width=obj.width, depth=obj.depth, height=obj.height)
        self.objects.append(placement)
        return placement

    def wall_frame(self, wall: int, along: float, offset: float):
        """(x, y, yaw) of a point ``along`` the wall, ``offset`` into the room,
        facing into the room."""
        lx, ly, _ = self.size
        (nx, ny), axis = _WALLS[wall]
        if axis == 1:
            x, y = (0.0 if nx > 0 else lx) + nx * offset, along
        else:
            x, y = along, (0.0 if ny > 0 else ly) + ny * offset
        return x, y, float(np.arctan2(nx, -ny))

    def wall_length(self, wall: int) -> float:
        return self.size[1] if _WALLS[wall][1] == 1 else self.size[0]

    def place_on_wall(self, obj: F.Furniture, walls: Optional[Sequence[int]] = None,
                      z: float = 0.0, tries: int = 30, group: Optional[int] = None,
                      along: Optional[float] = None) -> Optional[dict]:
        """Back against a random wall (of ``walls``), at a random position."""
        walls = list(range(4)) if walls is None else list(walls)
        for _ in range(tries):
            wall = walls[int(self.rng.integers(len(walls)))]
            length = self.wall_length(wall)
            margin = obj.width / 2 + 0.02
            if length < 2 * margin:
                continue
            pos = along if along is not None else self.rng.uniform(margin, length - margin)
            x, y, yaw = self.wall_frame(wall, pos, obj.depth / 2 + 0.0005)
            placed = self.place(obj, x, y, yaw, z=z, group=group)
            if placed is not None:
                placed['wall'] = wall
                return placed
        return None

    def place_free(self, obj: F.Furniture, tries: int = 30, margin: float = 0.3,
                   group: Optional[int] = None, any_yaw: bool = False) -> Optional[dict]:
        lx, ly, _ = self.size
        for _ in range(tries):
            yaw = self.rng.uniform(0, 2 * np.pi) if any_yaw else \
                float(self.rng.integers(4)) * np.pi / 2 + self.rng.normal(0, 0.05)
            reach = max(obj.width, obj.depth) / 2 + margin
            if lx < 2 * reach or ly < 2 * reach:
                return None
            x, y = self.rng.uniform(reach, lx - reach), self.rng.uniform(reach, ly - reach)
            placed = self.place(obj, x, y, yaw, group=group)
            if placed is not None:
                return placed
        return None

    def place_relative(self, obj: F.Furniture, parent: dict, local_xy: Tuple[float, float],
                       yaw: float, z: float = 0.0, group: Optional[int] = None,
                       check: bool = True) -> Optional[dict]:
        """Place at ``local_xy`` in the parent's frame, with world ``yaw``."""
        px, py, _ = parent['position']
        c, s = np.cos(parent['yaw']), np.sin(parent['yaw'])
        x = px + c * local_xy[0] - s * local_xy[1]
        y = py + s * local_xy[0] + c * local_xy[1]
        return self.place(obj, x, y, yaw, z=z, group=group, check=check)

    def chairs_around(self, table: dict, count: int, style: Optional[str] = None):
        """Up to ``count`` chairs facing the table from its sides."""
        w, d = table['width'], table['depth']
        round_table = abs(w - d) < 1e-9
        spots = []
        if round_table:
            start = self.rng.uniform(0, 2 * np.pi)
            for k in range(count):
                a = start + 2 * np.pi * k / count
                r = w / 2 + 0.12
                spots.append((r * np.cos(a), r * np.sin(a)))
        else:
            per_side = max(1, int(w // 0.6))
            for sy in (-1, 1):
                for k in range(per_side):
                    spots.append(((k - (per_side - 1) / 2) * 0.6, sy * (d / 2 + 0.12)))
            for sx in (-1, 1):
                spots.append((sx * (w / 2 + 0.12), 0.0))
        order = self.rng.permutation(len(spots))
        placed = 0
        chair_style = style or str(self.rng.choice(['wood', 'padded']))
        for k in order:
            if placed >= count:
                break
            lx, ly = spots[k]
            obj = F.chair(self.rng, chair_style)
            # pull the chair out so that only a part of the seat is under the table
            norm = np.hypot(lx, ly)
            out = obj.depth / 2 - 0.1 + self.rng.uniform(0, 0.15)
            lx, ly = lx + lx / norm * out, ly + ly / norm * out
            # face the table centre: the chair's front (-y) points towards it
            wx = np.cos(table['yaw']) * -lx - np.sin(table['yaw']) * -ly
            wy = np.sin(table['yaw']) * -lx + np.cos(table['yaw']) * -ly
            yaw = float(np.arctan2(wx, -wy)) + self.rng.normal(0, 0.15)
            if self.place_relative(obj, table, (lx, ly), yaw, group=table['instance']):
                placed += 1

    def desk_with_chair(self, walls=None):
        desk = self.place_on_wall(F.desk(self.rng), walls)
        if desk is None:
            return None
        chair = F.chair(self.rng, str(self.rng.choice(['office', 'office', 'wood'])))
        local = (self.rng.uniform(-0.2, 0.2) * desk['width'],
                 -(desk['depth'] / 2 + chair.depth / 2 - 0.15 + self.rng.uniform(0, 0.25)))
        yaw = desk['yaw'] + np.pi + self.rng.normal(0, 0.3)
        self.place_relative(chair, desk, local, yaw, group=desk['instance'])
        return desk

    def maybe(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def count(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def build(self) -> Room:
        a = self.attrs
        return Room(self.room_type, self.size, self.prims.freeze(),
                    np.asarray(a['label2d'], np.int64), np.asarray(a['label3d'], np.int64),
                    np.asarray(a['instance'], np.int64), np.asarray(a['rgb'], np.float64),
                    np.asarray(a['texture'], np.int64), np.asarray(a['tex_amp'], np.float64),
                    np.asarray(a['tex_phase'], np.float64), np.asarray(a['is_ceiling'], bool),
                    self.objects)


# ------------------------------------------------------------ room programs
def _doors_windows(b: _RoomBuilder, doors: int, windows: int, curtain_p: float):
    door_walls = []
    for _ in range(doors):
        placed = b.place_on_wall(F.door(b.rng))
        if placed:
            door_walls.append(placed['wall'])
    for _ in range(windows):
        b.place_on_wall(F.window(b.rng, b.maybe(curtain_p)))
    return door_walls


def _decorate(b: _RoomBuilder, pictures: int, extras: Dict[str, float]):
    for name, p in extras.items():
        if b.maybe(p):
            build = F.lamp if name == 'lamp' else F.SIMPLE_BUILDERS[name]
            # lamps mostly stand in corners / by walls, small objects anywhere
            if b.maybe(0.7):
                b.place_on_wall(build(b.rng))
            else:
                b.place_free(build(b.rng), margin=0.1, any_yaw=True)
    for _ in range(pictures):
        art = F.picture(b.rng)
        b.place_on_wall(art, z=float(b.rng.uniform(1.25, 1.75)) - art.height / 2)


def _bedroom(b: _RoomBuilder):
    _doors_windows(b, 1, b.count(1, 2), 0.7)
    bed = b.place_on_wall(F.bed(b.rng))
    if bed is not None:
        for side in (-1, 1):
            if b.maybe(0.6):
                stand = F.cabinet(b.rng, 'night')
                x = side * (bed['width'] / 2 + stand.width / 2 + 0.05)
                placed = b.place_relative(stand, bed, (x, bed['depth'] / 2 - stand.depth / 2),
                                          bed['yaw'])
                if placed is not None and b.maybe(0.4):
                    b.place_relative(F.lamp(b.rng, table=True), placed, (0, 0), placed['yaw'],
                                     z=stand.height, group=placed['instance'])
    if b.maybe(0.6):
        b.place_on_wall(F.cabinet(b.rng, 'wardrobe'))
    if b.maybe(0.5):
        b.desk_with_chair()
    if b.maybe(0.3):
        b.place_on_wall(F.bookshelf(b.rng))
    if b.maybe(0.4):
        b.place_on_wall(F.cabinet(b.rng, 'low'))
    if b.maybe(0.4):
        b.place_free(F.rug(b.rng), margin=0.2)
    _decorate(b, b.count(0, 3), {'lamp': 0.3, 'bin': 0.3, 'box': 0.3})


def _living_room(b: _RoomBuilder):
    _doors_windows(b, b.count(1, 2), b.count(1, 3), 0.6)
    sofas = []
    for _ in range(b.count(1, 2)):
        placed = b.place_on_wall(F.sofa(b.rng))
        if placed:
            sofas.append(placed)
    if sofas and b.maybe(0.9):
        coffee = F.table(b.rng, 'coffee')
        gap = b.rng.uniform(0.3, 0.5)
        local = (0.0, -(sofas[0]['depth'] / 2 + gap + coffee.depth / 2))
        placed = b.place_relative(coffee, sofas[0], local, sofas[0]['yaw'])
        if placed is not None and b.maybe(0.6):
            b.place_relative(F.rug(b.rng), placed, (0, 0), placed['yaw'] + b.rng.normal(0, 0.05))
    if b.maybe(0.7):
        stand = b.place_on_wall(F.cabinet(b.rng, 'low'))
        if stand is not None:
            b.place_relative(F.tv(b.rng), stand, (0, 0.02), stand['yaw'], z=stand['height'],
                             group=stand['instance'])
    for _ in range(b.count(0, 2)):
        b.place_on_wall(F.bookshelf(b.rng))
    for _ in range(b.count(0, 2)):
        chair = F.chair(b.rng, 'padded')
        b.place_free(chair, margin=0.2, any_yaw=True)
    if b.maybe(0.3):
        dining = b.place_free(F.table(b.rng))
        if dining:
            b.chairs_around(dining, b.count(2, 4))
    if b.maybe(0.3):
        b.place_on_wall(F.cabinet(b.rng))
    _decorate(b, b.count(0, 3), {'lamp': 0.5, 'stool': 0.3, 'box': 0.2, 'bin': 0.2})


def _office(b: _RoomBuilder):
    _doors_windows(b, 1, b.count(1, 3), 0.3)
    for _ in range(b.count(1, 4)):
        b.desk_with_chair()
    for _ in range(b.count(0, 2)):
        b.place_on_wall(F.bookshelf(b.rng))
    for _ in range(b.count(0, 2)):
        b.place_on_wall(F.cabinet(b.rng, str(b.rng.choice(['file', 'low', 'wardrobe']))))
    if b.maybe(0.3):
        meeting = b.place_free(F.table(b.rng))
        if meeting:
            b.chairs_around(meeting, b.count(2, 5))
    _decorate(b, b.count(0, 2), {'bin': 0.6, 'box': 0.5, 'lamp': 0.2})


def _kitchen(b: _RoomBuilder):
    door_walls = _doors_windows(b, 1, b.count(0, 2), 0.3)
    free_walls = [w for w in range(4) if w not in door_walls] or list(range(4))
    order = b.rng.permutation(free_walls)
    for k, wall in enumerate(order[:b.count(1, 2)]):
        length = b.wall_length(wall) * b.rng.uniform(0.45, 0.85)
        placed = b.place_on_wall(F.counter(b.rng, length, with_sink=(k == 0)), [wall])
        if placed is not None and b.maybe(0.6):
            cab = F.wall_cabinets(b.rng, length * b.rng.uniform(0.6, 1.0))
            b.place_on_wall(cab, [wall], z=float(b.rng.uniform(1.42, 1.55)))
    b.place_on_wall(F.refrigerator(b.rng))
    if b.maybe(0.6):
        dining = b.place_free(F.table(b.rng), margin=0.5)
        if dining:
            b.chairs_around(dining, b.count(2, 4))
    for _ in range(b.count(0, 2)):
        b.place_free(F.stool(b.rng), margin=0.1)
    _decorate(b, b.count(0, 1), {'bin': 0.6, 'box': 0.2})


def _bathroom(b: _RoomBuilder):
    _doors_windows(b, 1, int(b.maybe(0.5)), 0.2)
    if b.maybe(0.7):
        b.place_on_wall(F.bathtub(b.rng, b.maybe(0.65)))
    b.place_on_wall(F.toilet(b.rng))
    sink = b.place_on_wall(F.bathroom_sink(b.rng))
    if sink is not None and b.maybe(0.8):
        mirror = F.picture(b.rng, mirror=True)
        b.place_on_wall(mirror, [sink['wall']], z=float(b.rng.uniform(1.15, 1.3)),
                        along=_along(b, sink))
    if b.maybe(0.4):
        b.place_on_wall(F.cabinet(b.rng, str(b.rng.choice(['low', 'file']))))
    _decorate(b, int(b.maybe(0.3)), {'bin': 0.5})


def _along(b: _RoomBuilder, placed: dict) -> float:
    x, y, _ = placed['position']
    return y if _WALLS[placed['wall']][1] == 1 else x


_PROGRAMS = {'bedroom': (_bedroom, (3.0, 4.6), (3.0, 5.0), (2.5, 2.9)),
             'living_room': (_living_room, (4.0, 6.5), (3.5, 6.0), (2.5, 3.0)),
             'office': (_office, (3.0, 6.0), (3.0, 6.0), (2.5, 3.0)),
             'kitchen': (_kitchen, (2.8, 5.0), (2.5, 5.0), (2.4, 2.9)),
             'bathroom': (_bathroom, (1.9, 3.2), (1.9, 3.2), (2.4, 2.7))}


def generate_room(rng: np.random.Generator, room_type: Optional[str] = None) -> Room:
    """A furnished room drawn from ``rng`` (type drawn too unless given)."""
    if room_type is None:
        room_type = ROOM_TYPES[int(rng.choice(len(ROOM_TYPES), p=ROOM_TYPE_PROBS))]
    if room_type not in _PROGRAMS:
        raise KeyError(f'unknown room type {room_type!r}; choose from {ROOM_TYPES}')
    program, xs, ys, hs = _PROGRAMS[room_type]
    size = (float(rng.uniform(*xs)), float(rng.uniform(*ys)), float(rng.uniform(*hs)))
    builder = _RoomBuilder(room_type, size, rng)
    program(builder)
    return builder.build()
