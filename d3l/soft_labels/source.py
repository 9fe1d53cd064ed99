"""The identity of the RGB-D source a label directory was made from.

The manifest records the source's ``type``, its ``data_root`` (resolved)
and, per frame, the size and modification time of each of its files
(``source_files``, aligned with ``frame_ids``)::

    "img_path=52311@1733050000123456789 depth_path=20110@1733050000223456789"

Size and mtime come from one ``stat`` per file (no file is read), so
fingerprinting 10 000 frames costs well under a second on a local disk.
``--resume`` requires the same type, root and fingerprints: labels of other
files with the same frame ids are never kept. A dataset reading the labels
(:class:`~d3l.datasets.PretrainRGBDDataset`) requires the same type and the
same file sizes; it only reports a different root or mtimes (data copied to
another disk keep their sizes, not always their mtimes).
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from .manifest import LabelStoreError

MISSING = 'missing'


def frame_files(info: dict) -> Dict[str, str]:
    """``{key: path}`` of the files a frame info names (``*_path`` keys)."""
    return {key: value for key, value in sorted(info.items())
            if key.endswith('_path') and isinstance(value, str) and value}


def _raw_info(dataset, index: int) -> dict:
    if hasattr(dataset, 'get_raw_info'):
        return dataset.get_raw_info(index)
    return dataset.get_data_info(index)


def file_stats(dataset, indices: Optional[Sequence[int]] = None) -> List[str]:
    """Per frame of ``dataset`` (or of ``indices``): its files' sizes and
    mtimes, one string per frame (see the module docstring)."""
    cache: Dict[str, str] = {}
    out = []
    for index in (range(len(dataset)) if indices is None else indices):
        parts = []
        for key, path in frame_files(_raw_info(dataset, index)).items():
            if path not in cache:
                try:
                    stat = os.stat(path)
                    cache[path] = f'{stat.st_size}@{stat.st_mtime_ns}'
                except OSError:
                    cache[path] = MISSING
            parts.append(f'{key}={cache[path]}')
        out.append(' '.join(parts))
    return out


def parse_stats(text: str) -> Dict[str, Tuple[Optional[int], Optional[int]]]:
    """``{key: (size, mtime_ns)}`` of a ``source_files`` entry."""
    parsed = {}
    for part in str(text).split():
        key, _, value = part.partition('=')
        if value == MISSING or '@' not in value:
            parsed[key] = (None, None)
        else:
            size, _, mtime = value.partition('@')
            parsed[key] = (int(size), int(mtime))
    return parsed


def describe_source(dataset, config: dict) -> dict:
    """The manifest's ``source``: the dataset's type, resolved root, config."""
    root = getattr(dataset, 'data_root', None) or config.get('data_root') or ''
    return {'type': type(dataset).__name__,
            'data_root': osp.realpath(root) if root else '', 'config': config}


def stat_changes(old: str, new: str, sizes_only: bool = False) -> List[str]:
    """What differs between two ``source_files`` entries of one frame."""
    old_stats, new_stats = parse_stats(old), parse_stats(new)
    changes = []
    for key in sorted(set(old_stats) | set(new_stats)):
        before, after = old_stats.get(key), new_stats.get(key)
        if before is None or after is None:
            changes.append(f'{key} {"added" if before is None else "gone"}')
        elif before[0] is None or after[0] is None:
            if before[0] is not after[0]:
                changes.append(f'{key} file {"missing" if after[0] is None else "appeared"}')
        elif before[0] != after[0]:
            changes.append(f'{key} {before[0]} -> {after[0]} bytes')
        elif not sizes_only and before[1] != after[1]:
            changes.append(f'{key} modified (mtime {before[1]} -> {after[1]} ns)')
    return changes


def frame_changes(frame_ids: Sequence[str], old: Sequence[str], new: Sequence[str],
                  sizes_only: bool = False) -> List[Tuple[str, List[str]]]:
    """``[(frame_id, changes), ...]`` of the frames whose files differ."""
    changed = []
    for frame_id, before, after in zip(frame_ids, old, new):
        if before != after:
            changes = stat_changes(before, after, sizes_only)
            if changes:
                changed.append((frame_id, changes))
    return changed


def source_differences(old: dict, new: dict) -> List[str]:
    """Why ``new`` (a manifest about to be written) is not made from the
    same source as ``old``: human-readable lines, empty when it is."""
    old_source, new_source = old.get('source') or {}, new.get('source') or {}
    if 'source_files' not in old:
        return ['the directory records no source fingerprint (written by an older d3l); '
                'regenerate it']
    lines = []
    for key in ('type', 'data_root'):
        if old_source.get(key) != new_source.get(key):
            lines.append(f'source {key} {old_source.get(key)!r} -> {new_source.get(key)!r}')
    if len(old['source_files']) == len(new.get('source_files') or []):
        changed = frame_changes(new['frame_ids'], old['source_files'], new['source_files'])
        if changed:
            frame_id, changes = changed[0]
            lines.append(f'the files of {len(changed)} of {len(new["frame_ids"])} frames '
                         f'changed (first: {frame_id!r}: {", ".join(changes)})')
    return lines


def check_dataset_source(manifest: dict, label_dir: str, dataset, source_type: str,
                         frames: Sequence[Tuple[int, str]]) -> List[str]:
    """Compare the frames ``[(dataset index, frame_id), ...]`` a dataset
    reads with those the labels were made from.

    Raises :class:`LabelStoreError` for another source type or files of
    another size; returns notes (another root, other mtimes) to log.
    """
    source = manifest.get('source') or {}
    recorded = manifest.get('source_files')
    if recorded is None:
        return [f'{label_dir} records no source fingerprint (an older d3l wrote it): the '
                'frames cannot be checked against it']
    old_type = source.get('type')
    if old_type and source_type != old_type:
        raise LabelStoreError(f'{label_dir}: its labels were made from a {old_type} (root '
                              f'{source.get("data_root")!r}); the dataset given is a '
                              f'{source_type}')
    by_id = dict(zip(manifest['frame_ids'], recorded))
    ids = [frame_id for _, frame_id in frames]
    now = file_stats(dataset, [index for index, _ in frames])
    old = [by_id.get(frame_id, '') for frame_id in ids]
    changed = frame_changes(ids, old, now, sizes_only=True)
    if changed:
        frame_id, changes = changed[0]
        raise LabelStoreError(
            f'{label_dir}: the files of {len(changed)} of {len(ids)} frames are not those the '
            f'labels were made from (root then {source.get("data_root")!r}); first: frame '
            f'{frame_id!r}: {", ".join(changes)}. Regenerate the labels for this data')
    notes = []
    root = getattr(dataset, 'data_root', '') or ''
    if root and source.get('data_root') and osp.realpath(root) != source['data_root']:
        notes.append(f'{label_dir}: labels made from {source["data_root"]}, read with frames '
                     f'of {osp.realpath(root)} (the same file sizes)')
    touched = frame_changes(ids, old, now)
    if touched:
        notes.append(f'{label_dir}: {len(touched)} of {len(ids)} frames have files modified '
                     f'since labelling, with the same sizes (first: {touched[0][0]!r}); copied '
                     'data lose mtimes, edited data would need new labels')
    return notes
