"""Procedural primitive shapes: a tiny, exact stand-in for shape datasets.

Each shape is sampled on its surface with outward normals and a part label,
so the same generator serves classification (category), part segmentation
(parts) and small multi-object scenes (category per point) in tests and
quick experiments. Everything is seeded and deterministic.
"""
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from d3l.registry import DATASETS

Sample = Tuple[np.ndarray, np.ndarray, np.ndarray]  # points, normals, parts


def _box(n: int, rng: np.random.Generator) -> Sample:
    size = rng.uniform(0.5, 1.0, 3)
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]]).repeat(2)
    face = rng.choice(6, n, p=areas / areas.sum())
    axis, sign = face // 2, np.where(face % 2 == 0, -1.0, 1.0)
    points = (rng.random((n, 3)) - 0.5) * size
    points[np.arange(n), axis] = sign * size[axis] / 2
    normals = np.zeros((n, 3))
    normals[np.arange(n), axis] = sign
    parts = np.where(axis == 2, np.where(sign > 0, 0, 1), 2)  # top, bottom, sides
    return points, normals, parts


def _cylinder(n: int, rng: np.random.Generator) -> Sample:
    radius, height = rng.uniform(0.3, 0.5), rng.uniform(0.6, 1.0)
    side_area, cap_area = 2 * np.pi * radius * height, np.pi * radius ** 2
    on_side = rng.random(n) < side_area / (side_area + 2 * cap_area)
    theta = rng.uniform(0, 2 * np.pi, n)
    r = np.where(on_side, radius, radius * np.sqrt(rng.random(n)))
    top = rng.random(n) < 0.5
    z = np.where(on_side, rng.uniform(-height / 2, height / 2, n),
                 np.where(top, height / 2, -height / 2))
    points = np.stack([r * np.cos(theta), r * np.sin(theta), z], 1)
    normals = np.where(on_side[:, None], np.stack([np.cos(theta), np.sin(theta), 0 * z], 1),
                       np.stack([0 * z, 0 * z, np.where(top, 1.0, -1.0)], 1))
    parts = np.where(on_side, 0, 1)  # side, caps
    return points, normals, parts


def _sphere(n: int, rng: np.random.Generator) -> Sample:
    radius = rng.uniform(0.35, 0.5)
    normals = rng.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    parts = (normals[:, 2] < 0).astype(np.int64)  # upper, lower hemisphere
    return normals * radius, normals, parts


def _cone(n: int, rng: np.random.Generator) -> Sample:
    radius, height = rng.uniform(0.3, 0.5), rng.uniform(0.6, 1.0)
    slant = np.hypot(radius, height)
    side_area, base_area = np.pi * radius * slant, np.pi * radius ** 2
    on_side = rng.random(n) < side_area / (side_area + base_area)
    theta = rng.uniform(0, 2 * np.pi, n)
    t = np.sqrt(rng.random(n))  # uniform on the lateral surface / base disc
    r = radius * t
    z = np.where(on_side, height / 2 - height * t, -height / 2)
    points = np.stack([r * np.cos(theta), r * np.sin(theta), z], 1)
    side_normal = np.stack([height * np.cos(theta), height * np.sin(theta),
                            np.full(n, radius)], 1) / slant
    normals = np.where(on_side[:, None], side_normal,
                       np.stack([0 * z, 0 * z, -np.ones(n)], 1))
    parts = np.where(on_side, 0, 1)  # side, base
    return points, normals, parts


def _torus(n: int, rng: np.random.Generator) -> Sample:
    major, minor = rng.uniform(0.3, 0.4), rng.uniform(0.08, 0.15)
    # rejection sampling for uniform density over the surface
    u = rng.uniform(0, 2 * np.pi, 4 * n)
    v = rng.uniform(0, 2 * np.pi, 4 * n)
    keep = rng.random(4 * n) < (major + minor * np.cos(v)) / (major + minor)
    u, v = u[keep][:n], v[keep][:n]
    normals = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), np.sin(v)], 1)
    centre = np.stack([major * np.cos(u), major * np.sin(u), 0 * u], 1)
    parts = (np.cos(v) < 0).astype(np.int64)  # outer rim, inner rim
    return centre + minor * normals, normals, parts


SHAPES: Dict[str, Callable[[int, np.random.Generator], Sample]] = {
    'box': _box, 'cylinder': _cylinder, 'sphere': _sphere, 'cone': _cone, 'torus': _torus}
#: number of parts of each category, in SHAPES order
NUM_PARTS = {'box': 3, 'cylinder': 2, 'sphere': 2, 'cone': 2, 'torus': 2}


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def sample_shape(category: str, num_points: int, rng: np.random.Generator,
                 rotate: bool = True) -> Sample:
    """Points (N, 3) float32, unit normals (N, 3) float32, parts (N,) int64."""
    if category not in SHAPES:
        raise KeyError(f'unknown shape {category!r}; choose from {sorted(SHAPES)}')
    points, normals, parts = SHAPES[category](num_points, rng)
    if rotate:
        rotation = random_rotation(rng)
        points, normals = points @ rotation.T, normals @ rotation.T
    return points.astype(np.float32), normals.astype(np.float32), parts.astype(np.int64)


@DATASETS.register_module()
class SyntheticShapesDataset(BaseDataset):
    """Seeded primitive shapes for classification, parts or small scenes.

    Args:
        task: ``'cls'`` (one shape, ``label`` = category), ``'part'`` (one
            shape, per-point ``labels`` = global part id, ``category``), or
            ``'seg'`` (2-4 shapes placed side by side, per-point ``labels`` =
            category).
        num_samples / num_points: dataset size and points per sample.
        categories: subset of :data:`SHAPES` to use.
        seed: generator seed; sample ``i`` depends only on (seed, i).
        pipeline: transforms applied to each sample dict (``points``,
            ``normals``, ``colors``, labels).
    """

    def __init__(self, task: str = 'seg', num_samples: int = 16, num_points: int = 512,
                 categories: Sequence[str] = tuple(SHAPES), seed: int = 0,
                 pipeline: Sequence = (), test_mode: bool = False, **kwargs):
        if task not in ('cls', 'part', 'seg'):
            raise ValueError(f'SyntheticShapesDataset: task must be cls, part or seg, got {task!r}')
        self.task = task
        self.num_samples = num_samples
        self.num_points = num_points
        self.categories = list(categories)
        self.seed = seed
        part_offsets = np.cumsum([0] + [NUM_PARTS[c] for c in self.categories])
        self.part_offsets = {c: int(o) for c, o in zip(self.categories, part_offsets)}
        if task == 'part':
            classes = [f'{c}_{p}' for c in self.categories for p in range(NUM_PARTS[c])]
        else:
            classes = list(self.categories)
        metainfo = dict(classes=tuple(classes), task=task, categories=tuple(self.categories),
                        category_parts={c: list(range(self.part_offsets[c],
                                                      self.part_offsets[c] + NUM_PARTS[c]))
                                        for c in self.categories})
        super().__init__(metainfo=metainfo, pipeline=list(pipeline), test_mode=test_mode,
                         serialize_data=False, **kwargs)

    def load_data_list(self) -> List[dict]:
        return [dict(sample_idx=i) for i in range(self.num_samples)]

    def generate(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index])
        if self.task == 'seg':
            count = int(rng.integers(2, 5))
            chosen = rng.integers(0, len(self.categories), count)
            sizes = np.full(count, self.num_points // count)
            sizes[: self.num_points - sizes.sum()] += 1
            points, normals, labels = [], [], []
            for k, (c, n) in enumerate(zip(chosen, sizes)):
                p, nrm, _ = sample_shape(self.categories[c], int(n), rng)
                points.append(p + np.array([1.2 * k, rng.uniform(-0.2, 0.2), 0], np.float32))
                normals.append(nrm)
                labels.append(np.full(int(n), c, np.int64))
            sample = dict(points=np.concatenate(points), normals=np.concatenate(normals),
                          labels=np.concatenate(labels))
        else:
            c = int(rng.integers(0, len(self.categories)))
            category = self.categories[c]
            points, normals, parts = sample_shape(category, self.num_points, rng)
            sample = dict(points=points, normals=normals, category=category)
            if self.task == 'cls':
                sample['label'] = c
            else:
                sample['labels'] = parts + self.part_offsets[category]
        sample['colors'] = (0.5 + 0.5 * sample['normals']).astype(np.float32)
        sample['sample_idx'] = index
        return sample

    def get_data_info(self, idx: int) -> dict:
        return self.generate(int(self.data_list[idx]['sample_idx']))
