"""Storage: cabinets (wardrobe, dresser, nightstand, file), bookshelves, bins, boxes."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .furniture_parts import Furniture, PartsBuilder, uniform


def cabinet(rng: np.random.Generator, kind: Optional[str] = None) -> Furniture:
    """A cabinet: ``wardrobe``, ``low`` (dresser, TV stand), ``night`` or ``file``."""
    kind = kind or str(rng.choice(['wardrobe', 'low', 'night', 'file']))
    dims = {'wardrobe': ((0.8, 1.6), (0.55, 0.62), (1.8, 2.2)),
            'low': ((0.7, 1.6), (0.4, 0.5), (0.5, 0.9)),
            'night': ((0.4, 0.55), (0.35, 0.45), (0.45, 0.62)),
            'file': ((0.4, 0.5), (0.5, 0.6), (0.6, 1.3))}[kind]
    width, depth, height = (uniform(rng, *d) for d in dims)
    b = PartsBuilder(f'cabinet_{kind}', 'cabinet')
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
    width, depth, height = uniform(rng, 0.6, 1.2), uniform(rng, 0.28, 0.4), uniform(rng, 1.0, 2.0)
    b = PartsBuilder('bookshelf', 'bookshelf')
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
            run = uniform(rng, 0.06, 0.22)
            if x + run > inner / 2:
                break
            if rng.random() < 0.75:
                h = min(spacing - t - 0.02, uniform(rng, 0.15, 0.3))
                d = min(depth - 0.03, uniform(rng, 0.15, 0.25))
                b.box((x + run / 2, -depth / 2 + d / 2 + 0.02, base + h / 2), (run - 0.004, d, h),
                      'book', 'book', own=True)
            x += run
    return b.done()


def bin_(rng: np.random.Generator) -> Furniture:
    b = PartsBuilder('bin', 'otherfurniture')
    if rng.random() < 0.6:
        radius, height = uniform(rng, 0.12, 0.18), uniform(rng, 0.3, 0.5)
        b.cyl(0, 0, 0, height, radius, 'bin', 'bin')
        return b.done()
    w, d, h = uniform(rng, 0.25, 0.35), uniform(rng, 0.2, 0.3), uniform(rng, 0.3, 0.5)
    b.box((0, 0, h / 2), (w, d, h), 'bin', 'bin')
    return b.done()


def box(rng: np.random.Generator) -> Furniture:
    b = PartsBuilder('box', 'otherfurniture')
    w, d, h = uniform(rng, 0.3, 0.6), uniform(rng, 0.3, 0.5), uniform(rng, 0.2, 0.45)
    b.box((0, 0, h / 2), (w, d, h), 'box', 'box')
    total = h
    if rng.random() < 0.4:  # a second box stacked on top
        h2 = uniform(rng, 0.15, 0.35)
        b.box((uniform(rng, -0.05, 0.05), 0, h + h2 / 2), (w * 0.8, d * 0.85, h2), 'box', 'box',
              own=True)
        total += h2
    return b.done()
