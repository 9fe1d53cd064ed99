"""Weights shipped inside the d3l package (docs/model_zoo.md).

Each :class:`ZooEntry` names a config and a checkpoint that live next to
this file, so an installed d3l needs no download::

    from d3l.model_zoo import SYNTHETIC_DPT, zoo_checkpoint
    from d3l.teachers import MMSegTeacher
    teacher = MMSegTeacher(SYNTHETIC_DPT.config, zoo_checkpoint('synthetic_dpt'), scale=None)

:func:`zoo_checkpoint` checks the file's sha256 against the entry's before
handing out its path; a file that differs (a partial copy, a Git LFS
pointer, a retrained file without an updated entry) is a
:class:`ZooChecksumError`.
"""
from __future__ import annotations

import hashlib
import os.path as osp
from dataclasses import dataclass
from typing import Dict

from d3l.utils.errors import D3LError

ZOO_DIR = osp.dirname(osp.abspath(__file__))


class ZooChecksumError(D3LError, RuntimeError):
    """A shipped checkpoint is missing or its sha256 is not the recorded one."""


@dataclass(frozen=True)
class ZooEntry:
    name: str
    config_file: str       # file name next to this module (an mmseg-scoped config)
    checkpoint_file: str   # file name next to this module
    sha256: str
    description: str = ''

    @property
    def config(self) -> str:
        return osp.join(ZOO_DIR, self.config_file)

    @property
    def checkpoint(self) -> str:
        """The path, unchecked (use :func:`zoo_checkpoint` to verify it)."""
        return osp.join(ZOO_DIR, self.checkpoint_file)


#: the demo's default 2D teacher: a small DPT-Hybrid trained once on the teacher
#: corpus (synthetic photos and panorama crops of world seeds >= 1000)
SYNTHETIC_DPT = ZooEntry(
    name='synthetic_dpt',
    config_file='dpt-hybrid_synthetic-corpus.py',
    checkpoint_file='dpt-hybrid_synthetic-corpus.pth',
    sha256='a7393f700b30c0aeb65bd85a46167fb245ef46959605884703a0f6302a87fb6c',
    description='DPT-Hybrid (conv stem + 4-layer ViT, 1.3M parameters), 30 ADE20K-like '
                'classes of d3l.benchmark.world, trained from scratch on the teacher corpus')

ZOO: Dict[str, ZooEntry] = {e.name: e for e in (SYNTHETIC_DPT,)}


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def get_entry(name: str) -> ZooEntry:
    if name not in ZOO:
        raise KeyError(f'unknown model zoo entry {name!r}; shipped: {sorted(ZOO)}')
    return ZOO[name]


def zoo_checkpoint(name: str) -> str:
    """Path of entry ``name``'s checkpoint after checking its sha256."""
    entry = get_entry(name)
    path = entry.checkpoint
    if not osp.isfile(path):
        raise ZooChecksumError(f'model zoo {name}: checkpoint {path} is missing (a d3l install '
                               'without package data?)')
    actual = file_sha256(path)
    if actual != entry.sha256:
        raise ZooChecksumError(
            f'model zoo {name}: checkpoint {path} has sha256 {actual}, not the recorded '
            f'{entry.sha256} (a damaged or partial copy, a Git LFS pointer, or weights '
            'retrained without updating d3l/model_zoo and docs/model_zoo.md)')
    return path


def zoo_config(name: str) -> str:
    """Path of entry ``name``'s config."""
    return get_entry(name).config


__all__ = ['ZooEntry', 'ZooChecksumError', 'SYNTHETIC_DPT', 'ZOO', 'ZOO_DIR', 'get_entry',
           'zoo_checkpoint', 'zoo_config', 'file_sha256']
