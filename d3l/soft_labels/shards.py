"""Sharded, resumable storage of per-frame encoded soft labels: the writer.

Layout of a label directory::

    manifest.json              what produced the labels, which frames, each shard's sha256
    shard_00000.npz            frame table of frames [0, S) of the manifest's frame list
    shard_00000.indices.npy    their label rows: top-k classes ...
    shard_00000.probs.npy      ... and probabilities (plain .npy, memory-mapped on reading)
    shard_00000.sha256         the three files' digests as written (``sha256sum -c`` format)
    shard_00001.npz            frames [S, 2S) ...
    writer.lock                while a generation runs: its pid, host and run id

A shard holds the frames of one contiguous slice of the frame list,
concatenated: the frame table is an uncompressed ``.npz`` (read whole with
``np.load``), the two row arrays are ``.npy`` files beside it (format 3;
formats 1 and 2 kept the rows inside the ``.npz``):

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
``failed_ids``     (G,) str            frames of the slice that could not be labelled
``failed_reasons`` (G,) str            why (one line each)
``shard_index``    () int64            position of the shard
``frame_start``    () int64            index of its first frame in the frame list
``format_version`` () int64            storage format (3)
``row_sha256``     (2,) str            sha256 of ``<shard>.indices.npy``, ``.probs.npy``
=================  ==================  =============================================

and the row files:

=================  ==================  =============================================
``indices``        (R, k) uint8/16     top-k classes of each grid cell (row-major)
``probs``          (R, k) fp16/uint8   their probabilities (see ``SoftLabelCodec``)
=================  ==================  =============================================

All three files are written under temporary names, the checksum file is
written, and only then are they renamed into place, the table last: a table
with the final name always has its rows and its checksum; a killed job
leaves at most ``*.tmp-*`` files, which ``--resume`` deletes and redoes. The
table's zip entries carry a fixed timestamp, so the same labels give the
same bytes (and sha256) whichever run or rank wrote them; as it records the
rows' sha256, the table's digest identifies the whole shard. Reading maps
the row files into memory (``np.load(mmap_mode='r')``), which checks
nothing; ``frame_crc32`` protects them instead (checked each time a frame is
read, see :mod:`.store`).
"""
from __future__ import annotations

import os
import zipfile
import zlib
from contextlib import ExitStack
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import Tensor

from d3l.utils import fileio

from .codec import SoftLabelError
from .layout import (  # noqa: F401  (re-exported: the public names of this module)
    ROW_MEMBERS,
    SHARD_PATTERN,
    file_sha256,
    grid_shape,
    list_shards,
    plan_shards,
    row_path,
    shard_files,
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
        """Write the shard's files under temporary names and its checksum
        file, then rename the files into place, the table last."""
        table = self.arrays()
        rows = [table.pop(member) for member in ROW_MEMBERS]
        with ExitStack() as commit:
            # entered table first, so on a clean exit the table is renamed last
            tmps = [commit.enter_context(fileio.atomic_path(p)) for p in shard_files(self.path)]
            row_sha256 = []
            for tmp, array in zip(tmps[1:], rows):
                with open(tmp, 'wb') as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
                    f.flush()
                    os.fsync(f.fileno())
                row_sha256.append(file_sha256(tmp))
            table['row_sha256'] = np.asarray(row_sha256, dtype=np.str_)
            write_npz(tmps[0], table)
            self.sha256 = file_sha256(tmps[0])
            self.num_bytes = sum(os.path.getsize(tmp) for tmp in tmps)
            if self.before_commit is not None:
                self.before_commit()  # raising here leaves no file of this shard
            write_checksum(self.path, self.sha256, row_sha256)
        return self.path


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
