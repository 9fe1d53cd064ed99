"""Tiny generated datasets in the official on-disk layouts of ScanNet
(Pointcept format), ModelNet40 (modelnet40_normal_resampled) and ShapeNet
part, for the downstream tests. Importable from any test (pytest puts
``tests/`` on ``sys.path`` beside the root conftest)."""
import json
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np

from d3l.datasets.shapenet_part import SHAPENET_PART_CATEGORIES
from d3l.datasets.synthetic_shapes import sample_shape


def make_scannet_scene(rng: np.random.Generator, num_points: int = 400,
                       ignore_fraction: float = 0.1) -> Dict[str, np.ndarray]:
    """A random 'room': labels follow the point height and colour, so a
    per-point MLP can learn them."""
    coord = rng.uniform([0, 0, 0], [4, 3, 2.5], (num_points, 3)).astype(np.float32)
    labels = (np.floor(coord[:, 2] / 2.5 * 4).astype(np.int64) % 4)  # classes 0..3 by height
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]], np.int64)
    color = np.clip(palette[labels] + rng.integers(-20, 20, (num_points, 3)), 0, 255)
    normal = rng.normal(size=(num_points, 3))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    segment = labels.copy()
    segment[rng.random(num_points) < ignore_fraction] = -1
    return dict(coord=coord, color=color.astype(np.uint8), normal=normal.astype(np.float32),
                segment20=segment.astype(np.int64), instance=np.arange(num_points) // 50)


def make_scannet_root(root: str, scenes: Dict[str, Sequence[str]], num_points: int = 400,
                      seed: int = 0) -> str:
    """Pointcept layout ``{root}/{split}/{scene}/*.npy``; test-split scenes
    have no labels."""
    for split, names in scenes.items():
        for i, name in enumerate(names):
            rng = np.random.default_rng([seed, i, len(split)])
            arrays = make_scannet_scene(rng, num_points)
            if split == 'test':
                arrays = {k: v for k, v in arrays.items() if k in ('coord', 'color', 'normal')}
            folder = osp.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for key, value in arrays.items():
                np.save(osp.join(folder, f'{key}.npy'), value)
    return root


MODELNET_SHAPES = {'bathtub': 'box', 'bowl': 'sphere', 'cone': 'cone', 'night_stand': 'cylinder'}


def make_modelnet_root(root: str, counts: Dict[str, int] = None, num_points: int = 64,
                       shapes: Dict[str, str] = None, seed: int = 0) -> str:
    """``modelnet40_normal_resampled`` layout with primitive shapes standing
    in for the categories (``shapes``: category -> primitive)."""
    shapes = shapes or MODELNET_SHAPES
    counts = counts or {'train': 5, 'test': 2}
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'modelnet40_shape_names.txt'), 'w') as f:
        f.write('\n'.join(shapes) + '\n')
    number = 0
    for split, count in counts.items():
        ids = []
        for category, primitive in shapes.items():
            os.makedirs(osp.join(root, category), exist_ok=True)
            for _ in range(count):
                number += 1
                shape_id = f'{category}_{number:04d}'
                rng = np.random.default_rng([seed, number])
                points, normals, _ = sample_shape(primitive, num_points, rng)
                points = points * rng.uniform(0.5, 3.0) + rng.uniform(-2, 2, 3)  # un-normalised
                np.savetxt(osp.join(root, category, f'{shape_id}.txt'),
                           np.concatenate([points, normals], 1), fmt='%.6f', delimiter=',')
                ids.append(shape_id)
        with open(osp.join(root, f'modelnet40_{split}.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return root


#: ShapeNet categories with two parts, drawn as primitives with two parts
SHAPENET_SHAPES = {'Bag': 'sphere', 'Mug': 'cylinder'}


def make_shapenet_root(root: str, counts: Dict[str, int] = None, num_points: int = 64,
                       shapes: Dict[str, str] = None, seed: int = 0) -> str:
    """``shapenetcore_partanno_segmentation_benchmark_v0_normal`` layout."""
    from d3l.datasets.shapenet_part import category_parts

    shapes = shapes or SHAPENET_SHAPES
    counts = counts or {'train': 4, 'val': 1, 'test': 2}
    parts = category_parts()
    os.makedirs(osp.join(root, 'train_test_split'), exist_ok=True)
    with open(osp.join(root, 'synsetoffset2category.txt'), 'w') as f:
        for name, (synset, _) in SHAPENET_PART_CATEGORIES.items():
            f.write(f'{name}\t{synset}\n')
    number = 0
    for split, count in counts.items():
        entries = []
        for category, primitive in shapes.items():
            synset = SHAPENET_PART_CATEGORIES[category][0]
            os.makedirs(osp.join(root, synset), exist_ok=True)
            for _ in range(count):
                number += 1
                token = f'{number:032x}'
                rng = np.random.default_rng([seed, number])
                points, normals, local = sample_shape(primitive, num_points, rng)
                labels = np.asarray(parts[category])[local]
                np.savetxt(osp.join(root, synset, f'{token}.txt'),
                           np.concatenate([points, normals, labels[:, None]], 1), fmt='%.6f')
                entries.append(f'shape_data/{synset}/{token}')
        with open(osp.join(root, 'train_test_split', f'shuffled_{split}_file_list.json'),
                  'w') as f:
            json.dump(entries, f)
    return root
