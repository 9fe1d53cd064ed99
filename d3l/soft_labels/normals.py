"""Surface normals stored beside the soft labels (opt-in, issue 16).

Estimating normals is the largest stage of a pre-training sample (25-50 ms
of PCA plane fits per frame, ``docs/data_path_speed.md``), and its result
depends only on the depth image: computing it once at labelling time and
reading it back costs ~1-2 ms per sample instead.

Each labelled shard ``shard_{i:05d}.npz`` then has two more files:

``shard_{i:05d}.normals.npy``  (R, 2) int16: per pixel of each frame, row-major,
                               the camera-frame unit normal in octahedral code
``shard_{i:05d}.normals.npz``  the table: ``frame_ids`` (the label shard's, in
                               order), ``row_offsets`` (F + 1), ``image_shapes``
                               (F, 2), ``frame_crc32`` (F,), ``labels_sha256`` (the
                               label shard table's digest they were made beside)

and ``manifest.json`` a ``normals`` entry: the estimator's settings
(:func:`normals_settings`: method, window, the depth-edge filter applied
first), ``encoding`` and, per shard, the sha256 of both files. A store
without that entry has no normals; a table whose frames or label digest do
not match its label shard is an error naming the file.

Octahedral int16 encoding: 4 bytes per pixel; the decoded direction is
within :data:`MAX_ERROR_DEG` of the float32 normal (measured over 10^6
random directions and the axes: ``tests/test_soft_labels/test_stored_normal_maps.py``).
"""
from __future__ import annotations

import os
import os.path as osp
import zipfile
import zlib
from typing import Dict, List, Optional, Sequence

import numpy as np

from .layout import file_sha256
from .manifest import LabelStoreError

ENCODING = 'octahedral-int16'
#: bound on the angle between a float32 unit normal and its decoded code
MAX_ERROR_DEG = 0.005
_SCALE = np.float32(32767)


# ------------------------------------------------------------------ codec
def _sign(v: np.ndarray) -> np.ndarray:
    """+1 / -1 with +1 at 0: ``np.sign(0) = 0`` would fold (0, y, -z) onto (0, 1, 0)."""
    return np.where(v >= 0, np.float32(1), np.float32(-1))


def encode_normals(normals: np.ndarray) -> np.ndarray:
    """(N, 3) directions -> (N, 2) int16 octahedral codes (zero vectors -> +z)."""
    n = np.asarray(normals, np.float32).reshape(-1, 3)
    l1 = np.abs(n).sum(1)
    n = np.where((l1 > 0)[:, None], n / np.maximum(l1, 1e-30)[:, None],
                 np.array([0, 0, 1], np.float32))
    x, y, z = n[:, 0], n[:, 1], n[:, 2]
    lower = z < 0
    fx = np.where(lower, (1 - np.abs(y)) * _sign(x), x)
    fy = np.where(lower, (1 - np.abs(x)) * _sign(y), y)
    codes = np.stack([fx, fy], 1).clip(-1, 1) * _SCALE
    return np.rint(codes).astype(np.int16)


def decode_normals(codes: np.ndarray) -> np.ndarray:
    """(N, 2) int16 octahedral codes -> (N, 3) float32 unit normals."""
    codes = np.asarray(codes)
    out = np.empty((len(codes), 3), np.float32)
    np.multiply(codes, 1 / _SCALE, out=out[:, :2], casting='unsafe')
    fx, fy, z = out[:, 0], out[:, 1], out[:, 2]
    np.subtract(1, np.abs(fx), out=z)
    z -= np.abs(fy)
    fold = np.maximum(-z, 0)
    # copysign(fold, +0) = +fold: the encoder's sign of 0 is +1
    fx -= np.copysign(fold, fx)
    fy -= np.copysign(fold, fy)
    length = np.einsum('ij,ij->i', out, out)
    out /= np.sqrt(length)[:, None]
    return out


def normals_settings(method: str = 'pca', window: int = 5,
                     depth_edges: Optional[dict] = None) -> dict:
    """Canonical settings of stored normals: ``depth_normals(method, window)``
    of the depth after ``FilterDepthEdges(**depth_edges)`` (None: no filter),
    with the filter's defaults filled in so that equal filters compare equal."""
    edges = None
    if depth_edges is not None:
        from d3l.datasets.transforms.rgbd_lifting import FilterDepthEdges
        f = FilterDepthEdges(**dict(depth_edges))
        edges = dict(rel_threshold=float(f.rel_threshold), abs_threshold=float(f.abs_threshold),
                     dilate=int(f.dilate))
    return dict(method=str(method), window=int(window), depth_edges=edges)


# ----------------------------------------------------------------- files
def normals_paths(shard_file: str):
    """``shard_00003.npz`` -> (``shard_00003.normals.npz``, ``shard_00003.normals.npy``)."""
    stem = shard_file[:-len('.npz')]
    return f'{stem}.normals.npz', f'{stem}.normals.npy'


def _crc(codes: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(codes).view(np.uint8).reshape(-1)) & 0xFFFFFFFF


def write_shard_normals(shard_file: str, frame_ids: Sequence[str],
                        codes: Sequence[np.ndarray], image_shapes: Sequence[Sequence[int]]
                        ) -> Dict[str, str]:
    """Write the two normals files of a label shard (atomically, codes
    first); returns the manifest entry ``{'sha256', 'codes_sha256', 'frames'}``."""
    from d3l.utils import fileio

    from .shards import write_npz
    table_path, codes_path = normals_paths(shard_file)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in codes])]).astype(np.int64)
    rows = np.concatenate(codes) if codes else np.zeros((0, 2), np.int16)
    with fileio.atomic_path(codes_path) as tmp:
        with open(tmp, 'wb') as f:
            np.lib.format.write_array(f, np.ascontiguousarray(rows, np.int16),
                                      allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        codes_sha256 = file_sha256(tmp)
    table = dict(frame_ids=np.asarray(list(frame_ids), np.str_).reshape(-1),
                 row_offsets=offsets,
                 image_shapes=np.asarray(image_shapes, np.int32).reshape(-1, 2),
                 frame_crc32=np.asarray([_crc(c) for c in codes], np.uint32).reshape(-1),
                 labels_sha256=np.asarray(file_sha256(shard_file)),
                 codes_sha256=np.asarray(codes_sha256))
    with fileio.atomic_path(table_path) as tmp:
        write_npz(tmp, table)
    return dict(sha256=file_sha256(table_path), codes_sha256=codes_sha256,
                frames=len(frame_ids))


class NormalsRecord:
    """Stored normals of one frame (codes memory-mapped)."""

    def __init__(self, frame_id: str, codes: np.ndarray, image_shape, settings: dict,
                 source: str, crc32: Optional[int] = None):
        self.frame_id = frame_id
        self.codes = codes
        self.image_shape = tuple(int(v) for v in image_shape)
        self.settings = settings
        self.source = source
        self.crc32 = crc32

    def lookup(self, pixel_index: np.ndarray, image_shape=None) -> np.ndarray:
        """(N, 3) float32 camera-frame normals of flat pixels ``row * W + col``."""
        height, width = self.image_shape
        if image_shape is not None and tuple(int(v) for v in image_shape[:2]) != (height, width):
            raise LabelStoreError(f'{self.source}, frame {self.frame_id!r}: the image is '
                                  f'{tuple(image_shape[:2])}, its stored normals are for '
                                  f'{(height, width)}')
        index = np.asarray(pixel_index, np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= height * width):
            raise LabelStoreError(f'{self.source}, frame {self.frame_id!r}: pixel_index out '
                                  f'of range for a {height}x{width} image')
        if self.crc32 is not None and _crc(self.codes) != self.crc32:
            raise LabelStoreError(f'{self.source}, frame {self.frame_id!r}: its normal codes '
                                  'fail their checksum; the file is corrupt (run '
                                  'tools/generate_pseudo_labels.py CONFIG --normals-only)')
        return decode_normals(np.take(self.codes, index, axis=0))


class ShardNormals:
    """The normals files of one label shard, checked against it.

    Args:
        shard: the label shard's :class:`~d3l.soft_labels.store.ShardFile`.
        entry: its manifest ``normals.shards`` entry (``None``: not recorded).
        settings: the manifest's normals settings.
        labels_sha256: the label shard's recorded digest (``None``: unknown).
        verify: check each frame's CRC-32 when it is read.
    """

    def __init__(self, shard, entry: Optional[dict], settings: dict,
                 labels_sha256: Optional[str] = None, verify: bool = True):
        self.table_path, self.codes_path = normals_paths(shard.path)
        self.settings = settings
        self.verify = verify
        if entry is None:
            raise LabelStoreError(f'{osp.dirname(shard.path)}: manifest.json records normals '
                                  f'but none for {osp.basename(shard.path)}; rerun '
                                  'tools/generate_pseudo_labels.py CONFIG --normals-only')
        try:
            with np.load(self.table_path, allow_pickle=False) as data:
                self.frame_ids = [str(f) for f in data['frame_ids']]
                self.row_offsets = data['row_offsets'].astype(np.int64)
                self.image_shapes = data['image_shapes'].astype(np.int64)
                self.crc32 = data['frame_crc32'].astype(np.int64)
                stored_labels = str(data['labels_sha256'])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
            raise LabelStoreError(f'normals table {self.table_path} is missing or corrupt '
                                  f'({type(err).__name__}: {err}); rerun '
                                  'tools/generate_pseudo_labels.py CONFIG --normals-only'
                                  ) from None
        if self.frame_ids != list(shard.frame_ids) or (
                labels_sha256 is not None and stored_labels != labels_sha256):
            raise LabelStoreError(
                f'normals table {self.table_path} was made for other labels than '
                f'{osp.basename(shard.path)} (frames or label digest differ: the labels were '
                'regenerated after the normals); rerun tools/generate_pseudo_labels.py CONFIG '
                '--normals-only')
        self._codes, self._pid = None, None

    def _map(self) -> np.ndarray:
        if self._codes is None or self._pid != os.getpid():  # re-map after a fork
            try:
                codes = np.load(self.codes_path, mmap_mode='r', allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                raise LabelStoreError(f'normals file {self.codes_path} is missing or corrupt '
                                      f'({type(err).__name__}: {err})') from None
            if codes.ndim != 2 or codes.shape[1] != 2 or codes.dtype != np.int16 or \
                    len(codes) != int(self.row_offsets[-1]):
                raise LabelStoreError(f'normals file {self.codes_path} holds {codes.dtype} '
                                      f'{codes.shape}, its table says '
                                      f'({int(self.row_offsets[-1])}, 2) int16')
            self._codes, self._pid = codes, os.getpid()
        return self._codes

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_codes'] = state['_pid'] = None
        return state

    def record(self, i: int) -> NormalsRecord:
        codes = self._map()[int(self.row_offsets[i]):int(self.row_offsets[i + 1])]
        return NormalsRecord(self.frame_ids[i], codes, self.image_shapes[i], self.settings,
                             self.codes_path, int(self.crc32[i]) if self.verify else None)


def open_normals(manifest: dict, shards: List, verify: bool = True) -> Optional[List]:
    """Per label shard its :class:`ShardNormals` (``None`` where the manifest
    records none and the store is incomplete), or ``None`` when the store has
    no normals."""
    info = manifest.get('normals')
    if not info:
        return None
    if info.get('encoding') != ENCODING:
        raise LabelStoreError(f'manifest.json of {osp.dirname(shards[0].path) if shards else "?"}'
                              f': normals encoding {info.get("encoding")!r}, this d3l reads '
                              f'{ENCODING!r}')
    entries = info.get('shards') or {}
    labels = manifest.get('shards') or {}
    out = []
    for shard in shards:
        name = osp.basename(shard.path)
        digest = (labels.get(name) or {}).get('sha256')
        out.append(ShardNormals(shard, entries.get(name), info['settings'], digest, verify))
    return out


def check_shard_normals(shard, manifest: dict) -> Optional[str]:
    """``None`` when a label shard's normals files have their recorded
    sha256 and match the shard, else why not (``--verify``)."""
    info = manifest.get('normals')
    if not info:
        return None
    entry = (info.get('shards') or {}).get(osp.basename(shard.path))
    if entry is None:
        return 'normals: not recorded in the manifest'
    table, codes = normals_paths(shard.path)
    for path, key in ((table, 'sha256'), (codes, 'codes_sha256')):
        if not osp.isfile(path):
            return f'normals: {osp.basename(path)} is missing'
        if file_sha256(path) != entry.get(key):
            return f'normals: sha256 of {osp.basename(path)} differs from the recorded one'
    try:
        labels = (manifest.get('shards') or {}).get(osp.basename(shard.path)) or {}
        normals = ShardNormals(shard, entry, info['settings'], labels.get('sha256'))
        for i in range(len(normals.frame_ids)):
            rec = normals.record(i)
            if _crc(rec.codes) != rec.crc32:
                return f'normals: frame {rec.frame_id!r} fails its checksum'
    except LabelStoreError as err:
        return f'normals: {err}'
    return None
