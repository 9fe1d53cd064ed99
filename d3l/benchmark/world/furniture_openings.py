"""Wall items: doors, windows (with curtains), pictures and mirrors."""
from __future__ import annotations

import numpy as np

from .furniture_parts import Furniture, PartsBuilder, uniform


def door(rng: np.random.Generator) -> Furniture:
    width, height = uniform(rng, 0.8, 0.95), uniform(rng, 2.0, 2.1)
    b = PartsBuilder('door', 'door')
    leaf_t = uniform(rng, 0.025, 0.04)
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
    width, height, sill = uniform(rng, 0.8, 1.8), uniform(rng, 1.0, 1.5), uniform(rng, 0.75, 1.0)
    b = PartsBuilder('window', 'window')
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
        top = sill + height + uniform(rng, 0.1, 0.25)
        for sx in (-1, 1):
            cw = uniform(rng, 0.25, 0.45)
            b.box((sx * (width / 2 + cw / 2 - 0.05), -0.14, (bottom + top) / 2),
                  (cw, uniform(rng, 0.05, 0.1), top - bottom), 'curtain', 'curtain',
                  class3d='curtain')
        z_lo, z_hi = bottom, top
    return b.done(z_range=(z_lo, z_hi))


def picture(rng: np.random.Generator, mirror: bool = False) -> Furniture:
    width, height = uniform(rng, 0.3, 1.0), uniform(rng, 0.3, 0.8)
    if mirror:
        width, height = uniform(rng, 0.4, 0.8), uniform(rng, 0.6, 0.9)
    name = 'mirror' if mirror else 'picture'
    b = PartsBuilder(name, '' if mirror else 'picture')
    depth = uniform(rng, 0.015, 0.03)
    b.box((0, -depth / 2, height / 2), (width, depth, height), name,
          'frame' if not mirror else 'window_frame')
    b.box((0, -depth / 2 - 0.004, height / 2), (width - 0.06, depth, height - 0.06), name,
          'mirror' if mirror else 'picture')
    return b.done()
