"""Kitchen and bathroom fixtures: counters, wall cabinets, refrigerator,
toilet, sinks, bathtub (with its shower curtain)."""
from __future__ import annotations

import numpy as np

from .furniture_parts import Furniture, PartsBuilder, uniform


def counter(rng: np.random.Generator, length: float, with_sink: bool) -> Furniture:
    """Base cabinets (3D cabinet) under a countertop (3D counter), optional sink."""
    depth, height = uniform(rng, 0.58, 0.64), uniform(rng, 0.86, 0.92)
    top_t = uniform(rng, 0.03, 0.045)
    b = PartsBuilder('counter', 'cabinet')
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
        sw, sd = uniform(rng, 0.45, 0.6), uniform(rng, 0.38, 0.45)
        x = uniform(rng, -length / 2 + sw / 2 + 0.05, length / 2 - sw / 2 - 0.05)
        b.box((x, -0.02, height + 0.01), (sw, sd, 0.02), 'sink', 'appliance', class3d='sink')
        b.cyl(x, sd / 2 + 0.02, height, height + 0.25, 0.015, 'sink', 'appliance',
              class3d='sink')
        b.box((x, sd / 2 - 0.06, height + 0.24), (0.03, 0.16, 0.03), 'sink', 'appliance',
              class3d='sink')
    return b.done()


def wall_cabinets(rng: np.random.Generator, length: float) -> Furniture:
    depth, height = uniform(rng, 0.32, 0.38), uniform(rng, 0.6, 0.8)
    b = PartsBuilder('wall_cabinets', 'cabinet')
    b.box((0, 0, height / 2), (length, depth, height), 'cabinet', 'furniture')
    units = max(1, int(round(length / 0.6)))
    uw = length / units
    for i in range(units):
        x = -length / 2 + uw * (i + 0.5)
        b.box((x, -depth / 2 - 0.008, height / 2), (uw - 0.01, 0.016, height - 0.01), 'cabinet',
              'furniture')
    return b.done()


def refrigerator(rng: np.random.Generator) -> Furniture:
    width, depth, height = uniform(rng, 0.6, 0.9), uniform(rng, 0.6, 0.75), uniform(rng, 1.5, 1.95)
    b = PartsBuilder('refrigerator', 'refrigerator')
    b.box((0, 0, height / 2), (width, depth, height), 'refrigerator', 'appliance')
    split = height * uniform(rng, 0.6, 0.72)
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


def toilet(rng: np.random.Generator) -> Furniture:
    b = PartsBuilder('toilet', 'toilet')
    depth = uniform(rng, 0.65, 0.75)
    seat_h = uniform(rng, 0.38, 0.43)
    radius = uniform(rng, 0.17, 0.2)
    tank_w, tank_d, tank_h = (uniform(rng, 0.38, 0.46), uniform(rng, 0.16, 0.22),
                              uniform(rng, 0.3, 0.42))
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
    width, depth, height = uniform(rng, 0.5, 0.8), uniform(rng, 0.4, 0.5), uniform(rng, 0.82, 0.9)
    b = PartsBuilder('bathroom_sink', 'sink')
    if rng.random() < 0.5:
        b.cyl(0, depth / 2 - 0.15, 0, height - 0.15, uniform(rng, 0.07, 0.1), 'sink', 'porcelain')
    else:
        b.box((0, 0.01, (height - 0.15) / 2), (width, depth - 0.02, height - 0.15), 'cabinet',
              'furniture', class3d='cabinet')
    b.box((0, 0, height - 0.075), (width, depth, 0.15), 'sink', 'porcelain')
    b.cyl(0, depth / 2 - 0.06, height, height + 0.2, 0.015, 'sink', 'appliance')
    b.box((0, depth / 2 - 0.12, height + 0.19), (0.03, 0.13, 0.03), 'sink', 'appliance')
    return b.done()


def bathtub(rng: np.random.Generator, shower_curtain: bool) -> Furniture:
    """A hollow tub along a wall; an optional shower curtain hangs along its front."""
    length, width, height = uniform(rng, 1.5, 1.75), uniform(rng, 0.7, 0.8), uniform(rng, 0.5, 0.6)
    t = uniform(rng, 0.06, 0.1)
    b = PartsBuilder('bathtub', 'bathtub')
    b.box((0, 0, 0.04), (length, width, 0.08), 'bathtub', 'porcelain')
    for sy in (-1, 1):
        b.box((0, sy * (width / 2 - t / 2), height / 2), (length, t, height), 'bathtub',
              'porcelain')
    for sx in (-1, 1):
        b.box((sx * (length / 2 - t / 2), 0, height / 2), (t, width - 2 * t, height), 'bathtub',
              'porcelain')
    if shower_curtain:
        cover = length * uniform(rng, 0.5, 1.0)
        b.box((-length / 2 + cover / 2, -width / 2 + 0.05, (0.65 + 2.0) / 2),
              (cover, 0.02, 2.0 - 0.65), 'curtain', 'curtain', class3d='shower curtain')
        b.cyl(0, -width / 2 + 0.05, 2.0, 2.03, 0.015, 'curtain', 'leg',
              class3d='shower curtain')
    return b.done()
