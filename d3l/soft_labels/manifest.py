"""The manifest of a label directory: what produced the labels, for which frames.

``manifest.json`` keys:

``format_version``   storage format (see :mod:`d3l.soft_labels.shards`)
``teacher``          the teacher's config, its checkpoint path and sha256, temperature
``num_classes``      teacher classes C; ``class_names`` their names
``codec``            ``SoftLabelCodec`` settings (``topk``, ``prob_dtype``)
``stride``           label grid stride in pixels
``panorama``         how panoramas were fed to the teacher
``source``           the RGB-D dataset that was labelled: ``type``, resolved
                     ``data_root``, ``config`` (format 2; format 1 held the config)
``frame_ids``        every frame of the source, in order (shard ``i`` holds
                     frames ``[i * shard_size, (i + 1) * shard_size)``)
``source_files``     per frame, size and mtime of each of its files (see
                     :mod:`d3l.soft_labels.source`)
``shard_size``       frames per shard; ``num_shards``
``shards``           ``{file: {'sha256', 'bytes', 'frames', 'failed'}}`` of the
                     written shards (filled when generation finishes; ``sha256`` of
                     the table, which records its rows' digests; ``bytes`` of all
                     three files)
``counts``           ``{'frames', 'labelled', 'failed'}`` once generation finished
``failed``           ``[[frame_id, reason], ...]`` frames that could not be labelled
``complete``         whether every shard is written
``normals``          only in stores with normals (opt-in): their ``settings``,
                     ``encoding`` and per-shard file digests (see
                     :mod:`d3l.soft_labels.normals`)
``created`` / ``finished`` / ``d3l_version``
"""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional

from d3l.utils import fileio
from d3l.utils.errors import D3LError

#: 3: label rows in .npy files beside each shard's table (2: inside the .npz)
FORMAT_VERSION = 3
MANIFEST_NAME = 'manifest.json'

#: manifest keys that must agree for ``--resume`` to continue a directory
IDENTITY_KEYS = ('format_version', 'teacher', 'num_classes', 'codec', 'stride', 'panorama',
                 'frame_ids', 'shard_size')


class LabelStoreError(D3LError, RuntimeError):
    """A label directory, manifest or shard is missing, corrupt or does not
    match what the caller expects."""


def now_iso() -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%S')


def write_json_atomic(path: str, payload: dict) -> None:
    """The manifest's format (indent 1), fsync'd: :func:`d3l.utils.fileio.write_json`.
    Kept importable for callers of the old name."""
    fileio.write_json(path, payload, indent=1, fsync=True)


def make_manifest(*, teacher: Dict[str, Any], num_classes: int, class_names: List[str],
                  codec: Dict[str, Any], stride: int, panorama: Dict[str, Any],
                  source: Dict[str, Any], frame_ids: List[str], shard_size: int,
                  num_shards: int, source_files: Optional[List[str]] = None) -> dict:
    """A manifest for a generation that is about to start."""
    from d3l.version import __version__

    return {
        'format_version': FORMAT_VERSION,
        'teacher': teacher,
        'num_classes': int(num_classes),
        'class_names': list(class_names),
        'codec': codec,
        'stride': int(stride),
        'panorama': panorama,
        'source': source,
        'frame_ids': list(frame_ids),
        **({} if source_files is None else {'source_files': list(source_files)}),
        'shard_size': int(shard_size),
        'num_shards': int(num_shards),
        'shards': {},
        'counts': None,
        'failed': [],
        'complete': False,
        'created': now_iso(),
        'd3l_version': __version__,
    }


def _canonical(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def manifest_differences(old: dict, new: dict) -> List[str]:
    """Identity keys on which two manifests disagree (``--resume`` refuses
    to mix labels of different teachers, codecs, frame lists or sources).

    ``'source'`` is listed when the source's type, root or files differ
    (:func:`d3l.soft_labels.source.source_differences` says how) and both
    manifests describe their source (``source_files``)."""
    differences = [key for key in IDENTITY_KEYS
                   if _canonical(old.get(key)) != _canonical(new.get(key))]
    if 'source_files' in new or 'source_files' in old:
        from .source import source_differences
        if source_differences(old, new):
            differences.append('source')
    return differences


def read_manifest(label_dir: str) -> dict:
    """Load and check ``label_dir/manifest.json``."""
    path = osp.join(label_dir, MANIFEST_NAME)
    if not osp.isfile(path):
        raise LabelStoreError(f'{label_dir} is not a label directory: {MANIFEST_NAME} is missing '
                              '(generate labels with tools/generate_pseudo_labels.py)')
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise LabelStoreError(f'manifest {path} is unreadable: {err}') from None
    for key in ('format_version', 'frame_ids', 'num_classes', 'shard_size', 'codec'):
        if key not in manifest:
            raise LabelStoreError(f'manifest {path} has no {key!r}')
    if manifest['format_version'] > FORMAT_VERSION:
        raise LabelStoreError(f'manifest {path} has format {manifest["format_version"]}; this d3l '
                              f'reads up to {FORMAT_VERSION}')
    if manifest['format_version'] < FORMAT_VERSION:
        raise LabelStoreError(
            f'manifest {path} has storage format {manifest["format_version"]}, whose shards keep '
            f'the label rows inside the .npz; this d3l reads format {FORMAT_VERSION} (rows in '
            '.npy files beside each shard) only: regenerate the labels with '
            'tools/generate_pseudo_labels.py into a new --out')
    return manifest


def write_manifest(label_dir: str, manifest: dict) -> str:
    os.makedirs(label_dir, exist_ok=True)
    path = osp.join(label_dir, MANIFEST_NAME)
    write_json_atomic(path, manifest)
    return path
