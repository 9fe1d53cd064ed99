"""The parts an object is built from (:class:`Part`, :class:`Furniture`,
:class:`PartsBuilder`); the builders themselves live in ``furniture_*.py``
(:mod:`.furniture` gathers them).

Each builder returns a :class:`Furniture` in its own frame: the footprint is
centred on the origin, the object stands on ``z = 0``, its width runs along
x, its depth along y, its back faces +y (the side put against a wall) and
its front faces -y. Every part carries its 2D teacher class, its 3D class
(ScanNet-20 name, ``''`` for unlabelled) and a material role; parts of one
object that share a role share a material (all legs of a chair look alike).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

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


class PartsBuilder:
    """Collects the parts of one object (every builder in ``furniture_*.py``
    uses one); :meth:`done` re-centres them into a :class:`Furniture`."""

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


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw in [lo, hi) as a plain float (sizes are stored as Python floats)."""
    return float(rng.uniform(lo, hi))
