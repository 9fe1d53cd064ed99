"""Atomic file and folder writes: one implementation for every writer of d3l.

A reader (a dataloader worker, a resumed run, a second rank) must never see
a half-written file under its final name. Every writer here writes to a
temporary name in the *same* directory (so the final ``os.replace`` is a
rename on one filesystem, atomic on POSIX) and renames it into place only
when the write succeeded; on an error the temporary is removed and the
previous file, if any, is left as it was.

Temporary names are ``<path>.tmp-<pid>`` for files (a killed run leaves
``*.tmp-*`` files that :mod:`d3l.soft_labels.session` deletes on resume)
and ``.<name>.tmp-<pid>`` for folders (hidden, so that loaders listing a
split's scene folders do not pick up one being written).

``fsync=True`` flushes the data to disk before the rename, for files whose
loss after a power cut would be silent (manifests, checksums, label shards);
the others skip it, as fsync costs milliseconds per file.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional

import numpy as np

__all__ = ['tmp_path_for', 'atomic_path', 'atomic_open', 'write_bytes', 'write_text',
           'write_json', 'save_npy', 'atomic_dir']


def tmp_path_for(path: str, suffix: str = '') -> str:
    """The temporary name a write of ``path`` goes through."""
    return f'{path}.tmp-{os.getpid()}{suffix}'


def _make_parent(path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_path(path: str, suffix: str = '', makedirs: bool = True) -> Iterator[str]:
    """Yield a temporary file name; on a clean exit rename it onto ``path``.

    For writers that take a file name (``torch.save``, ``fig.savefig``):
    ``suffix`` keeps an extension those infer the format from, e.g.
    ``'.png'``. The writer must have closed the file when the block ends.
    """
    if makedirs:
        _make_parent(path)
    tmp = tmp_path_for(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        _remove(tmp)


@contextmanager
def atomic_open(path: str, mode: str = 'w', *, encoding: Optional[str] = 'utf-8',
                newline: Optional[str] = None, fsync: bool = False,
                makedirs: bool = True) -> Iterator[IO]:
    """``open(path, mode)`` that lands in ``path`` only when the block
    exits cleanly (``mode``: ``'w'`` or ``'wb'``)."""
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_open({path}): mode must be "w" or "wb", got {mode!r}')
    text = {} if 'b' in mode else dict(encoding=encoding, newline=newline)
    with atomic_path(path, makedirs=makedirs) as tmp:
        with open(tmp, mode, **text) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())


def write_bytes(path: str, data: bytes, *, fsync: bool = False) -> str:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, 'wb', fsync=fsync) as f:
        f.write(data)
    return path


def write_text(path: str, text: str, *, encoding: str = 'utf-8', fsync: bool = False) -> str:
    """Write ``text`` to ``path`` atomically (no newline translation added
    beyond the platform's); returns ``path``."""
    with atomic_open(path, 'w', encoding=encoding, fsync=fsync) as f:
        f.write(text)
    return path


def write_json(path: str, obj: Any, *, indent: Optional[int] = 2, sort_keys: bool = False,
               fsync: bool = False) -> str:
    """``json.dump(obj)`` to ``path`` atomically; returns ``path``. An
    object JSON cannot encode raises before anything replaces ``path``."""
    with atomic_open(path, 'w', fsync=fsync) as f:
        json.dump(obj, f, indent=indent, sort_keys=sort_keys)
    return path


def save_npy(path: str, array: np.ndarray, *, fsync: bool = False) -> str:
    """``np.save`` to exactly ``path`` atomically (through a file object, so
    numpy appends no ``.npy`` to the temporary name); returns ``path``."""
    with atomic_open(path, 'wb', fsync=fsync) as f:
        np.save(f, array)
    return path


@contextmanager
def atomic_dir(path: str, overwrite: bool = True) -> Iterator[str]:
    """Yield an empty temporary folder beside ``path``; on a clean exit it
    becomes ``path`` (an existing ``path`` is deleted first when
    ``overwrite``, else :class:`FileExistsError`). On an error the temporary
    folder is deleted and ``path`` is untouched."""
    path = path.rstrip(os.sep) or path
    parent, name = osp.split(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = osp.join(parent, f'.{name}.tmp-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)  # a stale one of an earlier run of this pid
    os.makedirs(tmp)
    try:
        yield tmp
        if osp.lexists(path):
            if not overwrite:
                raise FileExistsError(f'{path} exists (atomic_dir with overwrite=False)')
            if osp.isdir(path) and not osp.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
