"""Write point clouds with colours / labels as PLY (readable by MeshLab,
CloudCompare, Open3D)."""
from typing import Optional, Sequence

import numpy as np

from d3l.utils import fileio


def default_palette(num_classes: int, seed: int = 3) -> np.ndarray:
    """(num_classes, 3) uint8 distinct-ish colours, deterministic."""
    rng = np.random.default_rng(seed)
    hues = (np.arange(num_classes) * 0.618033988749895) % 1.0
    sat = 0.55 + 0.4 * rng.random(num_classes)
    val = 0.65 + 0.35 * rng.random(num_classes)
    i = np.floor(hues * 6).astype(int) % 6
    f = hues * 6 - np.floor(hues * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    table = np.stack([np.choose(i, [val, q, p, p, t, val]), np.choose(i, [t, val, val, q, p, p]),
                      np.choose(i, [p, p, t, val, val, q])], 1)
    return (table * 255).round().astype(np.uint8)


def label_colors(labels: np.ndarray, palette: Optional[Sequence] = None,
                 ignore_index: int = 255, ignore_color=(0, 0, 0)) -> np.ndarray:
    """(N, 3) uint8 colours of integer labels; the ignore label gets
    ``ignore_color``."""
    labels = np.asarray(labels).astype(np.int64)
    valid = (labels != ignore_index) & (labels >= 0)
    size = int(labels[valid].max()) + 1 if valid.any() else 1
    palette = np.asarray(palette if palette is not None else default_palette(size), np.uint8)
    if valid.any() and labels[valid].max() >= len(palette):
        raise ValueError(f'label {labels[valid].max()} has no colour in a palette of '
                         f'{len(palette)}')
    colors = np.tile(np.asarray(ignore_color, np.uint8), (len(labels), 1))
    colors[valid] = palette[labels[valid]]
    return colors


def write_ply(path: str, points: np.ndarray, colors: Optional[np.ndarray] = None,
              labels: Optional[np.ndarray] = None, normals: Optional[np.ndarray] = None) -> str:
    """Binary little-endian PLY (written with plyfile) with xyz, optional
    RGB (uint8, or float in [0, 1]), normals and an integer ``label``
    property. Written atomically."""
    points = np.asarray(points, np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'write_ply({path}): points must be (N, 3), got {points.shape}')
    fields = [('x', 'f4'), ('y', 'f4'), ('z', 'f4')]
    columns = [points[:, 0], points[:, 1], points[:, 2]]
    if normals is not None:
        normals = np.asarray(normals, np.float32)
        fields += [('nx', 'f4'), ('ny', 'f4'), ('nz', 'f4')]
        columns += [normals[:, 0], normals[:, 1], normals[:, 2]]
    if colors is not None:
        colors = np.asarray(colors)
        if colors.dtype != np.uint8:
            colors = (np.clip(colors, 0, 1) * 255).round().astype(np.uint8)
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
        columns += [colors[:, 0], colors[:, 1], colors[:, 2]]
    if labels is not None:
        fields.append(('label', 'i4'))
        columns.append(np.asarray(labels, np.int32))
    for name, column in zip(fields, columns):
        if len(column) != len(points):
            raise ValueError(f'write_ply({path}): {name[0]} has {len(column)} rows for '
                             f'{len(points)} points')
    from plyfile import PlyData, PlyElement

    vertex = np.empty(len(points), dtype=fields)
    for (name, _), column in zip(fields, columns):
        vertex[name] = column
    with fileio.atomic_open(path, 'wb') as f:
        PlyData([PlyElement.describe(vertex, 'vertex')], text=False, byte_order='<').write(f)
    return path
