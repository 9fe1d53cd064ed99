"""Sharded, resumable storage of per-frame encoded soft labels: the writer.

Layout of a label directory::

    manifest.json          what produced the labels, which frames, each shard's sha256
    shard_00000.npz        frames [0, S) of the manifest's frame list
    shard_00000.sha256     its digest as written (``sha256sum -c`` format)
    shard_00001.npz        frames [S, 2S) ...
    writer.lock            while a generation runs: its pid, host and run id

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
``frame_crc32``    (F,) uint32         CRC-32 of each frame's ``indices`` then
                                       ``probs`` rows (format 2)
``indices``        (R, k) uint8/16     top-k classes of each grid cell (row-major)
``probs``          (R, k) fp16/uint8   their probabilities (see ``SoftLabelCodec``)
``failed_ids``     (G,) str            frames of the slice that could not be labelled
``failed_reasons`` (G,) str            why (one line each)
``shard_index``    () int64            position of the shard
``frame_start``    () int64            index of its first frame in the frame list
=================  ==================  =============================================

Shards are written under a temporary name, their checksum file is written,
and only then are they renamed into place, so a file with the final name is
always whole and has its checksum; a killed job leaves at most ``*.tmp*``
files, which ``--resume`` deletes and redoes. The zip entries carry a fixed
timestamp, so the same labels give the same bytes (and sha256) whichever run
or rank wrote them. Reading maps the ``indices`` / ``probs`` members into
memory (``np.memmap``), which bypasses the zip CRC; ``frame_crc32`` protects
them instead (checked each time a frame is read, see :mod:`.store`).
"""
from __future__ import annotations

import os
import zipfile
import zlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from .codec import SoftLabelError
from .layout import (  # noqa: F401  (re-exported: the public names of this module)
    SHARD_PATTERN,
    file_sha256,
    grid_shape,
    list_shards,
    plan_shards,
    shard_path,
    shards_of_rank,
    write_checksum,
)
from .manifest import FORMAT_VERSION
from .store import ShardFile, SoftLabelRecord, SoftLabelStore, iter_records  # noqa: F401

#: zip timestamp of every member: shards are byte-identical across runs
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def frame_crc32(indices: np.ndarray, probs: np.ndarray) -> int:
    """CRC-32 of a frame's encoded rows (``indices`` bytes, then ``probs``)."""
    crc = zlib.crc32(np.ascontiguousarray(indices).view(np.uint8).reshape(-1))
    return zlib.crc32(np.ascontiguousarray(probs).view(np.uint8).reshape(-1), crc) & 0xFFFFFFFF


def write_npz(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """An uncompressed ``.npz`` as ``np.savez`` writes it, with fixed member
    timestamps (``np.savez`` stamps the current time), then fsync."""
    with open(path, 'wb') as f:
        with zipfile.ZipFile(f, 'w', compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f'{name}.npy', date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                with archive.open(info, 'w', force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


# ----------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------
class ShardWriter:
    """Collects the records of one shard and writes it atomically.

    Args:
        out_dir: label directory.
        shard_index: position of the shard (file ``shard_{index:05d}.npz``).
        frame_start: index of the shard's first frame in the frame list.
        before_commit: called right before the finished shard is renamed
            into place; raising there abandons the shard (the generation
            tool checks that its run still owns the directory's lock).

    After :meth:`close`, ``sha256`` and ``num_bytes`` describe the file.
    """

    def __init__(self, out_dir: str, shard_index: int, frame_start: int = 0,
                 before_commit: Optional[Callable[[], None]] = None):
        self.out_dir = out_dir
        self.shard_index = int(shard_index)
        self.frame_start = int(frame_start)
        self.before_commit = before_commit
        self.path = shard_path(out_dir, shard_index)
        self.sha256: Optional[str] = None
        self.num_bytes: Optional[int] = None
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
        self._check_rows(frame_id, indices, probs, grid, image_shape, stride)
        self._frame_ids.append(frame_id)
        self._grid_shapes.append(grid)
        self._image_shapes.append((int(image_shape[0]), int(image_shape[1])))
        self._strides.append(int(stride))
        self._indices.append(indices)
        self._probs.append(probs)

    def _check_rows(self, frame_id, indices, probs, grid, image_shape, stride) -> None:
        if indices.shape != probs.shape or indices.ndim != 2:
            raise ValueError(f'frame {frame_id!r}: indices {indices.shape} and probs '
                             f'{probs.shape} must be the same (R, k) shape')
        if indices.shape[0] != grid[0] * grid[1]:
            raise ValueError(f'frame {frame_id!r}: {indices.shape[0]} rows for a label grid of '
                             f'{grid[0]}x{grid[1]} (image {tuple(image_shape)}, stride {stride})')
        if probs.dtype.kind == 'f' and not np.isfinite(probs).all():
            raise SoftLabelError(f'shard {self.path}: frame {frame_id!r} has '
                                 f'{int((~np.isfinite(probs)).sum())} non-finite probabilities')
        if self._indices and (indices.dtype != self._indices[0].dtype
                              or probs.dtype != self._probs[0].dtype
                              or indices.shape[1] != self._indices[0].shape[1]):
            raise ValueError(f'frame {frame_id!r}: encoding {indices.dtype}/{probs.dtype} '
                             f'k={indices.shape[1]} differs from the shard\'s')

    def add_failure(self, frame_id: str, reason: str) -> None:
        """Record a frame that could not be labelled (it is listed, never
        silently dropped)."""
        reason = ' '.join(str(reason).split())[:500]
        self._failed.append((str(frame_id), reason))

    @property
    def failures(self) -> List[Tuple[str, str]]:
        return list(self._failed)

    def arrays(self) -> Dict[str, np.ndarray]:
        """The shard's members (see the module's table)."""
        if self._indices:
            indices = np.concatenate(self._indices)
            probs = np.concatenate(self._probs)
        else:
            indices = np.zeros((0, 1), np.uint8)
            probs = np.zeros((0, 1), np.float16)
        counts = [len(a) for a in self._indices]
        offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        crcs = [frame_crc32(i, p) for i, p in zip(self._indices, self._probs)]
        return dict(
            frame_ids=np.asarray(self._frame_ids, dtype=np.str_).reshape(-1),
            row_offsets=offsets,
            grid_shapes=np.asarray(self._grid_shapes, np.int32).reshape(-1, 2),
            image_shapes=np.asarray(self._image_shapes, np.int32).reshape(-1, 2),
            strides=np.asarray(self._strides, np.int32).reshape(-1),
            frame_crc32=np.asarray(crcs, np.uint32).reshape(-1),
            indices=indices, probs=probs,
            failed_ids=np.asarray([f for f, _ in self._failed], dtype=np.str_).reshape(-1),
            failed_reasons=np.asarray([r for _, r in self._failed], dtype=np.str_).reshape(-1),
            shard_index=np.int64(self.shard_index), frame_start=np.int64(self.frame_start),
            format_version=np.int64(FORMAT_VERSION))

    def close(self) -> str:
        """Write the shard to a temporary file and its checksum file, then
        rename the shard into place."""
        os.makedirs(self.out_dir, exist_ok=True)
        tmp = f'{self.path}.tmp-{os.getpid()}'
        try:
            write_npz(tmp, self.arrays())
            self.sha256 = file_sha256(tmp)
            self.num_bytes = os.path.getsize(tmp)
            if self.before_commit is not None:
                self.before_commit()
            write_checksum(self.path, self.sha256)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return self.path


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
