"""The room programs: what goes into a bedroom, living room, office,
kitchen or bathroom, and where (doors with free space in front, windows with
optional curtains, chairs around tables and at desks, nightstands beside
beds, pictures on free wall spans). Each program draws only from the
builder's generator, in a fixed order."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from . import furniture as F
from .room_builder import WALLS, RoomBuilder


def chairs_around(b: RoomBuilder, table: dict, count: int, style: Optional[str] = None):
    """Up to ``count`` chairs facing the table from its sides."""
    w, d = table['width'], table['depth']
    round_table = abs(w - d) < 1e-9
    spots = []
    if round_table:
        start = b.rng.uniform(0, 2 * np.pi)
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
    order = b.rng.permutation(len(spots))
    placed = 0
    chair_style = style or str(b.rng.choice(['wood', 'padded']))
    for k in order:
        if placed >= count:
            break
        lx, ly = spots[k]
        obj = F.chair(b.rng, chair_style)
        # pull the chair out so that only a part of the seat is under the table
        norm = np.hypot(lx, ly)
        out = obj.depth / 2 - 0.1 + b.rng.uniform(0, 0.15)
        lx, ly = lx + lx / norm * out, ly + ly / norm * out
        # face the table centre: the chair's front (-y) points towards it
        wx = np.cos(table['yaw']) * -lx - np.sin(table['yaw']) * -ly
        wy = np.sin(table['yaw']) * -lx + np.cos(table['yaw']) * -ly
        yaw = float(np.arctan2(wx, -wy)) + b.rng.normal(0, 0.15)
        if b.place_relative(obj, table, (lx, ly), yaw, group=table['instance']):
            placed += 1


def desk_with_chair(b: RoomBuilder, walls=None):
    """A desk against a wall (of ``walls``) and an office / wood chair at it."""
    desk = b.place_on_wall(F.desk(b.rng), walls)
    if desk is None:
        return None
    chair = F.chair(b.rng, str(b.rng.choice(['office', 'office', 'wood'])))
    local = (b.rng.uniform(-0.2, 0.2) * desk['width'],
             -(desk['depth'] / 2 + chair.depth / 2 - 0.15 + b.rng.uniform(0, 0.25)))
    yaw = desk['yaw'] + np.pi + b.rng.normal(0, 0.3)
    b.place_relative(chair, desk, local, yaw, group=desk['instance'])
    return desk


# ------------------------------------------------------------ room programs
def _doors_windows(b: RoomBuilder, doors: int, windows: int, curtain_p: float):
    door_walls = []
    for _ in range(doors):
        placed = b.place_on_wall(F.door(b.rng))
        if placed:
            door_walls.append(placed['wall'])
    for _ in range(windows):
        b.place_on_wall(F.window(b.rng, b.maybe(curtain_p)))
    return door_walls


def _decorate(b: RoomBuilder, pictures: int, extras: Dict[str, float]):
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


def _bedroom(b: RoomBuilder):
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
        desk_with_chair(b)
    if b.maybe(0.3):
        b.place_on_wall(F.bookshelf(b.rng))
    if b.maybe(0.4):
        b.place_on_wall(F.cabinet(b.rng, 'low'))
    if b.maybe(0.4):
        b.place_free(F.rug(b.rng), margin=0.2)
    _decorate(b, b.count(0, 3), {'lamp': 0.3, 'bin': 0.3, 'box': 0.3})


def _living_room(b: RoomBuilder):
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
            chairs_around(b, dining, b.count(2, 4))
    if b.maybe(0.3):
        b.place_on_wall(F.cabinet(b.rng))
    _decorate(b, b.count(0, 3), {'lamp': 0.5, 'stool': 0.3, 'box': 0.2, 'bin': 0.2})


def _office(b: RoomBuilder):
    _doors_windows(b, 1, b.count(1, 3), 0.3)
    for _ in range(b.count(1, 4)):
        desk_with_chair(b)
    for _ in range(b.count(0, 2)):
        b.place_on_wall(F.bookshelf(b.rng))
    for _ in range(b.count(0, 2)):
        b.place_on_wall(F.cabinet(b.rng, str(b.rng.choice(['file', 'low', 'wardrobe']))))
    if b.maybe(0.3):
        meeting = b.place_free(F.table(b.rng))
        if meeting:
            chairs_around(b, meeting, b.count(2, 5))
    _decorate(b, b.count(0, 2), {'bin': 0.6, 'box': 0.5, 'lamp': 0.2})


def _kitchen(b: RoomBuilder):
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
            chairs_around(b, dining, b.count(2, 4))
    for _ in range(b.count(0, 2)):
        b.place_free(F.stool(b.rng), margin=0.1)
    _decorate(b, b.count(0, 1), {'bin': 0.6, 'box': 0.2})


def _bathroom(b: RoomBuilder):
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


def _along(b: RoomBuilder, placed: dict) -> float:
    x, y, _ = placed['position']
    return y if WALLS[placed['wall']][1] == 1 else x


PROGRAMS = {'bedroom': (_bedroom, (3.0, 4.6), (3.0, 5.0), (2.5, 2.9)),
             'living_room': (_living_room, (4.0, 6.5), (3.5, 6.0), (2.5, 3.0)),
             'office': (_office, (3.0, 6.0), (3.0, 6.0), (2.5, 3.0)),
             'kitchen': (_kitchen, (2.8, 5.0), (2.5, 5.0), (2.4, 2.9)),
             'bathroom': (_bathroom, (1.9, 3.2), (1.9, 3.2), (2.4, 2.7))}
