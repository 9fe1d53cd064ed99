"""Data-efficient splits shared by the downstream datasets.

Three kinds of scarce supervision, all selected from a config:

- **Limited Annotations** (ScanNet LA): a ``torch.save`` dict scene id ->
  indices of the annotated vertices; every other vertex is ignored (255).
- **Limited Reconstructions** (ScanNet LR): a text file with one scene id per
  line; only those scenes carry labels.
- **Shape subsets** (ModelNet40 / ShapeNet part 1/5/20 %): a text file with
  one shape id per line.

Every dataset takes ``subset='labeled' | 'unlabeled' | 'all'``: the labelled
part, the rest of the training data with every label hidden (for
semi-supervised streams), or both. A split file that names samples the
dataset does not have is an error naming the file and the samples, never a
silent mismatch.
"""
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from d3l.utils.errors import D3LError

SUBSETS = ('labeled', 'unlabeled', 'all')


class SplitFileError(D3LError, ValueError):
    """A data-efficient split (LA / LR / subset file) does not fit the
    dataset; the message names the file and the samples."""


def check_subset(subset: str, owner: str) -> str:
    if subset not in SUBSETS:
        raise SplitFileError(f'{owner}: subset must be one of {SUBSETS}, got {subset!r}')
    return subset


def read_id_list(path: str, what: str = 'id') -> List[str]:
    """Ids of a text file, one per line, in file order.

    Blank lines and lines starting with ``#`` are skipped (``numpy.loadtxt``,
    which Pointcept uses for these files, skips them too). A duplicated id
    is an error: it would silently weight one sample twice.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} list {path} does not exist')
    ids, seen = [], set()
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            item = line.strip()
            if not item or item.startswith('#'):
                continue
            if item in seen:
                raise SplitFileError(f'{path}:{line_no}: {what} {item!r} is listed twice')
            seen.add(item)
            ids.append(item)
    if not ids:
        raise SplitFileError(f'{what} list {path} is empty')
    return ids


def write_id_list(path: str, ids: Iterable[str]) -> None:
    """Write ids one per line, atomically."""
    from d3l.utils import fileio
    fileio.write_text(path, ''.join(f'{i}\n' for i in ids))


def _format_ids(ids: Sequence[str], limit: int = 5) -> str:
    shown = ', '.join(map(str, list(ids)[:limit]))
    return shown + (f', ... ({len(ids)} in all)' if len(ids) > limit else '')


def check_ids_known(listed: Iterable[str], known: Iterable[str], source: str,
                    where: str, what: str = 'scene') -> None:
    """Raise when ``listed`` names ids outside ``known``."""
    known = set(known)
    missing = [i for i in listed if i not in known]
    if missing:
        raise SplitFileError(f'{source} names {len(missing)} {what}(s) that are not in {where}: '
                         f'{_format_ids(missing)}')


def load_la_file(path: str) -> Dict[str, np.ndarray]:
    """Read a Limited-Annotations file: ``torch.save`` dict scene id ->
    annotated vertex indices (tensor, numpy array or list).

    Loaded with ``torch.load(weights_only=True)``; numpy arrays written by
    numpy 1.x or 2.x are allowed, nothing that could run code.
    """
    import torch

    from d3l.utils.compat import (
        CorruptCheckpointError,
        UnsafeCheckpointError,
        mmengine_checkpoint_globals,
    )
    if not osp.isfile(path):
        raise FileNotFoundError(f'limited-annotation file {path} does not exist')
    core = getattr(np, '_core', None) or np.core
    # files written under numpy 1.x name numpy.core.*; numpy 2 moved it to _core
    aliases = [(core.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
               (core.multiarray.scalar, 'numpy.core.multiarray.scalar')]
    try:
        with torch.serialization.safe_globals(mmengine_checkpoint_globals() + aliases):
            data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure names the file
        kind = UnsafeCheckpointError if 'global' in str(err).lower() else CorruptCheckpointError
        raise kind(f'cannot read limited-annotation file {path}: '
                   f'{str(err).splitlines()[0] if str(err) else type(err).__name__}') from None
    if not isinstance(data, dict) or not data:
        raise SplitFileError(f'limited-annotation file {path} must hold a non-empty dict scene id '
                         f'-> vertex indices, got {type(data).__name__}')
    out = {}
    for scene_id, index in data.items():
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        index = np.asarray(index)
        if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
            raise SplitFileError(f'{path}: scene {scene_id!r} must map to a 1-D integer index '
                             f'array, got dtype {index.dtype} shape {index.shape}')
        out[str(scene_id)] = index.astype(np.int64)
    return out


def la_label_mask(index: np.ndarray, num_points: int, scene_id: str,
                  source: str) -> np.ndarray:
    """Boolean mask of the annotated points of one scene."""
    if index.size and (index.min() < 0 or index.max() >= num_points):
        bad = index[(index < 0) | (index >= num_points)][0]
        raise SplitFileError(f'{source}: scene {scene_id} lists vertex {bad} but the scene has '
                         f'{num_points} vertices (was the file made for another version of '
                         'the data?)')
    mask = np.zeros(num_points, bool)
    mask[index] = True
    return mask


def split_by_subset(ids: Sequence[str], subset_file: Optional[str], subset: str,
                    where: str, what: str = 'shape') -> List[tuple]:
    """``[(id, labeled), ...]`` for ``subset`` of ``ids`` given a subset file.

    Without a subset file every sample is labelled (``'unlabeled'`` then
    yields every sample with labels hidden, which is what a semi-supervised
    stream over fully labelled data means).
    """
    if subset_file is None:
        return [(i, subset != 'unlabeled') for i in ids]
    listed = read_id_list(subset_file, what)
    check_ids_known(listed, ids, subset_file, where, what)
    listed = set(listed)
    if subset == 'labeled':
        return [(i, True) for i in ids if i in listed]
    if subset == 'unlabeled':
        return [(i, False) for i in ids if i not in listed]
    return [(i, i in listed) for i in ids]
