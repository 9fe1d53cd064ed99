"""Beds and seating: bed, chair, sofa, stool (sizes in metres)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .furniture_parts import Furniture, PartsBuilder, uniform


def bed(rng: np.random.Generator) -> Furniture:
    b = PartsBuilder('bed', 'bed')
    width = float(rng.choice([0.9, 1.2, 1.4, 1.6, 1.8])) + uniform(rng, -0.05, 0.05)
    length = uniform(rng, 1.95, 2.15)
    leg_h = uniform(rng, 0.08, 0.15) if rng.random() < 0.5 else 0.0
    frame_h = uniform(rng, 0.18, 0.32)
    mattress_h = uniform(rng, 0.16, 0.26)
    head_h = uniform(rng, 0.8, 1.15)
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
        cover = length * uniform(rng, 0.5, 0.7)
        b.box((0, -length / 2 + cover / 2 - 0.01, frame_top + (mattress_h + 0.04) / 2),
              (width + 0.02, cover, mattress_h + 0.04), 'bed', 'bedding', own=True)
    return b.done()


def chair(rng: np.random.Generator, style: Optional[str] = None) -> Furniture:
    style = style or str(rng.choice(['wood', 'wood', 'office', 'padded']))
    b = PartsBuilder(f'chair_{style}', 'chair')
    seat_w, seat_d, seat_h = (uniform(rng, 0.4, 0.52), uniform(rng, 0.4, 0.5),
                              uniform(rng, 0.42, 0.5))
    back_h = uniform(rng, 0.35, 0.55)
    seat_t = uniform(rng, 0.03, 0.06)
    if style == 'office':
        b.cyl(0, 0, 0, 0.05, uniform(rng, 0.25, 0.3), 'leg', 'leg')
        b.cyl(0, 0, 0.05, seat_h - seat_t, 0.025, 'leg', 'leg')
    else:
        b.legs(seat_w, seat_d, seat_h - seat_t, 0.03, uniform(rng, 0.025, 0.045),
               bool(rng.random() < 0.4))
    seat_role = 'upholstery' if style in ('office', 'padded') else 'chair'
    b.box((0, 0, seat_h - seat_t / 2), (seat_w, seat_d, seat_t), 'chair', seat_role)
    if style == 'padded':
        b.box((0, -0.01, seat_h + 0.03), (seat_w - 0.04, seat_d - 0.06, 0.06), 'cushion',
              'upholstery')
    back_t = uniform(rng, 0.025, 0.06)
    b.box((0, seat_d / 2 - back_t / 2, seat_h + back_h / 2), (seat_w, back_t, back_h), 'chair',
          seat_role)
    if style == 'office' and rng.random() < 0.5:  # arm rests
        for sx in (-1, 1):
            b.box((sx * (seat_w / 2 + 0.03), 0, seat_h + 0.2), (0.05, seat_d * 0.8, 0.04),
                  'chair', 'leg')
    return b.done()


def sofa(rng: np.random.Generator) -> Furniture:
    width, depth = uniform(rng, 1.5, 2.4), uniform(rng, 0.8, 0.95)
    b = PartsBuilder('sofa', 'sofa')
    leg_h = uniform(rng, 0.06, 0.14) if rng.random() < 0.6 else 0.0
    base_h = uniform(rng, 0.3, 0.38)
    back_t, back_top = uniform(rng, 0.15, 0.25), uniform(rng, 0.75, 0.9)
    arm_w, arm_h = uniform(rng, 0.12, 0.22), uniform(rng, 0.55, 0.65)
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
    cushion_t = uniform(rng, 0.1, 0.14)
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
    b = PartsBuilder('stool', 'otherfurniture')
    radius, height = uniform(rng, 0.15, 0.2), uniform(rng, 0.42, 0.75)
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
