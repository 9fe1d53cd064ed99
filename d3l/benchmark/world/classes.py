"""Label sets of the synthetic world.

* 3D task: ScanNet's 20 benchmark classes, same names, order and ids as
  ``segment20`` in ScanNet (Pointcept layout), so downstream datasets,
  split files and metrics are the ScanNet ones. All 20 occur in the world.
  Points on surfaces ScanNet leaves out of its 20 classes (lamp, television,
  mirror, ceiling) are unlabelled: ``-1`` in ``segment20.npy``, 255 after
  loading.
* 2D teacher: 30 classes that differ from the 3D ones the way ADE20K's 150
  differ from ScanNet's 20: finer parts (``leg``, ``pillow``, ``cushion``,
  ``book``/``shelf``, ``countertop``), extra classes (``ceiling``, ``rug``,
  ``lamp``, ``tv``, ``mirror``, ``stool``, ``bin``, ``box``) and merged
  ones (``curtain`` covers both curtains and shower curtains).

:data:`RELATION_2D_TO_3D` lists, for each 2D class, the 3D classes its
pixels can belong to. It is many-to-many (a ``leg`` belongs to a chair, a
table, a desk, a stool, ...), it is for documentation and reporting only:
the method never uses it -- the 3D network is pre-trained on the teacher's
own classes and the pre-training head is dropped before fine-tuning.
"""
from typing import Dict, Tuple

import numpy as np

#: ScanNet-20 class names in ``segment20`` order
CLASSES_3D: Tuple[str, ...] = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
    'bookshelf', 'picture', 'counter', 'desk', 'curtain', 'refrigerator', 'shower curtain',
    'toilet', 'sink', 'bathtub', 'otherfurniture')

#: ScanNet's benchmark colours of the 20 classes (RGB)
PALETTE_3D: Tuple[Tuple[int, int, int], ...] = (
    (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34),
    (140, 86, 75), (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189),
    (196, 156, 148), (23, 190, 207), (247, 182, 210), (219, 219, 141), (255, 127, 14),
    (158, 218, 229), (44, 160, 44), (112, 128, 144), (227, 119, 194), (82, 84, 163))

#: the 2D teacher's classes (ADE20K-like: finer parts and extra classes)
CLASSES_2D: Tuple[str, ...] = (
    'wall', 'floor', 'ceiling', 'rug', 'bed', 'pillow', 'sofa', 'cushion', 'chair', 'leg',
    'table', 'desk', 'cabinet', 'shelf', 'book', 'door', 'window', 'curtain', 'picture',
    'mirror', 'lamp', 'countertop', 'refrigerator', 'sink', 'toilet', 'bathtub', 'tv',
    'stool', 'bin', 'box')

#: 3D class ids (segment20) for unlabelled surfaces, as in ScanNet
UNLABELLED_3D = -1
#: ignore value of label images (2D and per-pixel 3D labels)
IGNORE_INDEX = 255

#: 2D class -> the 3D classes its pixels can belong to (documentation only;
#: an empty tuple: always unlabelled in 3D)
RELATION_2D_TO_3D: Dict[str, Tuple[str, ...]] = {
    'wall': ('wall',), 'floor': ('floor',), 'ceiling': (), 'rug': ('floor',),
    'bed': ('bed',), 'pillow': ('bed', 'sofa'), 'sofa': ('sofa',), 'cushion': ('sofa', 'chair'),
    'chair': ('chair',), 'leg': ('chair', 'table', 'desk', 'otherfurniture', 'sofa', 'bed'),
    'table': ('table',), 'desk': ('desk',), 'cabinet': ('cabinet',),
    'shelf': ('bookshelf',), 'book': ('bookshelf',), 'door': ('door',),
    'window': ('window',), 'curtain': ('curtain', 'shower curtain'), 'picture': ('picture',),
    'mirror': (), 'lamp': (), 'countertop': ('counter',), 'refrigerator': ('refrigerator',),
    'sink': ('sink',), 'toilet': ('toilet',), 'bathtub': ('bathtub',), 'tv': (),
    'stool': ('otherfurniture',), 'bin': ('otherfurniture',), 'box': ('otherfurniture',)}


def class_id_3d(name: str) -> int:
    """segment20 id of a 3D class name (``None`` or ``''``: unlabelled, -1)."""
    if not name:
        return UNLABELLED_3D
    try:
        return CLASSES_3D.index(name)
    except ValueError:
        raise KeyError(f'unknown 3D class {name!r}; choose from {CLASSES_3D}') from None


def class_id_2d(name: str) -> int:
    try:
        return CLASSES_2D.index(name)
    except ValueError:
        raise KeyError(f'unknown 2D class {name!r}; choose from {CLASSES_2D}') from None


def palette_2d() -> np.ndarray:
    """(30, 3) uint8 colours of the 2D classes (deterministic)."""
    from d3l.visualization import default_palette
    return default_palette(len(CLASSES_2D))


def relation_matrix() -> np.ndarray:
    """(len(CLASSES_2D), len(CLASSES_3D)) bool matrix of :data:`RELATION_2D_TO_3D`."""
    out = np.zeros((len(CLASSES_2D), len(CLASSES_3D)), bool)
    for name_2d, names_3d in RELATION_2D_TO_3D.items():
        for name_3d in names_3d:
            out[class_id_2d(name_2d), class_id_3d(name_3d)] = True
    return out
