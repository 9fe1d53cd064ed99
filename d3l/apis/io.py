"""Read users' point-cloud files (PLY, ``.npy``, ``.npz``) into arrays.

Every problem with a file is a :class:`PointFileError` naming the file and
what is wrong, so that a batch of files can report it and go on.
"""
from __future__ import annotations

import os
import os.path as osp
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy as np

from d3l.utils.errors import D3LError

#: file extensions read by :func:`read_points`
POINT_FILE_EXTS = ('.ply', '.npy', '.npz')
#: accepted spellings of each attribute in PLY vertices and ``.npz`` archives
PLY_COLOR_NAMES = (('red', 'green', 'blue'), ('r', 'g', 'b'),
                   ('diffuse_red', 'diffuse_green', 'diffuse_blue'))
PLY_NORMAL_NAMES = (('nx', 'ny', 'nz'), ('normal_x', 'normal_y', 'normal_z'))
NPZ_KEYS = {'points': ('points', 'coord', 'xyz', 'vertices'),
            'colors': ('colors', 'color', 'rgb'),
            'normals': ('normals', 'normal')}


class PointFileError(D3LError, ValueError):
    """A point-cloud file that cannot be used (unreadable, empty, truncated,
    not a point cloud, non-finite coordinates)."""


def list_inputs(inputs: Sequence[str]) -> List[str]:
    """Files to process: each input file as given, and the point-cloud files
    (:data:`POINT_FILE_EXTS`) directly inside each input folder, sorted. A
    path that does not exist is kept, so that it is reported as a failure."""
    files: List[str] = []
    for path in inputs:
        if osp.isdir(path):
            names = sorted(n for n in os.listdir(path)
                           if osp.splitext(n)[1].lower() in POINT_FILE_EXTS
                           and osp.isfile(osp.join(path, n)))
            files += [osp.join(path, n) for n in names]
        else:
            files.append(path)
    return files


def _colors(values: np.ndarray, path: str) -> np.ndarray:
    """Colours as float32 in [0, 1] (from 0-255 integers or floats)."""
    values = np.asarray(values)
    if values.dtype.kind in 'iu' or (values.size and np.nanmax(values) > 1.0):
        values = values.astype(np.float32) / 255.0
    values = values.astype(np.float32)
    if not np.isfinite(values).all():
        raise PointFileError(f'{path}: colours hold NaN or infinite values')
    return np.clip(values, 0.0, 1.0)


def _check_cloud(cloud: Dict[str, Optional[np.ndarray]], path: str) -> dict:
    points = cloud['points']
    if points.ndim != 2 or points.shape[1] != 3:
        raise PointFileError(f'{path}: not a point cloud (coordinates of shape {points.shape}, '
                             'expected (N, 3))')
    if points.shape[0] == 0:
        raise PointFileError(f'{path}: the point cloud is empty (0 points)')
    bad = ~np.isfinite(points).all(axis=1)
    if bad.any():
        raise PointFileError(f'{path}: {int(bad.sum())} of {len(points)} points have NaN or '
                             f'infinite coordinates (first: point {int(np.flatnonzero(bad)[0])})'
                             '; remove them before inference')
    out = {'points': points.astype(np.float32)}
    out['colors'] = None if cloud.get('colors') is None else _colors(cloud['colors'], path)
    normals = cloud.get('normals')
    if normals is not None:
        normals = np.asarray(normals, np.float32)
        if not np.isfinite(normals).all():
            raise PointFileError(f'{path}: normals hold NaN or infinite values')
    out['normals'] = normals
    for key in ('colors', 'normals'):
        if out[key] is not None and out[key].shape != points.shape:
            raise PointFileError(f'{path}: {key} have shape {out[key].shape} for '
                                 f'{len(points)} points')
    return out


def _read_ply(path: str) -> dict:
    from plyfile import PlyData

    try:
        ply = PlyData.read(path)
    except Exception as err:  # noqa: BLE001 - plyfile raises many types
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        if 'header' in type(err).__name__.lower() or "expected 'ply'" in text:
            raise PointFileError(f'{path}: not a PLY point cloud ({text})') from None
        raise PointFileError(f'{path}: truncated or corrupt PLY ({text})') from None
    if 'vertex' not in [e.name for e in ply.elements]:
        raise PointFileError(f'{path}: not a point cloud (the PLY has no vertex element)')
    vertex = ply['vertex'].data
    names = vertex.dtype.names or ()
    if not {'x', 'y', 'z'} <= set(names):
        raise PointFileError(f'{path}: not a point cloud (vertices have no x, y, z; '
                             f'properties: {", ".join(names)})')

    def stack(triple):
        return np.stack([np.asarray(vertex[n], np.float64) for n in triple], 1)

    cloud = {'points': stack(('x', 'y', 'z'))}
    colors = next((t for t in PLY_COLOR_NAMES if set(t) <= set(names)), None)
    if colors is not None:
        raw = np.stack([np.asarray(vertex[n]) for n in colors], 1)
        cloud['colors'] = raw
    normals = next((t for t in PLY_NORMAL_NAMES if set(t) <= set(names)), None)
    cloud['normals'] = None if normals is None else stack(normals)
    return cloud


def _split_columns(array: np.ndarray, path: str) -> dict:
    """(N, 3) xyz, (N, 6) xyz + rgb, (N, 9) xyz + rgb + normals."""
    if array.dtype.kind not in 'fiu' or array.ndim != 2 or array.shape[1] not in (3, 6, 9):
        raise PointFileError(
            f'{path}: not a point cloud (array of shape {array.shape} and dtype {array.dtype}; '
            'expected (N, 3) xyz, (N, 6) xyz + rgb or (N, 9) xyz + rgb + normals)')
    cloud = {'points': array[:, :3].astype(np.float64)}
    cloud['colors'] = array[:, 3:6] if array.shape[1] >= 6 else None
    cloud['normals'] = array[:, 6:9] if array.shape[1] == 9 else None
    return cloud


def _read_npy(path: str) -> dict:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise PointFileError(f'{path}: unreadable or truncated .npy ({err})') from None
    return _split_columns(np.asarray(array), path)


def _read_npz(path: str) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise PointFileError(f'{path}: unreadable or truncated .npz ({err})') from None
    found = {}
    for key, names in NPZ_KEYS.items():
        found[key] = next((arrays[n] for n in names if n in arrays), None)
    if found['points'] is None:
        if len(arrays) == 1:
            return _split_columns(next(iter(arrays.values())), path)
        raise PointFileError(f'{path}: not a point cloud (no array named '
                             f'{"/".join(NPZ_KEYS["points"])}; arrays: {sorted(arrays)})')
    if found['points'].dtype.kind not in 'fiu':
        raise PointFileError(f'{path}: coordinates have dtype {found["points"].dtype}')
    return {k: None if v is None else np.asarray(v) for k, v in found.items()}


def read_points(path: str) -> Dict[str, Optional[np.ndarray]]:
    """Read a point-cloud file.

    Returns ``points`` (N, 3) float32, ``colors`` (N, 3) float32 in [0, 1]
    or None, ``normals`` (N, 3) float32 or None.

    * ``.ply`` (ASCII or binary, any other elements such as faces ignored):
      vertex ``x y z``, optional ``red green blue`` (uchar 0-255 or float),
      optional ``nx ny nz``; ScanNet's ``*_vh_clean_2.ply`` reads as is.
    * ``.npy``: (N, 3) xyz, (N, 6) xyz + rgb, (N, 9) xyz + rgb + normals
      (rgb 0-255 or [0, 1]).
    * ``.npz``: arrays ``points`` (or ``coord`` / ``xyz``), optional
      ``colors`` and ``normals``; or a single array laid out as for ``.npy``.

    Raises:
        PointFileError: missing, empty, truncated, not a point cloud, or
            with NaN / infinite coordinates.
    """
    if not osp.isfile(path):
        raise PointFileError(f'{path}: no such file')
    ext = osp.splitext(path)[1].lower()
    if ext not in POINT_FILE_EXTS:
        raise PointFileError(f'{path}: unsupported file type {ext or "(none)"} (read: '
                             f'{", ".join(POINT_FILE_EXTS)})')
    if osp.getsize(path) == 0:
        raise PointFileError(f'{path}: the file is empty (0 bytes)')
    reader = {'.ply': _read_ply, '.npy': _read_npy, '.npz': _read_npz}[ext]
    return _check_cloud(reader(path), path)


__all__ = ['POINT_FILE_EXTS', 'PointFileError', 'list_inputs', 'read_points']
