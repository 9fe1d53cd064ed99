"""Sharded, resumable storage of per-frame encoded soft labels.

Layout of a label directory::

    manifest.json          what produced the labels and which frames they cover
    shard_00000.npz        frames [0, S) of the manifest's frame list
    shard_00001.npz        frames [S, 2S) ...

A shard is an *uncompressed* ``.npz`` (readable with ``np.load``) holding
the frames of one contiguous slice of the frame list, concatenated:

=================  ==================  =============================================
key                shape / dtype       meaning
=================  ==================  =============================================
``frame_ids``      (F,) str            frames stored in this shard, in order
``row_offsets``    (F + 1,) int64      rows of frame ``i`` are ``[o[i], o[i+1])``
``grid_shapes``    (F, 2) int32        label grid (rows, cols) of each frame
``image_shapes``   (F, 2) int32        image (H, W) the grid was computed for
``strides``        (F,) int32          pixel (r, c) -> grid cell (r // s, c // s)
``indices``        (R, k) uint8/16     top-k classes of each grid cell (row-major)
``probs``          (R, k) fp16/uint8   their probabilities (see ``SoftLabelCodec``)
``failed_ids``     (G,) str            frames of the slice that could not be labelled
``failed_reasons`` (G,) str            why (one line each)
``shard_index``    () int64            position of the shard
``frame_start``    () int64            index of its first frame in the frame list
=================  ==================  =============================================

Shards are written under a temporary name and renamed when complete, so a
file with the final name is always whole; a killed job leaves at most
``*.tmp*`` files, which ``--resume`` deletes and redoes. Reading maps the
``indices`` / ``probs`` members into memory (``np.memmap``), so looking up
the labels of a few thousand points reads a few pages, not the whole shard.
"""
from __future__ import annotations

import glob
import hashlib
import os
import os.path as osp
import re
import struct
import zipfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from .codec import SoftLabelCodec
from .manifest import FORMAT_VERSION, LabelStoreError, read_manifest

SHARD_PATTERN = 'shard_{:05d}.npz'
_SHARD_RE = re.compile(r'^shard_(\d{5,})\.npz$')


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def shard_path(out_dir: str, shard_index: int) -> str:
    return osp.join(out_dir, SHARD_PATTERN.format(shard_index))


def plan_shards(num_frames: int, shard_size: int) -> List[Tuple[int, int]]:
    """``[(start, stop), ...]`` slices of the frame list, one per shard."""
    if shard_size < 1:
        raise ValueError(f'shard_size must be >= 1, got {shard_size}')
    return [(start, min(start + shard_size, num_frames))
            for start in range(0, num_frames, shard_size)]


def shards_of_rank(num_shards: int, world_size: int, rank: int) -> List[int]:
    """Shards a rank labels: a pure function of (number of shards, world
    size, rank), round-robin, so that every shard has exactly one owner and
    the output does not depend on how many processes ran."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f'invalid rank {rank} for world size {world_size}')
    return list(range(rank, num_shards, world_size))


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def grid_shape(image_shape: Sequence[int], stride: int) -> Tuple[int, int]:
    """Label-grid size of an image for a pixel stride (ceil division)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    return (height + stride - 1) // stride, (width + stride - 1) // stride


# ----------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------
class ShardWriter:
    """Collects the records of one shard and writes it atomically.

    Args:
        out_dir: label directory.
        shard_index: position of the shard (file ``shard_{index:05d}.npz``).
        frame_start: index of the shard's first frame in the frame list.
    """

    def __init__(self, out_dir: str, shard_index: int, frame_start: int = 0):
        self.out_dir = out_dir
        self.shard_index = int(shard_index)
        self.frame_start = int(frame_start)
        self.path = shard_path(out_dir, shard_index)
        self._frame_ids: List[str] = []
        self._grid_shapes: List[Tuple[int, int]] = []
        self._image_shapes: List[Tuple[int, int]] = []
        self._strides: List[int] = []
        self._indices: List[np.ndarray] = []
        self._probs: List[np.ndarray] = []
        self._failed: List[Tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self._frame_ids)

    def add(self, frame_id: str, encoded: Dict[str, Tensor], image_shape: Sequence[int],
            stride: int = 1) -> None:
        """Add one frame: ``encoded`` holds ``indices``/``probs`` with one row
        per label-grid cell in row-major order."""
        frame_id = str(frame_id)
        if frame_id in self._frame_ids:
            raise ValueError(f'shard {self.path}: frame {frame_id!r} added twice')
        grid = grid_shape(image_shape, stride)
        indices = _to_numpy(encoded['indices'])
        probs = _to_numpy(encoded['probs'])
        if indices.shape != probs.shape or indices.ndim != 2:
            raise ValueError(f'frame {frame_id!r}: indices {indices.shape} and probs '
                             f'{probs.shape} must be the same (R, k) shape')
        if indices.shape[0] != grid[0] * grid[1]:
            raise ValueError(f'frame {frame_id!r}: {indices.shape[0]} rows for a label grid of '
                             f'{grid[0]}x{grid[1]} (image {tuple(image_shape)}, stride {stride})')
        if self._indices and (indices.dtype != self._indices[0].dtype
                              or probs.dtype != self._probs[0].dtype
                              or indices.shape[1] != self._indices[0].shape[1]):
            raise ValueError(f'frame {frame_id!r}: encoding {indices.dtype}/{probs.dtype} '
                             f'k={indices.shape[1]} differs from the shard\'s')
        self._frame_ids.append(frame_id)
        self._grid_shapes.append(grid)
        self._image_shapes.append((int(image_shape[0]), int(image_shape[1])))
        self._strides.append(int(stride))
        self._indices.append(indices)
        self._probs.append(probs)

    def add_failure(self, frame_id: str, reason: str) -> None:
        """Record a frame that could not be labelled (it is listed, never
        silently dropped)."""
        reason = ' '.join(str(reason).split())[:500]
        self._failed.append((str(frame_id), reason))

    @property
    def failures(self) -> List[Tuple[str, str]]:
        return list(self._failed)

    def close(self) -> str:
        """Write the shard to a temporary file, then rename it into place."""
        os.makedirs(self.out_dir, exist_ok=True)
        if self._indices:
            indices = np.concatenate(self._indices)
            probs = np.concatenate(self._probs)
        else:
            indices = np.zeros((0, 1), np.uint8)
            probs = np.zeros((0, 1), np.float16)
        counts = [len(a) for a in self._indices]
        offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        arrays = dict(
            frame_ids=np.asarray(self._frame_ids, dtype=np.str_).reshape(-1),
            row_offsets=offsets,
            grid_shapes=np.asarray(self._grid_shapes, np.int32).reshape(-1, 2),
            image_shapes=np.asarray(self._image_shapes, np.int32).reshape(-1, 2),
            strides=np.asarray(self._strides, np.int32).reshape(-1),
            indices=indices, probs=probs,
            failed_ids=np.asarray([f for f, _ in self._failed], dtype=np.str_).reshape(-1),
            failed_reasons=np.asarray([r for _, r in self._failed], dtype=np.str_).reshape(-1),
            shard_index=np.int64(self.shard_index), frame_start=np.int64(self.frame_start),
            format_version=np.int64(FORMAT_VERSION))
        tmp = f'{self.path}.tmp-{os.getpid()}'
        with open(tmp, 'wb') as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        return self.path


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# ----------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------
def _npz_member_memmap(path: str, name: str) -> np.ndarray:
    """Memory-map array ``name`` of an uncompressed ``.npz`` (no copy)."""
    member = f'{name}.npy'
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            raise LabelStoreError(f'{path}: member {member} is compressed; shards must be written '
                                  'uncompressed (np.savez, not savez_compressed)')
    with open(path, 'rb') as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b'PK\x03\x04':
            raise LabelStoreError(f'{path}: bad zip local header for {member}')
        name_len, extra_len = struct.unpack('<HH', local[26:30])
        data_start = info.header_offset + 30 + name_len + extra_len
        f.seek(data_start)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        offset = f.tell()
    if dtype.hasobject:
        raise LabelStoreError(f'{path}: member {member} holds Python objects')
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode='r', offset=offset, shape=shape,
                     order='F' if fortran else 'C')


class ShardFile:
    """One shard: frame table in memory, label rows memory-mapped."""

    def __init__(self, path: str):
        self.path = path
        try:
            with np.load(path, allow_pickle=False) as data:
                self.frame_ids = [str(f) for f in data['frame_ids']]
                self.row_offsets = data['row_offsets'].astype(np.int64)
                self.grid_shapes = data['grid_shapes'].astype(np.int64)
                self.image_shapes = data['image_shapes'].astype(np.int64)
                self.strides = data['strides'].astype(np.int64)
                self.failed = list(zip([str(f) for f in data['failed_ids']],
                                       [str(r) for r in data['failed_reasons']]))
                self.shard_index = int(data['shard_index'])
                self.frame_start = int(data['frame_start'])
                self.num_rows = int(self.row_offsets[-1]) if len(self.row_offsets) else 0
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
            raise LabelStoreError(f'shard {path} is corrupt or incomplete '
                                  f'({type(err).__name__}: {err})') from None
        self._indices: Optional[np.ndarray] = None
        self._probs: Optional[np.ndarray] = None
        self._pid = None

    def _arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        # re-map after a fork (dataloader workers) so each process owns its maps
        if self._indices is None or self._pid != os.getpid():
            self._indices = _npz_member_memmap(self.path, 'indices')
            self._probs = _npz_member_memmap(self.path, 'probs')
            self._pid = os.getpid()
            if len(self._indices) != self.num_rows or len(self._probs) != self.num_rows:
                raise LabelStoreError(f'shard {self.path}: {len(self._indices)} label rows, '
                                      f'the frame table says {self.num_rows}')
        return self._indices, self._probs

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_indices'] = state['_probs'] = state['_pid'] = None
        return state

    def record(self, i: int, num_classes: int) -> SoftLabelRecord:
        indices, probs = self._arrays()
        start, stop = int(self.row_offsets[i]), int(self.row_offsets[i + 1])
        return SoftLabelRecord(
            frame_id=self.frame_ids[i], indices=indices[start:stop], probs=probs[start:stop],
            grid_shape=tuple(int(v) for v in self.grid_shapes[i]),
            image_shape=tuple(int(v) for v in self.image_shapes[i]),
            stride=int(self.strides[i]), num_classes=num_classes, source=self.path)


class SoftLabelRecord:
    """Stored teacher output of one frame.

    Attributes:
        frame_id: the frame's id.
        indices / probs: (Hg * Wg, k) encoded rows of the label grid
            (memory-mapped: reading them touches only the rows asked for).
        grid_shape: (Hg, Wg); image_shape: (H, W); stride: pixels per cell.
        num_classes: teacher classes (for decoding).
    """

    def __init__(self, frame_id: str, indices: np.ndarray, probs: np.ndarray,
                 grid_shape: Tuple[int, int], image_shape: Tuple[int, int], stride: int,
                 num_classes: int, source: str = ''):
        self.frame_id = frame_id
        self.indices = indices
        self.probs = probs
        self.grid_shape = grid_shape
        self.image_shape = image_shape
        self.stride = stride
        self.num_classes = num_classes
        self.source = source

    def rows(self, pixel_index: np.ndarray, image_shape: Optional[Sequence[int]] = None
             ) -> np.ndarray:
        """Grid rows of flat image pixels ``row * W + col``.

        ``image_shape`` is the (H, W) the pixel indices refer to; it must be
        the image the labels were computed for.
        """
        height, width = self.image_shape
        if image_shape is not None and tuple(int(v) for v in image_shape[:2]) != (height, width):
            raise LabelStoreError(
                f'frame {self.frame_id!r}: the image is {tuple(image_shape[:2])} but its stored '
                f'labels ({self.source}) were computed for {(height, width)}')
        pixel_index = np.asarray(pixel_index, dtype=np.int64)
        if pixel_index.size and (pixel_index.min() < 0 or pixel_index.max() >= height * width):
            raise LabelStoreError(f'frame {self.frame_id!r}: pixel_index out of range for a '
                                  f'{height}x{width} image')
        rows, cols = np.divmod(pixel_index, width)
        return (rows // self.stride) * self.grid_shape[1] + cols // self.stride

    def lookup(self, pixel_index: np.ndarray, image_shape: Optional[Sequence[int]] = None
               ) -> Dict[str, np.ndarray]:
        """Encoded labels ``{'indices', 'probs'}`` (N, k) of the given pixels."""
        rows = self.rows(pixel_index, image_shape)
        return {'indices': np.asarray(self.indices[rows]), 'probs': np.asarray(self.probs[rows])}

    def decode(self, pixel_index: np.ndarray, image_shape: Optional[Sequence[int]] = None
               ) -> np.ndarray:
        """Dense (N, C) float32 distributions of the given pixels."""
        encoded = self.lookup(pixel_index, image_shape)
        return SoftLabelCodec.decode(encoded, self.num_classes).numpy()

    def decode_grid(self) -> np.ndarray:
        """The whole label grid as (Hg, Wg, C) float32 (for inspection;
        training decodes only the points it keeps)."""
        dense = SoftLabelCodec.decode({'indices': np.asarray(self.indices),
                                       'probs': np.asarray(self.probs)}, self.num_classes)
        return dense.numpy().reshape(*self.grid_shape, self.num_classes)

    def __repr__(self) -> str:
        return (f'SoftLabelRecord({self.frame_id!r}, grid={self.grid_shape}, '
                f'image={self.image_shape}, stride={self.stride}, C={self.num_classes})')


def list_shards(label_dir: str) -> Dict[int, str]:
    """``{shard index: path}`` of the complete shards of a directory."""
    found = {}
    for path in glob.glob(osp.join(label_dir, 'shard_*.npz')):
        match = _SHARD_RE.match(osp.basename(path))
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


class SoftLabelStore:
    """Random access by ``frame_id`` to a label directory.

    Args:
        label_dir: directory written by ``tools/generate_pseudo_labels.py``.
        allow_incomplete: read a directory whose generation has not
            finished (shards missing); otherwise that is an error.
    """

    def __init__(self, label_dir: str, allow_incomplete: bool = False):
        self.label_dir = label_dir
        self.manifest = read_manifest(label_dir)
        self.num_classes = int(self.manifest['num_classes'])
        self.class_names = list(self.manifest.get('class_names') or [])
        expected = len(plan_shards(len(self.manifest['frame_ids']),
                                   int(self.manifest['shard_size'])))
        paths = list_shards(label_dir)
        missing = [i for i in range(expected) if i not in paths]
        if missing and not allow_incomplete:
            raise LabelStoreError(
                f'{label_dir}: {len(missing)} of {expected} shards are missing (first: '
                f'{SHARD_PATTERN.format(missing[0])}); finish the generation with '
                'tools/generate_pseudo_labels.py ... --resume')
        self.shards: List[ShardFile] = []
        self._where: Dict[str, Tuple[int, int]] = {}
        self.failed: List[Tuple[str, str]] = []
        for index, path in paths.items():
            if index >= expected:
                continue
            shard = ShardFile(path)
            slot = len(self.shards)
            self.shards.append(shard)
            for i, frame_id in enumerate(shard.frame_ids):
                self._where[frame_id] = (slot, i)
            self.failed.extend(shard.failed)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, frame_id: str) -> bool:
        return frame_id in self._where

    @property
    def frame_ids(self) -> List[str]:
        return list(self._where)

    def get(self, frame_id: str) -> SoftLabelRecord:
        try:
            slot, i = self._where[frame_id]
        except KeyError:
            raise KeyError(f'{self.label_dir} has no labels for frame {frame_id!r}') from None
        return self.shards[slot].record(i, self.num_classes)

    def __repr__(self) -> str:
        return (f'SoftLabelStore({self.label_dir!r}, frames={len(self)}, '
                f'classes={self.num_classes}, failed={len(self.failed)})')


def iter_records(label_dir: str) -> Iterable[SoftLabelRecord]:
    """Every stored record, in frame-list order."""
    store = SoftLabelStore(label_dir, allow_incomplete=True)
    for shard in store.shards:
        for i in range(len(shard.frame_ids)):
            yield shard.record(i, store.num_classes)
