"""Tables and desks, and what stands on or beside them: TV, lamps, rugs."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .furniture_parts import Furniture, PartsBuilder, uniform


def table(rng: np.random.Generator, kind: Optional[str] = None) -> Furniture:
    """A ``dining`` / ``round`` / ``coffee`` table."""
    kind = kind or str(rng.choice(['dining', 'dining', 'round']))
    b = PartsBuilder(f'table_{kind}', 'table')
    top_t = uniform(rng, 0.025, 0.05)
    if kind == 'round':
        radius, height = uniform(rng, 0.4, 0.6), uniform(rng, 0.72, 0.78)
        b.cyl(0, 0, height - top_t, height, radius, 'table', 'top')
        b.cyl(0, 0, 0.03, height - top_t, 0.04, 'leg', 'leg')
        b.cyl(0, 0, 0, 0.03, radius * 0.55, 'leg', 'leg')
        return b.done()
    if kind == 'coffee':
        width, depth, height = (uniform(rng, 0.8, 1.3), uniform(rng, 0.45, 0.7),
                                uniform(rng, 0.38, 0.48))
    else:
        width, depth, height = (uniform(rng, 0.8, 1.8), uniform(rng, 0.7, 1.0),
                                uniform(rng, 0.72, 0.78))
    b.box((0, 0, height - top_t / 2), (width, depth, top_t), 'table', 'top')
    b.legs(width, depth, height - top_t, 0.05, uniform(rng, 0.04, 0.07), bool(rng.random() < 0.4))
    if kind == 'coffee' and rng.random() < 0.5:  # lower shelf
        b.box((0, 0, 0.12), (width - 0.1, depth - 0.1, 0.02), 'table', 'top')
    return b.done()


def desk(rng: np.random.Generator) -> Furniture:
    width, depth, height = uniform(rng, 1.0, 1.8), uniform(rng, 0.55, 0.8), uniform(rng, 0.72, 0.76)
    b = PartsBuilder('desk', 'desk')
    top_t = uniform(rng, 0.025, 0.04)
    b.box((0, 0, height - top_t / 2), (width, depth, top_t), 'desk', 'top')
    if rng.random() < 0.5:
        b.legs(width, depth, height - top_t, 0.04, uniform(rng, 0.04, 0.06),
               bool(rng.random() < 0.3))
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
        mw, mh = uniform(rng, 0.45, 0.7), uniform(rng, 0.3, 0.42)
        b.box((0, depth / 2 - 0.2, height + 0.01), (0.2, 0.15, 0.02), 'tv', 'tv', class3d='')
        b.box((0, depth / 2 - 0.2, height + 0.1), (0.04, 0.03, 0.18), 'tv', 'tv', class3d='')
        b.box((0, depth / 2 - 0.23, height + 0.17 + mh / 2), (mw, 0.03, mh), 'tv', 'tv',
              class3d='')
    return b.done()


def tv(rng: np.random.Generator) -> Furniture:
    """A television on a stand (stood on a low cabinet); unlabelled in 3D."""
    width, height = uniform(rng, 0.8, 1.3), uniform(rng, 0.5, 0.75)
    b = PartsBuilder('tv', '')
    b.box((0, 0, 0.01), (0.35, 0.2, 0.02), 'tv', 'tv')
    b.box((0, 0, 0.06), (0.06, 0.04, 0.08), 'tv', 'tv')
    b.box((0, 0, 0.08 + height / 2), (width, 0.05, height), 'tv', 'tv')
    return b.done()


def lamp(rng: np.random.Generator, table: bool = False) -> Furniture:
    """A floor lamp (or a small table lamp): base, pole and shade; unlabelled in 3D."""
    b = PartsBuilder('lamp', '')
    scale = 0.3 if table else 1.0
    base_r = uniform(rng, 0.1, 0.15) * (0.7 if table else 1.0)
    pole = uniform(rng, 1.35, 1.65) * scale
    shade_r, shade_h = (uniform(rng, 0.15, 0.24) * (0.7 if table else 1.0),
                        uniform(rng, 0.2, 0.3) * (0.7 if table else 1.0))
    b.cyl(0, 0, 0, 0.03, base_r, 'lamp', 'lamp')
    b.cyl(0, 0, 0.03, pole, 0.012, 'lamp', 'lamp')
    b.cyl(0, 0, pole - 0.05, pole - 0.05 + shade_h, shade_r, 'lamp', 'lamp')
    return b.done()


def rug(rng: np.random.Generator) -> Furniture:
    width, depth = uniform(rng, 1.2, 2.4), uniform(rng, 0.8, 1.8)
    b = PartsBuilder('rug', 'floor')
    b.box((0, 0, 0.005), (width, depth, 0.01), 'rug', 'rug')
    return b.done(collides=False)
