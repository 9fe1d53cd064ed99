"""Whole-file checks of a label directory (``--verify`` and ``--resume``).

A shard is *good* when the sha256 of its table equals the one recorded for
it (the manifest's ``shards`` entry of a finished generation, else the
``.sha256`` file its writer left), its row files have the sha256 the table
records, its frame table is the manifest's slice, and every
frame's rows match their CRC-32 and decode (class indices < C, finite
probabilities in [0, 1]), and, when the manifest records normals, the
shard's normals files have their recorded sha256 and match it. That reads
every byte, so it is done by
``--verify`` and on ``--resume`` (each rank for its own shards), not each
time a dataset opens the directory.
"""
from __future__ import annotations

import os.path as osp
from typing import Dict, List, Optional, Tuple

from .codec import SoftLabelCodec, SoftLabelError
from .layout import (
    ROW_MEMBERS,
    SHARD_PATTERN,
    expected_checksum,
    file_sha256,
    list_shards,
    plan_shards,
    row_path,
    shard_path,
)
from .lock import read_lock
from .manifest import LabelStoreError, read_manifest
from .normals import check_shard_normals
from .store import ShardFile


def check_shard(label_dir: str, manifest: dict, index: int) -> Optional[str]:
    """``None`` when shard ``index`` is good, else why it is not."""
    path = shard_path(label_dir, index)
    if not osp.isfile(path):
        return 'missing'
    expected = expected_checksum(label_dir, manifest, index)
    if expected is None:
        return 'no checksum recorded (neither in the manifest nor a .sha256 file)'
    actual = file_sha256(path)
    if actual != expected:
        return f'sha256 {actual[:16]}... differs from the recorded {expected[:16]}...'
    try:
        shard = ShardFile(path, verify=True)
        reason = _row_files_differ(shard)
        if reason is not None:
            return reason
        shard.check_plan(manifest, index)
        check_rows(shard, int(manifest['num_classes']))
        return check_shard_normals(shard, manifest)
    except LabelStoreError as err:
        return str(err)


def _row_files_differ(shard: ShardFile) -> Optional[str]:
    for member, expected in zip(ROW_MEMBERS, shard.row_sha256):
        rows = row_path(shard.path, member)
        if not osp.isfile(rows):
            return f'row file {osp.basename(rows)} is missing'
        actual = file_sha256(rows)
        if actual != expected:
            return (f'sha256 {actual[:16]}... of row file {osp.basename(rows)} differs from the '
                    f'{expected[:16]}... its table records')
    return None


def check_rows(shard: ShardFile, num_classes: int) -> None:
    """Every frame's CRC-32 and decodability; :class:`LabelStoreError`."""
    indices, probs = shard._arrays()
    for i, frame_id in enumerate(shard.frame_ids):
        shard.check_frame(i)
        start, stop = int(shard.row_offsets[i]), int(shard.row_offsets[i + 1])
        encoded = {'indices': indices[start:stop], 'probs': probs[start:stop]}
        try:
            SoftLabelCodec.check_stored(SoftLabelCodec.stored_indices(encoded),
                                        SoftLabelCodec.stored_probs(encoded), num_classes)
        except SoftLabelError as err:
            raise LabelStoreError(f'shard {shard.path}, frame {frame_id!r}: {err}') from None


def verify_store(label_dir: str) -> Dict[str, object]:
    """Check every shard of ``label_dir``.

    Returns ``{'shards': N, 'good': [names], 'bad': [(name, reason)],
    'missing': [names], 'extra': [paths], 'complete': bool, 'lock': owner
    or None}``; a manifest that cannot be read raises
    :class:`LabelStoreError`.
    """
    manifest = read_manifest(label_dir)
    expected = len(plan_shards(len(manifest['frame_ids']), int(manifest['shard_size'])))
    present = list_shards(label_dir)
    good: List[str] = []
    bad: List[Tuple[str, str]] = []
    missing: List[str] = []
    for index in range(expected):
        name = SHARD_PATTERN.format(index)
        if index not in present:
            missing.append(name)
            continue
        reason = check_shard(label_dir, manifest, index)
        if reason is None:
            good.append(name)
        else:
            bad.append((name, reason))
    extra = [path for index, path in present.items() if index >= expected]
    return {'shards': expected, 'good': good, 'bad': bad, 'missing': missing, 'extra': extra,
            'complete': bool(manifest.get('complete')), 'lock': read_lock(label_dir),
            'format_version': manifest.get('format_version')}
