"""Fused labels in d3l's soft-label store format.

A fused directory is a label directory like the ones
``tools/generate_pseudo_labels.py`` writes (``manifest.json``, sha256-checked
shards, ``writer.lock`` while it is written), read with
:class:`~d3l.soft_labels.SoftLabelStore`. Its "frames" are scenes: the
record of scene ``s`` has one row per vertex, in the order of the scene's
``coord.npy``, stored as a 1 x N label grid (``image_shape = (1, N)``,
``stride = 1``), so ``record.lookup(vertex_index)`` / ``record.decode(...)``
read the labels of any vertices. Vertices no view saw are all-zero rows
("no label"). Each shard has one more member, ``num_views`` (R,) uint16:
how many frames saw each vertex (capped at 65535), aligned with the rows;
the shard's sha256 covers it.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from d3l.soft_labels import LabelStoreError, ShardWriter, SoftLabelRecord, SoftLabelStore


def scene_grid(num_vertices: int) -> Tuple[int, int]:
    """The label-grid shape a scene's record is stored with: one row of vertices."""
    return 1, int(num_vertices)


class FusedShardWriter(ShardWriter):
    """:class:`~d3l.soft_labels.ShardWriter` of scenes, with the per-vertex
    view counts as the extra member ``num_views``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._views: List[np.ndarray] = []

    def add_scene(self, scene_id: str, encoded: Dict[str, np.ndarray],
                  num_views: np.ndarray) -> None:
        num_views = np.asarray(num_views).reshape(-1)
        self.add(scene_id, encoded, image_shape=scene_grid(len(num_views)), stride=1)
        self._views.append(np.minimum(num_views, np.iinfo(np.uint16).max).astype(np.uint16))

    def arrays(self) -> Dict[str, np.ndarray]:
        arrays = super().arrays()
        arrays['num_views'] = (np.concatenate(self._views) if self._views
                               else np.zeros(0, np.uint16))
        return arrays


class FusedLabelStore:
    """Random access by scene id to a fused directory.

    Args:
        label_dir: written by ``tools/fuse_soft_labels.py``.
        allow_incomplete / verify: as :class:`~d3l.soft_labels.SoftLabelStore`.
    """

    def __init__(self, label_dir: str, allow_incomplete: bool = False, verify: bool = True):
        self.store = SoftLabelStore(label_dir, allow_incomplete=allow_incomplete, verify=verify)
        self.label_dir = label_dir
        self.manifest = self.store.manifest
        if (self.manifest.get('teacher') or {}).get('type') != 'SoftLabelFuser':
            raise LabelStoreError(f'{label_dir} holds per-frame labels, not fused scene labels '
                                  '(write them with tools/fuse_soft_labels.py)')
        self.num_classes = self.store.num_classes
        self.class_names = self.store.class_names
        self._where: Dict[str, Tuple[int, int]] = {}
        for slot, shard in enumerate(self.store.shards):
            for i, scene_id in enumerate(shard.frame_ids):
                self._where[scene_id] = (slot, i)
        self._views_cache: Tuple[Optional[int], Optional[np.ndarray]] = (None, None)

    def __contains__(self, scene_id: str) -> bool:
        return scene_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    @property
    def scene_ids(self) -> List[str]:
        return list(self._where)

    def get(self, scene_id: str, num_vertices: Optional[int] = None) -> SoftLabelRecord:
        """The scene's record; ``num_vertices`` (the scene's vertex count)
        is checked against it."""
        record = self.store.get(scene_id)
        stored = int(record.image_shape[1])
        if num_vertices is not None and stored != int(num_vertices):
            raise LabelStoreError(
                f'{record.where}: fused labels of {stored} vertices, but the scene has '
                f'{num_vertices}; the scene changed since fusion (re-run '
                'tools/fuse_soft_labels.py)')
        return record

    def num_views(self, scene_id: str) -> np.ndarray:
        """(N,) uint16 views per vertex of the scene."""
        try:
            slot, i = self._where[scene_id]
        except KeyError:
            raise KeyError(f'{self.label_dir} has no fused labels for scene {scene_id!r}') \
                from None
        shard = self.store.shards[slot]
        cached_slot, views = self._views_cache
        if cached_slot != slot:
            with np.load(shard.path, allow_pickle=False) as data:
                if 'num_views' not in data.files:
                    raise LabelStoreError(f'shard {shard.path} has no num_views (not written '
                                          'by tools/fuse_soft_labels.py)')
                views = data['num_views']
            if len(views) != shard.num_rows:
                raise LabelStoreError(f'shard {shard.path}: {len(views)} view counts for '
                                      f'{shard.num_rows} rows')
            self._views_cache = (slot, views)
        start, stop = int(shard.row_offsets[i]), int(shard.row_offsets[i + 1])
        return views[start:stop]

    def __repr__(self) -> str:
        return (f'FusedLabelStore({self.label_dir!r}, scenes={len(self)}, '
                f'classes={self.num_classes})')
