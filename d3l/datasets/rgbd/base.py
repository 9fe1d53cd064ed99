"""Shared base class of the RGB-D pre-training sources.

Every RGB-D dataset lists its frames cheaply (paths and ids, no image is
read), returns per-frame info from :meth:`get_data_info` (the keys of
``d3l/datasets/README.md``: ``img_path``, ``depth_path``, ``projection``,
``intrinsics``, ``cam2world``, ``frame_id``, ``scene_id``, ``depth_encoding``,
``depth_scale``, ...) and runs a pipeline that starts with ``LoadRGBD``.

Bad frames (unreadable or truncated files, image and depth of different
sizes, missing intrinsics, invalid poses, no valid depth, ...) raise
:class:`BadFrameError` naming the file. With ``skip_bad_frames=True`` the
dataset logs a warning, counts the frame and returns the next good frame
instead; the per-epoch count is logged by :class:`SkippedFramesHook` (and can
be read with :meth:`BaseRGBDDataset.pop_epoch_skips`). Counts are kept in
shared memory, so frames skipped inside DataLoader workers are counted too.
"""
import copy
import logging
import multiprocessing as mp
import os.path as osp
from multiprocessing import context as mp_context
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from d3l.registry import TRANSFORMS
from d3l.utils.errors import D3LError

from .io import BadFrameError

PROJECTIONS = ('perspective', 'equirect')


class DatasetArgumentError(D3LError, TypeError):
    """A dataset was given an argument it does not take (a config typo)."""


class SharedCounter:
    """An integer counter shared with DataLoader worker processes (fork:
    inherited shared memory; spawn: the shared value travels with the
    dataset). Copies made outside process spawning (``copy.deepcopy``,
    pickling to disk) get an independent counter with the current value."""

    def __init__(self, value: int = 0):
        # a lock made by the spawn context can travel to spawn / forkserver
        # workers too; forked workers simply inherit it
        self._value = mp.get_context('spawn').Value('q', int(value), lock=True)

    def add(self, amount: int = 1) -> None:
        with self._value.get_lock():
            self._value.value += amount

    def get(self) -> int:
        return int(self._value.value)

    def pop(self) -> int:
        with self._value.get_lock():
            value = int(self._value.value)
            self._value.value = 0
        return value

    def __reduce__(self):
        if mp_context.get_spawning_popen() is not None:
            return _rebuild_counter, (self._value,)
        return SharedCounter, (self.get(),)

    def __deepcopy__(self, memo):
        return SharedCounter(self.get())


def _rebuild_counter(value) -> SharedCounter:
    counter = SharedCounter.__new__(SharedCounter)
    counter._value = value
    return counter


class BaseRGBDDataset(BaseDataset):
    """Base of the RGB-D frame datasets.

    Subclasses implement :meth:`list_frames` (cheap: paths and ids only) and
    may override :meth:`parse_frame` to read small per-frame metadata
    (intrinsics, pose) when a frame is used.

    Args:
        data_root: dataset root folder.
        pipeline: transforms; the first is normally ``dict(type='LoadRGBD')``.
        skip_bad_frames: replace frames that raise :class:`BadFrameError` by
            the next good frame (warning + counted skip) instead of raising.
        max_skip_tries: consecutive bad frames tolerated for one item before
            giving up with an error (a dataset that is mostly broken should
            fail loudly, not loop).
        indices: keep only these frames (an int keeps the first N), as in
            MMEngine's ``BaseDataset``.
        test_mode, lazy_init, serialize_data: as in MMEngine's ``BaseDataset``.
    """

    METAINFO: dict = dict(classes=None)

    def __init__(self, data_root: str = '', pipeline: Sequence = (),
                 skip_bad_frames: bool = False, max_skip_tries: int = 20,
                 indices=None, test_mode: bool = False, lazy_init: bool = False,
                 serialize_data: bool = True, metainfo: Optional[dict] = None, **kwargs):
        if kwargs:
            import difflib
            import inspect
            known = [name for cls in type(self).__mro__ if '__init__' in vars(cls)
                     for name in inspect.signature(cls.__init__).parameters
                     if name not in ('self', 'kwargs')]
            hints = [f'{k} (did you mean {m[0]}?)' if m else k for k in sorted(kwargs)
                     for m in [difflib.get_close_matches(k, known, n=1)]]
            raise DatasetArgumentError(f'{type(self).__name__} got unexpected arguments '
                                       f'{", ".join(hints)}')
        self.skip_bad_frames = skip_bad_frames
        self.max_skip_tries = int(max_skip_tries)
        self._epoch_skips = SharedCounter()
        self._total_skips = SharedCounter()
        self._warned: set = set()
        # build in d3l's scope, so a dataset made in plain Python (no config,
        # no default_scope) finds d3l's transforms; other scopes still work
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(data_root=data_root, pipeline=pipeline, indices=indices,
                         test_mode=test_mode, lazy_init=lazy_init, metainfo=metainfo,
                         serialize_data=serialize_data, data_prefix=dict())

    # ------------------------------------------------------------------ listing
    def list_frames(self) -> List[dict]:
        """Frame infos without reading any image: at least ``frame_id``,
        ``scene_id``, ``img_path``, ``depth_path``, ``projection``."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        if self.data_root and not osp.isdir(self.data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {self.data_root!r} is '
                                    'not a directory')
        frames = self.list_frames()
        seen: Dict[str, int] = {}
        for i, frame in enumerate(frames):
            frame_id = frame['frame_id']
            if frame_id in seen:
                raise ValueError(f'{type(self).__name__}: frame_id {frame_id!r} appears twice '
                                 f'({frames[seen[frame_id]]["img_path"]} and '
                                 f'{frame["img_path"]})')
            seen[frame_id] = i
        if not frames:
            raise ValueError(f'{type(self).__name__}: no frames found under '
                             f'{self.data_root!r} (see docs/data_preparation.md for the layout)')
        return frames

    def frame_ids(self) -> List[str]:
        """Ids of all frames, in dataset order, without loading anything."""
        self.full_init()
        return [self.get_raw_info(i)['frame_id'] for i in range(len(self))]

    def get_raw_info(self, idx: int) -> dict:
        """The listed info of frame ``idx`` (no metadata file is read)."""
        return super().get_data_info(idx)

    def iter_frames(self) -> Iterator[dict]:
        """Listed infos of all frames, in order (nothing is loaded)."""
        self.full_init()
        for i in range(len(self)):
            yield self.get_raw_info(i)

    # ------------------------------------------------------------- per frame
    def parse_frame(self, info: dict) -> dict:
        """Complete a listed frame info (read intrinsics, poses, ...). The
        default keeps it as it is."""
        return info

    def get_data_info(self, idx: int) -> dict:
        info = copy.deepcopy(self.get_raw_info(idx))
        info = self.parse_frame(info)
        projection = info.get('projection')
        if projection not in PROJECTIONS:
            raise ValueError(f'{type(self).__name__}: frame {info.get("frame_id")!r} has '
                             f'projection {projection!r}; expected one of {PROJECTIONS}')
        for key in ('intrinsics', 'color_intrinsics', 'cam2world'):
            if info.get(key) is not None:
                info[key] = np.asarray(info[key], np.float32)
        info.setdefault('cam2world', None)
        info.setdefault('intrinsics', None)
        info['sample_idx'] = idx
        return info

    def prepare_data(self, idx: int):
        return self.pipeline(self.get_data_info(idx))

    def try_prepare(self, idx: int) -> Optional[dict]:
        """Run the pipeline on frame ``idx``; a bad frame returns ``None``
        after a warning and a counted skip when ``skip_bad_frames`` is set,
        and raises :class:`BadFrameError` otherwise. Use it to visit every
        frame exactly once (e.g. when generating pseudo-labels)."""
        if not self._fully_initialized:
            self.full_init()
        try:
            return self.prepare_data(idx)
        except BadFrameError as exc:
            if not self.skip_bad_frames:
                raise
            self._record_skip(idx, exc)
            return None

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            print_log('Please call `full_init()` method manually to accelerate the speed.',
                      logger='current', level=logging.WARNING)
            self.full_init()
        first = idx
        for _ in range(max(1, self.max_skip_tries)):
            data = self.try_prepare(idx)
            if data is not None:
                return data
            idx = (idx + 1) % len(self)
        raise BadFrameError(
            f'{type(self).__name__}: {self.max_skip_tries} consecutive bad frames starting at '
            f'index {first} ({self.get_raw_info(first).get("img_path")}); the data look broken '
            '(see the warnings above)')

    # ------------------------------------------------------------- skip stats
    def _record_skip(self, idx: int, exc: Exception) -> None:
        self._epoch_skips.add()
        self._total_skips.add()
        frame_id = self.get_raw_info(idx).get('frame_id', idx)
        if frame_id not in self._warned:  # once per frame and process
            self._warned.add(frame_id)
            print_log(f'{type(self).__name__}: skipping bad frame {frame_id!r}: {exc}',
                      logger='current', level=logging.WARNING)

    @property
    def num_skipped(self) -> int:
        """Bad frames skipped since the dataset was built (all workers)."""
        return self._total_skips.get()

    def pop_epoch_skips(self) -> int:
        """Bad frames skipped since the last call (all workers); resets."""
        return self._epoch_skips.pop()
