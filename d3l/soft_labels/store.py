"""Reading a label directory: shards, per-frame records, the store.

Opening a store checks each shard's frame table against the manifest (the
frames of its slice, its index and first frame), so a changed
``shard_size`` or a shard replaced by a copy of another is an error, not
silently missing frames. Reading a frame checks the CRC-32 of its rows
(``frame_crc32``): the row files are memory-mapped, which checks nothing,
and a flipped byte would otherwise become a wrong label. The whole-file
sha256 digests are checked by ``--resume`` and ``--verify`` (see
:mod:`.verify`), which read every byte anyway.
"""
from __future__ import annotations

import os
import zipfile
import zlib
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .codec import SUM_TOLERANCE, SoftLabelCodec, SoftLabelError
from .layout import ROW_MEMBERS, SHARD_PATTERN, list_shards, plan_shards, planned_frames, row_path
from .manifest import FORMAT_VERSION, LabelStoreError, read_manifest


def map_rows(shard_file: str, member: str) -> np.ndarray:
    """Memory-map the row file ``member`` of a shard (``np.load``, no copy)."""
    path = row_path(shard_file, member)
    try:
        rows = np.load(path, mmap_mode='r', allow_pickle=False)
    except FileNotFoundError:
        raise LabelStoreError(f'shard {shard_file}: its row file {path} is missing; run '
                              'tools/generate_pseudo_labels.py --resume to redo the shard'
                              ) from None
    except (OSError, ValueError, EOFError) as err:
        raise LabelStoreError(f'shard {shard_file}: its row file {path} is corrupt or truncated '
                              f'({type(err).__name__}: {err})') from None
    if rows.ndim != 2:
        raise LabelStoreError(f'shard {shard_file}: {path} holds a {rows.ndim}-d array, label '
                              'rows are (R, k)')
    return rows


def _crc32(rows: np.ndarray, crc: int = 0) -> int:
    return zlib.crc32(np.ascontiguousarray(rows).view(np.uint8).reshape(-1), crc)


#: float16 bit patterns above this are > 1 + SUM_TOLERANCE, negative, inf or NaN
_FP16_LIMIT = int(np.float16(1 + SUM_TOLERANCE).view(np.uint16))


def _bad_probs(probs: np.ndarray) -> bool:
    """Whether any stored probability is not in [0, 1] (or not finite): for
    float16 one integer max over the bit patterns (non-negative halves order
    like their bits), 100x cheaper than float16 arithmetic in numpy."""
    if probs.dtype == np.float16:
        return int(probs.view(np.uint16).max()) > _FP16_LIMIT
    if probs.dtype.kind == 'f':
        return not (np.isfinite(probs).all() and probs.min() >= 0
                    and probs.max() <= 1 + SUM_TOLERANCE)
    return False  # uint8 probabilities are always in [0, 1]


class ShardFile:
    """One shard: frame table in memory, label rows memory-mapped.

    Args:
        path: the shard file.
        verify: check each frame's CRC-32 when it is read (format 2
            shards; older ones have none).
    """

    def __init__(self, path: str, verify: bool = True):
        self.path = path
        self.verify = verify
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
                self.frame_crc32 = (data['frame_crc32'].astype(np.int64)
                                    if 'frame_crc32' in data.files else None)
                self.num_rows = int(self.row_offsets[-1]) if len(self.row_offsets) else 0
                version = int(data['format_version']) if 'format_version' in data.files else 1
                self.row_sha256 = ([str(d) for d in data['row_sha256']]
                                   if 'row_sha256' in data.files else None)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
            raise LabelStoreError(f'shard {path} is corrupt or incomplete '
                                  f'({type(err).__name__}: {err})') from None
        if self.row_sha256 is None:  # formats 1 and 2
            raise LabelStoreError(
                f'shard {path} is in storage format {version} (label rows inside the .npz), '
                f'which this d3l no longer reads (format {FORMAT_VERSION}: rows in .npy files '
                'beside the table); regenerate the directory with '
                'tools/generate_pseudo_labels.py')
        if len(self.row_offsets) != len(self.frame_ids) + 1 or (
                self.frame_crc32 is not None and len(self.frame_crc32) != len(self.frame_ids)):
            raise LabelStoreError(f'shard {path} is corrupt: its frame table has '
                                  f'{len(self.frame_ids)} frames, {len(self.row_offsets)} row '
                                  'offsets')
        self._indices: Optional[np.ndarray] = None
        self._probs: Optional[np.ndarray] = None
        self._pid = None

    def check_plan(self, manifest: dict, shard_index: int) -> None:
        """Raise unless the shard holds exactly the frames the manifest puts
        in shard ``shard_index`` (labelled or failed)."""
        planned = planned_frames(manifest, shard_index)
        start = shard_index * int(manifest['shard_size'])
        stored = self.frame_ids + [f for f, _ in self.failed]
        if self.shard_index == shard_index and self.frame_start == start and \
                sorted(stored) == sorted(planned):
            return
        unexpected = [f for f in stored if f not in set(planned)]
        missing = [f for f in planned if f not in set(stored)]
        raise LabelStoreError(
            f'shard {self.path} does not hold the frames the manifest assigns to it: it was '
            f'written as shard {self.shard_index} from frame {self.frame_start}, the manifest '
            f'(shard_size {manifest["shard_size"]}) expects shard {shard_index} from frame '
            f'{start}; {len(unexpected)} unexpected frame(s) (first: {unexpected[:1]}), '
            f'{len(missing)} missing (first: {missing[:1]}). The manifest was edited or the '
            'shard copied from elsewhere; regenerate the directory')

    def _arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        # re-map after a fork (dataloader workers) so each process owns its maps
        if self._indices is None or self._pid != os.getpid():
            self._indices, self._probs = (map_rows(self.path, m) for m in ROW_MEMBERS)
            self._pid = os.getpid()
            if len(self._indices) != self.num_rows or len(self._probs) != self.num_rows or \
                    self._indices.shape[1] != self._probs.shape[1]:
                raise LabelStoreError(
                    f'shard {self.path}: row files of {self._indices.shape} indices and '
                    f'{self._probs.shape} probabilities, the frame table says {self.num_rows} '
                    'rows of both')
        return self._indices, self._probs

    def __getstate__(self):
        state = dict(self.__dict__)
        state['_indices'] = state['_probs'] = state['_pid'] = None
        return state

    def check_frame(self, i: int) -> None:
        """Raise :class:`LabelStoreError` when frame ``i``'s rows do not
        match their stored CRC-32 (a no-op for shards without one)."""
        if self.frame_crc32 is None:
            return
        indices, probs = self._arrays()
        start, stop = int(self.row_offsets[i]), int(self.row_offsets[i + 1])
        crc = _crc32(probs[start:stop], _crc32(indices[start:stop])) & 0xFFFFFFFF
        if crc != int(self.frame_crc32[i]):
            raise LabelStoreError(
                f'shard {self.path}, frame {self.frame_ids[i]!r}: its label rows fail their '
                f'checksum (crc32 {crc:08x}, stored {int(self.frame_crc32[i]):08x}); the file is '
                'corrupt: run tools/generate_pseudo_labels.py --verify, then --resume to redo it')

    def record(self, i: int, num_classes: int) -> SoftLabelRecord:
        indices, probs = self._arrays()
        if self.verify:
            self.check_frame(i)
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
        source: the shard file it was read from.
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
        #: the frame's stored normals (:class:`~d3l.soft_labels.normals.NormalsRecord`),
        #: None when the store has none
        self.normals = None

    @property
    def where(self) -> str:
        """``shard <file>, frame <id>`` for error messages."""
        return f'shard {self.source}, frame {self.frame_id!r}' if self.source else \
            f'frame {self.frame_id!r}'

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

    def _checked(self, encoded: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        indices, probs = encoded['indices'], encoded['probs']
        if len(indices) and (int(indices.max()) >= self.num_classes or _bad_probs(probs)):
            try:
                SoftLabelCodec.check_stored(SoftLabelCodec.stored_indices(encoded),
                                            SoftLabelCodec.stored_probs(encoded),
                                            self.num_classes)
            except SoftLabelError as err:
                raise LabelStoreError(f'{self.where}: {err}; the shard is corrupt (run '
                                      'tools/generate_pseudo_labels.py --verify)') from None
        return encoded

    def lookup(self, pixel_index: np.ndarray, image_shape: Optional[Sequence[int]] = None
               ) -> Dict[str, np.ndarray]:
        """Encoded labels ``{'indices', 'probs'}`` (N, k) of the given pixels."""
        rows = self.rows(pixel_index, image_shape)
        # np.take gathers the memory-mapped rows ~4x faster than fancy indexing
        return self._checked({'indices': np.asarray(np.take(self.indices, rows, axis=0)),
                              'probs': np.asarray(np.take(self.probs, rows, axis=0))})

    def decode(self, pixel_index: np.ndarray, image_shape: Optional[Sequence[int]] = None
               ) -> np.ndarray:
        """Dense (N, C) float32 distributions of the given pixels."""
        encoded = self.lookup(pixel_index, image_shape)
        return SoftLabelCodec.decode(encoded, self.num_classes).numpy()

    def decode_grid(self) -> np.ndarray:
        """The whole label grid as (Hg, Wg, C) float32 (for inspection;
        training decodes only the points it keeps)."""
        encoded = self._checked({'indices': np.asarray(self.indices),
                                 'probs': np.asarray(self.probs)})
        dense = SoftLabelCodec.decode(encoded, self.num_classes)
        return dense.numpy().reshape(*self.grid_shape, self.num_classes)

    def __repr__(self) -> str:
        return (f'SoftLabelRecord({self.frame_id!r}, grid={self.grid_shape}, '
                f'image={self.image_shape}, stride={self.stride}, C={self.num_classes})')


class SoftLabelStore:
    """Random access by ``frame_id`` to a label directory.

    Args:
        label_dir: directory written by ``tools/generate_pseudo_labels.py``.
        allow_incomplete: read a directory whose generation has not
            finished (shards missing); otherwise that is an error.
        verify: check each frame's CRC-32 when it is read (cheap: a few
            ms for a 3 MB frame, against tens of ms to load its images).
    """

    def __init__(self, label_dir: str, allow_incomplete: bool = False, verify: bool = True):
        self.label_dir = label_dir
        self.manifest = read_manifest(label_dir)
        self.num_classes = int(self.manifest['num_classes'])
        self.class_names = list(self.manifest.get('class_names') or [])
        expected = len(plan_shards(len(self.manifest['frame_ids']),
                                   int(self.manifest['shard_size'])))
        paths = list_shards(label_dir)
        self.shards: List[ShardFile] = []
        self._where: Dict[str, Tuple[int, int]] = {}
        self.failed: List[Tuple[str, str]] = []
        # frame tables first: an edited shard_size shows as the shards' content
        for index, path in paths.items():
            shard = ShardFile(path, verify=verify)
            if index < expected:
                shard.check_plan(self.manifest, index)
            slot = len(self.shards)
            self.shards.append(shard)
            for i, frame_id in enumerate(shard.frame_ids):
                self._where[frame_id] = (slot, i)
            self.failed.extend(shard.failed)
        extra = [path for index, path in paths.items() if index >= expected]
        if extra:
            raise LabelStoreError(
                f'{label_dir}: {len(extra)} shard file(s) beyond the manifest\'s '
                f'{expected} shards (first: {extra[0]}); the manifest was edited or the files '
                'come from another generation')
        from .normals import open_normals  # normals stored beside the labels (opt-in)
        self.normals = open_normals(self.manifest, self.shards, verify=verify)
        missing = [i for i in range(expected) if i not in paths]
        if missing and not allow_incomplete:
            raise LabelStoreError(
                f'{label_dir}: {len(missing)} of {expected} shards are missing (first: '
                f'{SHARD_PATTERN.format(missing[0])}); finish the generation with '
                'tools/generate_pseudo_labels.py ... --resume')

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
        record = self.shards[slot].record(i, self.num_classes)
        if self.normals is not None:
            record.normals = self.normals[slot].record(i)
        return record

    @property
    def has_normals(self) -> bool:
        """Whether surface normals are stored beside the labels."""
        return self.normals is not None

    def __repr__(self) -> str:
        return (f'SoftLabelStore({self.label_dir!r}, frames={len(self)}, '
                f'classes={self.num_classes}, failed={len(self.failed)})')


def iter_records(label_dir: str) -> Iterable[SoftLabelRecord]:
    """Every stored record, in frame-list order."""
    store = SoftLabelStore(label_dir, allow_incomplete=True)
    for shard in store.shards:
        for i in range(len(shard.frame_ids)):
            yield shard.record(i, store.num_classes)
