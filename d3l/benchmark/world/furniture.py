"""Furniture built from primitives, with plausible sizes in metres.

Each builder returns a :class:`Furniture` in its own frame: the footprint is
centred on the origin, the object stands on ``z = 0``, its width runs along
x, its depth along y, its back faces +y (the side put against a wall) and
its front faces -y. Every part carries its 2D teacher class, its 3D class
(ScanNet-20 name, ``''`` for unlabelled) and a material role; parts of one
object that share a role share a material (all legs of a chair look alike).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np


@dataclass
class Part:
    """One primitive of an object, in the object's frame.

    ``size`` is the full (x, y, z) extent for a box, ``(radius, height)``
    for a vertical cylinder and ``(radius,)`` for a sphere; ``center`` is
    the primitive's centre.
    """
    kind: str
    center: Tuple[float, float, float]
    size: Tuple[float, ...]
    part2d: str
    class3d: str
    role: str
    yaw: float = 0.0
    own_material: bool = False


@dataclass
class Furniture:
    """An object: its parts, footprint (width along x, depth along y) and height."""
    name: str
    parts: List[Part]
    width: float
    depth: float
    height: float
    collides: bool = True
    # extra free space kept in front of the object (doors need room to open)
    keepout: float = 0.0
    # wall items only occupy a band of heights, so furniture may stand below them
    z_range: Optional[Tuple[float, float]] = None


class _Builder:
    def __init__(self, name: str, class3d: str):
        self.name, self.class3d = name, class3d
        self.parts: List[Part] = []

    def box(self, center, size, part2d, role, class3d=None, yaw=0.0, own=False):
        size = tuple(float(s) for s in size)
        if min(size) <= 0:
            raise ValueError(f'{self.name}: box part {part2d} has a non-positive size {size}')
        self.parts.append(Part('box', tuple(map(float, center)), size, part2d,
                               self.class3d if class3d is None else class3d, role, yaw, own))

    def cyl(self, x, y, z0, z1, radius, part2d, role, class3d=None, own=False):
        self.parts.append(Part('cylinder', (float(x), float(y), (z0 + z1) / 2),
                               (float(radius), float(z1 - z0)), part2d,
                               self.class3d if class3d is None else class3d, role, 0.0, own))

    def sphere(self, center, radius, part2d, role, class3d=None):
        self.parts.append(Part('sphere', tuple(map(float, center)), (float(radius),), part2d,
                               self.class3d if class3d is None else class3d, role))

    def legs(self, width, depth, z1, inset, thick, round_legs, part2d='leg', role='leg',
             class3d=None):
        """Four legs from the floor to ``z1`` at the corners of width x depth."""
        for sx in (-1, 1):
            for sy in (-1, 1):
                x, y = sx * (width / 2 - inset), sy * (depth / 2 - inset)
                if round_legs:
                    self.cyl(x, y, 0.0, z1, thick / 2, part2d, role, class3d)
                else:
                    self.box((x, y, z1 / 2), (thick, thick, z1), part2d, role, class3d)

    def done(self, **kwargs) -> Furniture:
        """The object, re-centred so that the parts' bounding box is centred on
        the origin in x and y; footprint and height are that bounding box."""
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for part in self.parts:
            centre = np.asarray(part.center)
            if part.kind == 'box':
                c, s = abs(np.cos(part.yaw)), abs(np.sin(part.yaw))
                hx, hy, hz = np.asarray(part.size) / 2
                half = np.array([c * hx + s * hy, s * hx + c * hy, hz])
            elif part.kind == 'cylinder':
                half = np.array([part.size[0], part.size[0], part.size[1] / 2])
            else:
                half = np.full(3, part.size[0])
            lo, hi = np.minimum(lo, centre - half), np.maximum(hi, centre + half)
        shift = -(lo[:2] + hi[:2]) / 2
        for part in self.parts:
            part.center = (part.center[0] + shift[0], part.center[1] + shift[1], part.center[2])
        width, depth = hi[:2] - lo[:2]
        return Furniture(self.name, self.parts, float(width), float(depth), float(hi[2]),
                         **kwargs)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


# ----------------------------------------------------------------- bedroom
def bed(rng: np.random.Generator) -> Furniture:
    b = _Builder('bed', 'bed')
    width = float(rng.choice([0.9, 1.2, 1.4, 1.6, 1.8])) + _u(rng, -0.05, 0.05)
    length = _u(rng, 1.95, 2.15)
    leg_h = _u(rng, 0.08, 0.15) if rng.random() < 0.5 else 0.0
    frame_h = _u(rng, 0.18, 0.32)
    mattress_h = _u(rng, 0.16, 0.26)
    head_h = _u(rng, 0.8, 1.15)
    if leg_h:
        b.legs(width, length, leg_h, 0.06, 0.06, False, class3d='bed', role='frame')
    frame_top = leg_h + frame_h
    b.box((0, 0, leg_h + frame_h / 2), (width, length, frame_h), 'bed', 'frame')
    top = frame_top + mattress_h
    b.box((0, -0.02, frame_top + mattress_h / 2), (width - 0.04, length - 0.1, mattress_h),
          'bed', 'bedding')
    b.box((0, length / 2 - 0.03, head_h / 2), (width, 0.06, head_h), 'bed', 'frame')
    num_pillows = 1 if width < 1.3 else 2
    pw = min(0.6, (width - 0.1) / num_pillows - 0.04)
    for i in range(num_pillows):
        x = (i - (num_pillows - 1) / 2) * (pw + 0.05)
        b.box((x, length / 2 - 0.3, top + 0.06), (pw, 0.34, 0.12), 'pillow', 'pillow')
    if rng.random() < 0.7:  # a blanket over the foot end
        cover = length * _u(rng, 0.5, 0.7)
        b.box((0, -length / 2 + cover / 2 - 0.01, frame_top + (mattress_h + 0.04) / 2),
              (width + 0.02, cover, mattress_h + 0.04), 'bed', 'bedding', own=True)
    return b.done()


def cabinet(rng: np.random.Generator, kind: Optional[str] = None) -> Furniture:
    """A cabinet: ``wardrobe``, ``low`` (dresser, TV stand), ``night`` or ``file``."""
    kind = kind or str(rng.choice(['wardrobe', 'low', 'night', 'file']))
    dims = {'wardrobe': ((0.8, 1.6), (0.55, 0.62), (1.8, 2.2)),
            'low': ((0.7, 1.6), (0.4, 0.5), (0.5, 0.9)),
            'night': ((0.4, 0.55), (0.35, 0.45), (0.45, 0.62)),
            'file': ((0.4, 0.5), (0.5, 0.6), (0.6, 1.3))}[kind]
    width, depth, height = (_u(rng, *d) for d in dims)
    b = _Builder(f'cabinet_{kind}', 'cabinet')
    plinth = 0.08 if rng.random() < 0.5 else 0.0
    if plinth:
        b.box((0, 0.02, plinth / 2), (width - 0.04, depth - 0.04, plinth), 'cabinet', 'furniture')
    body_h = height - plinth
    b.box((0, 0, plinth + body_h / 2), (width, depth, body_h), 'cabinet', 'furniture')
    # door / drawer fronts: a grid of thin panels with gaps showing the body
    if kind in ('wardrobe',) or (kind == 'low' and rng.random() < 0.5):
        cols, rows = max(1, int(round(width / 0.5))), 1
    else:
        cols, rows = (1 if width < 0.8 else 2), max(1, int(round(body_h / 0.3)))
    front_mat = 'furniture' if rng.random() < 0.6 else 'top'
    handle_mat = 'leg'
    cw, rh = width / cols, body_h / rows
    for i in range(cols):
        for j in range(rows):
            x = -width / 2 + cw * (i + 0.5)
            z = plinth + rh * (j + 0.5)
            b.box((x, -depth / 2 - 0.008, z), (cw - 0.012, 0.016, rh - 0.012), 'cabinet',
                  front_mat)
            hx = x + (cw * 0.3 if (rows == 1 and i % 2 == 0) else 0.0)
            b.box((hx, -depth / 2 - 0.025, z + (rh * 0.3 if rows == 1 else 0.0)),
                  (0.02 if rows == 1 else 0.12, 0.02, 0.12 if rows == 1 else 0.02),
                  'cabinet', handle_mat)
    return b.done()


def bookshelf(rng: np.random.Generator) -> Furniture:
    width, depth, height = _u(rng, 0.6, 1.2), _u(rng, 0.28, 0.4), _u(rng, 1.0, 2.0)
    b = _Builder('bookshelf', 'bookshelf')
    t = 0.02
    b.box((-width / 2 + t / 2, 0, height / 2), (t, depth, height), 'shelf', 'furniture')
    b.box((width / 2 - t / 2, 0, height / 2), (t, depth, height), 'shelf', 'furniture')
    b.box((0, depth / 2 - 0.005, height / 2), (width - 2 * t, 0.01, height), 'shelf',
          'furniture')
    levels = max(2, int(round(height / 0.36)))
    spacing = (height - t) / levels
    for k in range(levels + 1):
        z = min(k * spacing + t / 2, height - t / 2)
        b.box((0, 0, z), (width - 2 * t, depth - 0.01, t), 'shelf', 'furniture')
    inner = width - 2 * t
    for k in range(levels):
        base = k * spacing + t
        x = -inner / 2
        while True:  # runs of books, each run one colour
            run = _u(rng, 0.06, 0.22)
            if x + run > inner / 2:
                break
            if rng.random() < 0.75:
                h = min(spacing - t - 0.02, _u(rng, 0.15, 0.3))
                d = min(depth - 0.03, _u(rng, 0.15, 0.25))
                b.box((x + run / 2, -depth / 2 + d / 2 + 0.02, base + h / 2), (run - 0.004, d, h),
                      'book', 'book', own=True)
            x += run
    return b.done()


def lamp(rng: np.random.Generator, table: bool = False) -> Furniture:
    """A floor lamp (or a small table lamp): base, pole and shade; unlabelled in 3D."""
    b = _Builder('lamp', '')
    scale = 0.3 if table else 1.0
    base_r = _u(rng, 0.1, 0.15) * (0.7 if table else 1.0)
    pole = _u(rng, 1.35, 1.65) * scale
    shade_r, shade_h = _u(rng, 0.15, 0.24) * (0.7 if table else 1.0), _u(rng, 0.2, 0.3) * (
        0.7 if table else 1.0)
    b.cyl(0, 0, 0, 0.03, base_r, 'lamp', 'lamp')
    b.cyl(0, 0, 0.03, pole, 0.012, 'lamp', 'lamp')
    b.cyl(0, 0, pole - 0.05, pole - 0.05 + shade_h, shade_r, 'lamp', 'lamp')
    return b.done()


def rug(rng: np.random.Generator) -> Furniture:
    width, depth = _u(rng, 1.2, 2.4), _u(rng, 0.8, 1.8)
    b = _Builder('rug', 'floor')
    b.box((0, 0, 0.005), (width, depth, 0.01), 'rug', 'rug')
    return b.done(collides=False)


# ------------------------------------------------------------- seating etc.
def chair(rng: np.random.Generator, style: Optional[str] = None) -> Furniture:
    style = style or str(rng.choice(['wood', 'wood', 'office', 'padded']))
    b = _Builder(f'chair_{style}', 'chair')
    seat_w, seat_d, seat_h = _u(rng, 0.4, 0.52), _u(rng, 0.4, 0.5), _u(rng, 0.42, 0.5)
    back_h = _u(rng, 0.35, 0.55)
    seat_t = _u(rng, 0.03, 0.06)
    if style == 'office':
        b.cyl(0, 0, 0, 0.05, _u(rng, 0.25, 0.3), 'leg', 'leg')
        b.cyl(0, 0, 0.05, seat_h - seat_t, 0.025, 'leg', 'leg')
    else:
        b.legs(seat_w, seat_d, seat_h - seat_t, 0.03, _u(rng, 0.025, 0.045),
               bool(rng.random() < 0.4))
    seat_role = 'upholstery' if style in ('office', 'padded') else 'chair'
    b.box((0, 0, seat_h - seat_t / 2), (seat_w, seat_d, seat_t), 'chair', seat_role)
    if style == 'padded':
        b.box((0, -0.01, seat_h + 0.03), (seat_w - 0.04, seat_d - 0.06, 0.06), 'cushion',
              'upholstery')
    back_t = _u(rng, 0.025, 0.06)
    b.box((0, seat_d / 2 - back_t / 2, seat_h + back_h / 2), (seat_w, back_t, back_h), 'chair',
          seat_role)
    if style == 'office' and rng.random() < 0.5:  # arm rests
        for sx in (-1, 1):
            b.box((sx * (seat_w / 2 + 0.03), 0, seat_h + 0.2), (0.05, seat_d * 0.8, 0.04),
                  'chair', 'leg')
    return b.done()


def sofa(rng: np.random.Generator) -> Furniture:
    width, depth = _u(rng, 1.5, 2.4), _u(rng, 0.8, 0.95)
    b = _Builder('sofa', 'sofa')
    leg_h = _u(rng, 0.06, 0.14) if rng.random() < 0.6 else 0.0
    base_h = _u(rng, 0.3, 0.38)
    back_t, back_top = _u(rng, 0.15, 0.25), _u(rng, 0.75, 0.9)
    arm_w, arm_h = _u(rng, 0.12, 0.22), _u(rng, 0.55, 0.65)
    if leg_h:
        b.legs(width, depth, leg_h, 0.06, 0.05, bool(rng.random() < 0.5))
    b.box((0, 0, leg_h + base_h / 2), (width, depth, base_h), 'sofa', 'upholstery')
    b.box((0, depth / 2 - back_t / 2, leg_h + base_h + (back_top - leg_h - base_h) / 2),
          (width, back_t, back_top - leg_h - base_h), 'sofa', 'upholstery')
    for sx in (-1, 1):
        b.box((sx * (width / 2 - arm_w / 2), 0, leg_h + base_h + (arm_h - leg_h - base_h) / 2),
              (arm_w, depth, arm_h - leg_h - base_h), 'sofa', 'upholstery')
    inner = width - 2 * arm_w
    seats = 2 if inner < 1.5 else 3
    cushion_t = _u(rng, 0.1, 0.14)
    seat_d = depth - back_t
    cushion_role = 'upholstery' if rng.random() < 0.6 else 'pillow'
    for i in range(seats):
        x = -inner / 2 + inner / seats * (i + 0.5)
        b.box((x, -back_t / 2, leg_h + base_h + cushion_t / 2),
              (inner / seats - 0.015, seat_d - 0.01, cushion_t), 'cushion', cushion_role)
        if rng.random() < 0.6:  # back cushions
            b.box((x, depth / 2 - back_t - 0.06, leg_h + base_h + cushion_t + 0.2),
                  (inner / seats - 0.02, 0.12, 0.36), 'cushion', cushion_role)
    for i in range(int(rng.integers(0, 3))):  # throw pillows
        sx = -1 if i == 0 else 1
        b.box((sx * (inner / 2 - 0.25), depth / 2 - back_t - 0.2,
               leg_h + base_h + cushion_t + 0.18), (0.4, 0.12, 0.36), 'pillow', 'pillow',
              own=True)
    return b.done()


def stool(rng: np.random.Generator) -> Furniture:
    b = _Builder('stool', 'otherfurniture')
    radius, height = _u(rng, 0.15, 0.2), _u(rng, 0.42, 0.75)
    b.cyl(0, 0, height - 0.04, height, radius, 'stool', 'chair')
    if rng.random() < 0.5:
        for k in range(4):
            a = np.pi / 4 + k * np.pi / 2
            b.cyl(0.7 * radius * np.cos(a), 0.7 * radius * np.sin(a), 0, height - 0.04, 0.015,
                  'leg', 'leg')
    else:
        b.cyl(0, 0, 0, 0.03, radius, 'leg', 'leg')
        b.cyl(0, 0, 0.03, height - 0.04, 0.025, 'leg', 'leg')
    return b.done()


def bin_(rng: np.random.Generator) -> Furniture:
    b = _Builder('bin', 'otherfurniture')
    if rng.random() < 0.6:
        radius, height = _u(rng, 0.12, 0.18), _u(rng, 0.3, 0.5)
        b.cyl(0, 0, 0, height, radius, 'bin', 'bin')
        return b.done()
    w, d, h = _u(rng, 0.25, 0.35), _u(rng, 0.2, 0.3), _u(rng, 0.3, 0.5)
    b.box((0, 0, h / 2), (w, d, h), 'bin', 'bin')
    return b.done()


def box(rng: np.random.Generator) -> Furniture:
    b = _Builder('box', 'otherfurniture')
    w, d, h = _u(rng, 0.3, 0.6), _u(rng, 0.3, 0.5), _u(rng, 0.2, 0.45)
    b.box((0, 0, h / 2), (w, d, h), 'box', 'box')
    total = h
    if rng.random() < 0.4:  # a second box stacked on top
        h2 = _u(rng, 0.15, 0.35)
        b.box((_u(rng, -0.05, 0.05), 0, h + h2 / 2), (w * 0.8, d * 0.85, h2), 'box', 'box',
              own=True)
        total += h2
    return b.done()


# ------------------------------------------------------------------ tables
def table(rng: np.random.Generator, kind: Optional[str] = None) -> Furniture:
    """A ``dining`` / ``round`` / ``coffee`` table."""
    kind = kind or str(rng.choice(['dining', 'dining', 'round']))
    b = _Builder(f'table_{kind}', 'table')
    top_t = _u(rng, 0.025, 0.05)
    if kind == 'round':
        radius, height = _u(rng, 0.4, 0.6), _u(rng, 0.72, 0.78)
        b.cyl(0, 0, height - top_t, height, radius, 'table', 'top')
        b.cyl(0, 0, 0.03, height - top_t, 0.04, 'leg', 'leg')
        b.cyl(0, 0, 0, 0.03, radius * 0.55, 'leg', 'leg')
        return b.done()
    if kind == 'coffee':
        width, depth, height = _u(rng, 0.8, 1.3), _u(rng, 0.45, 0.7), _u(rng, 0.38, 0.48)
    else:
        width, depth, height = _u(rng, 0.8, 1.8), _u(rng, 0.7, 1.0), _u(rng, 0.72, 0.78)
    b.box((0, 0, height - top_t / 2), (width, depth, top_t), 'table', 'top')
    b.legs(width, depth, height - top_t, 0.05, _u(rng, 0.04, 0.07), bool(rng.random() < 0.4))
    if kind == 'coffee' and rng.random() < 0.5:  # lower shelf
        b.box((0, 0, 0.12), (width - 0.1, depth - 0.1, 0.02), 'table', 'top')
    return b.done()


def desk(rng: np.random.Generator) -> Furniture:
    width, depth, height = _u(rng, 1.0, 1.8), _u(rng, 0.55, 0.8), _u(rng, 0.72, 0.76)
    b = _Builder('desk', 'desk')
    top_t = _u(rng, 0.025, 0.04)
    b.box((0, 0, height - top_t / 2), (width, depth, top_t), 'desk', 'top')
    if rng.random() < 0.5:
        b.legs(width, depth, height - top_t, 0.04, _u(rng, 0.04, 0.06), bool(rng.random() < 0.3))
    else:  # side panels and a modesty panel
        for sx in (-1, 1):
            b.box((sx * (width / 2 - 0.015), 0, (height - top_t) / 2),
                  (0.03, depth - 0.02, height - top_t), 'desk', 'top')
        b.box((0, depth / 2 - 0.05, (height - top_t) / 2 + 0.15),
              (width - 0.06, 0.02, height - top_t - 0.3), 'desk', 'top')
    if rng.random() < 0.4:  # drawer pedestal
        pw = 0.4
        x = (width / 2 - pw / 2 - 0.04) * (1 if rng.random() < 0.5 else -1)
        b.box((x, 0, (height - top_t) / 2), (pw, depth - 0.08, height - top_t - 0.002),
              'desk', 'furniture')
    if rng.random() < 0.5:  # a monitor (unlabelled in 3D, 'tv' in 2D)
        mw, mh = _u(rng, 0.45, 0.7), _u(rng, 0.3, 0.42)
        b.box((0, depth / 2 - 0.2, height + 0.01), (0.2, 0.15, 0.02), 'tv', 'tv', class3d='')
        b.box((0, depth / 2 - 0.2, height + 0.1), (0.04, 0.03, 0.18), 'tv', 'tv', class3d='')
        b.box((0, depth / 2 - 0.23, height + 0.17 + mh / 2), (mw, 0.03, mh), 'tv', 'tv',
              class3d='')
    return b.done()


def tv(rng: np.random.Generator) -> Furniture:
    """A television on a stand (stood on a low cabinet); unlabelled in 3D."""
    width, height = _u(rng, 0.8, 1.3), _u(rng, 0.5, 0.75)
    b = _Builder('tv', '')
    b.box((0, 0, 0.01), (0.35, 0.2, 0.02), 'tv', 'tv')
    b.box((0, 0, 0.06), (0.06, 0.04, 0.08), 'tv', 'tv')
    b.box((0, 0, 0.08 + height / 2), (width, 0.05, height), 'tv', 'tv')
    return b.done()


# ----------------------------------------------------------------- kitchen
def counter(rng: np.random.Generator, length: float, with_sink: bool) -> Furniture:
    """Base cabinets (3D cabinet) under a countertop (3D counter), optional sink."""
    depth, height = _u(rng, 0.58, 0.64), _u(rng, 0.86, 0.92)
    top_t = _u(rng, 0.03, 0.045)
    b = _Builder('counter', 'cabinet')
    body_h = height - top_t
    b.box((0, 0.02, 0.05), (length, depth - 0.04, 0.1), 'cabinet', 'furniture')
    b.box((0, 0.02, 0.1 + (body_h - 0.1) / 2), (length, depth - 0.04, body_h - 0.1), 'cabinet',
          'furniture')
    units = max(1, int(round(length / 0.6)))
    uw = length / units
    for i in range(units):
        x = -length / 2 + uw * (i + 0.5)
        b.box((x, -depth / 2 + 0.04 - 0.008, 0.1 + (body_h - 0.1) / 2),
              (uw - 0.01, 0.016, body_h - 0.11), 'cabinet', 'furniture')
        b.box((x + uw * 0.3, -depth / 2 + 0.04 - 0.025, body_h - 0.12), (0.02, 0.02, 0.12),
              'cabinet', 'leg')
    b.box((0, 0, height - top_t / 2), (length + 0.02, depth + 0.02, top_t), 'countertop',
          'countertop', class3d='counter')
    if with_sink:
        sw, sd = _u(rng, 0.45, 0.6), _u(rng, 0.38, 0.45)
        x = _u(rng, -length / 2 + sw / 2 + 0.05, length / 2 - sw / 2 - 0.05)
        b.box((x, -0.02, height + 0.01), (sw, sd, 0.02), 'sink', 'appliance', class3d='sink')
        b.cyl(x, sd / 2 + 0.02, height, height + 0.25, 0.015, 'sink', 'appliance',
              class3d='sink')
        b.box((x, sd / 2 - 0.06, height + 0.24), (0.03, 0.16, 0.03), 'sink', 'appliance',
              class3d='sink')
    return b.done()


def wall_cabinets(rng: np.random.Generator, length: float) -> Furniture:
    depth, height = _u(rng, 0.32, 0.38), _u(rng, 0.6, 0.8)
    b = _Builder('wall_cabinets', 'cabinet')
    b.box((0, 0, height / 2), (length, depth, height), 'cabinet', 'furniture')
    units = max(1, int(round(length / 0.6)))
    uw = length / units
    for i in range(units):
        x = -length / 2 + uw * (i + 0.5)
        b.box((x, -depth / 2 - 0.008, height / 2), (uw - 0.01, 0.016, height - 0.01), 'cabinet',
              'furniture')
    return b.done()


def refrigerator(rng: np.random.Generator) -> Furniture:
    width, depth, height = _u(rng, 0.6, 0.9), _u(rng, 0.6, 0.75), _u(rng, 1.5, 1.95)
    b = _Builder('refrigerator', 'refrigerator')
    b.box((0, 0, height / 2), (width, depth, height), 'refrigerator', 'appliance')
    split = height * _u(rng, 0.6, 0.72)
    if width > 0.8 and rng.random() < 0.5:  # side-by-side doors
        for sx in (-1, 1):
            b.box((sx * width / 4, -depth / 2 - 0.01, height / 2), (width / 2 - 0.01, 0.02,
                                                                  height - 0.02),
                  'refrigerator', 'appliance')
            b.cyl(-sx * 0.06, -depth / 2 - 0.05, height * 0.3, height * 0.75, 0.012,
                  'refrigerator', 'leg')
    else:
        for z0, z1 in ((0.01, split - 0.01), (split + 0.01, height - 0.01)):
            b.box((0, -depth / 2 - 0.01, (z0 + z1) / 2), (width - 0.02, 0.02, z1 - z0),
                  'refrigerator', 'appliance')
            b.cyl(width / 2 - 0.08, -depth / 2 - 0.05, z0 + 0.05, z0 + min(0.5, z1 - z0 - 0.1),
                  0.012, 'refrigerator', 'leg')
    return b.done()


# ---------------------------------------------------------------- bathroom
def toilet(rng: np.random.Generator) -> Furniture:
    b = _Builder('toilet', 'toilet')
    depth = _u(rng, 0.65, 0.75)
    seat_h = _u(rng, 0.38, 0.43)
    radius = _u(rng, 0.17, 0.2)
    tank_w, tank_d, tank_h = _u(rng, 0.38, 0.46), _u(rng, 0.16, 0.22), _u(rng, 0.3, 0.42)
    bowl_y = -depth / 2 + radius + 0.03
    b.cyl(0, bowl_y, 0, seat_h - 0.03, radius, 'toilet', 'porcelain')
    b.cyl(0, bowl_y, seat_h - 0.03, seat_h, radius + 0.01, 'toilet', 'porcelain')
    b.box((0, (bowl_y + depth / 2 - tank_d) / 2, (seat_h - 0.03) / 2),
          (0.2, depth / 2 - tank_d - bowl_y, seat_h - 0.03), 'toilet', 'porcelain')
    b.box((0, depth / 2 - tank_d / 2, seat_h - 0.05 + tank_h / 2), (tank_w, tank_d, tank_h),
          'toilet', 'porcelain')
    return b.done()


def bathroom_sink(rng: np.random.Generator) -> Furniture:
    """A pedestal sink (3D sink) or a vanity: cabinet (3D cabinet) + basin (3D sink)."""
    width, depth, height = _u(rng, 0.5, 0.8), _u(rng, 0.4, 0.5), _u(rng, 0.82, 0.9)
    b = _Builder('bathroom_sink', 'sink')
    if rng.random() < 0.5:
        b.cyl(0, depth / 2 - 0.15, 0, height - 0.15, _u(rng, 0.07, 0.1), 'sink', 'porcelain')
    else:
        b.box((0, 0.01, (height - 0.15) / 2), (width, depth - 0.02, height - 0.15), 'cabinet',
              'furniture', class3d='cabinet')
    b.box((0, 0, height - 0.075), (width, depth, 0.15), 'sink', 'porcelain')
    b.cyl(0, depth / 2 - 0.06, height, height + 0.2, 0.015, 'sink', 'appliance')
    b.box((0, depth / 2 - 0.12, height + 0.19), (0.03, 0.13, 0.03), 'sink', 'appliance')
    return b.done()


def bathtub(rng: np.random.Generator, shower_curtain: bool) -> Furniture:
    """A hollow tub along a wall; an optional shower curtain hangs along its front."""
    length, width, height = _u(rng, 1.5, 1.75), _u(rng, 0.7, 0.8), _u(rng, 0.5, 0.6)
    t = _u(rng, 0.06, 0.1)
    b = _Builder('bathtub', 'bathtub')
    b.box((0, 0, 0.04), (length, width, 0.08), 'bathtub', 'porcelain')
    for sy in (-1, 1):
        b.box((0, sy * (width / 2 - t / 2), height / 2), (length, t, height), 'bathtub',
              'porcelain')
    for sx in (-1, 1):
        b.box((sx * (length / 2 - t / 2), 0, height / 2), (t, width - 2 * t, height), 'bathtub',
              'porcelain')
    if shower_curtain:
        cover = length * _u(rng, 0.5, 1.0)
        b.box((-length / 2 + cover / 2, -width / 2 + 0.05, (0.65 + 2.0) / 2),
              (cover, 0.02, 2.0 - 0.65), 'curtain', 'curtain', class3d='shower curtain')
        b.cyl(0, -width / 2 + 0.05, 2.0, 2.03, 0.015, 'curtain', 'leg',
              class3d='shower curtain')
    return b.done()


# --------------------------------------------------------------- wall items
def door(rng: np.random.Generator) -> Furniture:
    width, height = _u(rng, 0.8, 0.95), _u(rng, 2.0, 2.1)
    b = _Builder('door', 'door')
    leaf_t = _u(rng, 0.025, 0.04)
    b.box((0, -leaf_t / 2, height / 2), (width, leaf_t, height), 'door', 'door')
    casing = 0.07
    for sx in (-1, 1):
        b.box((sx * (width / 2 + casing / 2), -0.01, (height + casing) / 2),
              (casing, 0.02, height + casing), 'door', 'window_frame')
    b.box((0, -0.01, height + casing / 2), (width, 0.02, casing), 'door', 'window_frame')
    side = 1 if rng.random() < 0.5 else -1
    b.box((side * (width / 2 - 0.08), -leaf_t - 0.03, 1.0), (0.12, 0.02, 0.02), 'door', 'leg')
    return b.done(keepout=0.8, z_range=(0.0, height + casing))


def window(rng: np.random.Generator, curtains: bool) -> Furniture:
    width, height, sill = _u(rng, 0.8, 1.8), _u(rng, 1.0, 1.5), _u(rng, 0.75, 1.0)
    b = _Builder('window', 'window')
    b.box((0, -0.02, sill + height / 2), (width + 0.1, 0.04, height + 0.1), 'window',
          'window_frame')
    panes = 1 if width < 1.0 else 2
    pw = (width - 0.06 * (panes + 1)) / panes
    for i in range(panes):
        x = -width / 2 + 0.06 + (pw + 0.06) * i + pw / 2
        b.box((x, -0.0225, sill + height / 2), (pw, 0.045, height - 0.12), 'window', 'glass')
    b.box((0, -0.06, sill - 0.065), (width + 0.16, 0.12, 0.03), 'window', 'window_frame')
    z_lo, z_hi = sill - 0.08, sill + height + 0.05
    if curtains:
        bottom = 0.02 if rng.random() < 0.6 else sill - 0.1
        top = sill + height + _u(rng, 0.1, 0.25)
        for sx in (-1, 1):
            cw = _u(rng, 0.25, 0.45)
            b.box((sx * (width / 2 + cw / 2 - 0.05), -0.14, (bottom + top) / 2),
                  (cw, _u(rng, 0.05, 0.1), top - bottom), 'curtain', 'curtain',
                  class3d='curtain')
        z_lo, z_hi = bottom, top
    return b.done(z_range=(z_lo, z_hi))


def picture(rng: np.random.Generator, mirror: bool = False) -> Furniture:
    width, height = _u(rng, 0.3, 1.0), _u(rng, 0.3, 0.8)
    if mirror:
        width, height = _u(rng, 0.4, 0.8), _u(rng, 0.6, 0.9)
    name = 'mirror' if mirror else 'picture'
    b = _Builder(name, '' if mirror else 'picture')
    depth = _u(rng, 0.015, 0.03)
    b.box((0, -depth / 2, height / 2), (width, depth, height), name,
          'frame' if not mirror else 'window_frame')
    b.box((0, -depth / 2 - 0.004, height / 2), (width - 0.06, depth, height - 0.06), name,
          'mirror' if mirror else 'picture')
    return b.done()


#: builders that take only a generator, by name (used by the room programs)
SIMPLE_BUILDERS: Dict[str, Callable[[np.random.Generator], Furniture]] = {
    'bed': bed, 'bookshelf': bookshelf, 'rug': rug, 'sofa': sofa, 'stool': stool, 'bin': bin_,
    'box': box, 'desk': desk, 'tv': tv, 'refrigerator': refrigerator, 'toilet': toilet,
    'bathroom_sink': bathroom_sink, 'door': door}
